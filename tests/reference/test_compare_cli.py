"""`adapterbias compare` on a tiny run: three methods, two seeds, a few steps each. Checks the table's numbers
against what the runs wrote (trainable counts from each method's definition, adapter bytes, mean and std of
the seeds' dev scores), the Markdown and SVG outputs, and the learning-rate overrides."""
import json
import statistics
import xml.etree.ElementTree as ET

import pytest
from safetensors import safe_open
from transformers import BertModel

from conftest import run_cli
from test_adapterbias_parity import tiny_model_dir, write_task


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


def test_compare_tiny(tmp_path, tiny_dir):
    write_task(tmp_path / "glue", "SST-2", 24, seed=5)
    out = tmp_path / "cmp"
    proc = run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out", out,
                   "--methods", "head,bitfit,lora", "--seeds", 2, "--epochs", 1, "--batch-size", 8,
                   "--max-train-examples", 16, "--lr", "lora=5e-4", "--threads", 1)
    table = json.loads((out / "compare.json").read_text())
    rows = {r["method"]: r for r in table["rows"]}
    assert [r["method"] for r in table["rows"]] == ["head", "bitfit", "lora"]

    bert = BertModel.from_pretrained(tiny_dir)
    backbone = sum(p.numel() for p in bert.parameters())
    head = 32 * 2 + 2
    expected = {"head": head,
                "bitfit": head + sum(p.numel() for n, p in bert.named_parameters() if n.endswith(".bias")),
                "lora": head + 2 * 2 * (8 * 32 + 32 * 8)}  # layers x {query, value} x (A + B), r 8
    for method, row in rows.items():
        assert row["trainable_parameters"] == expected[method], method
        assert row["backbone_parameters"] == backbone
        assert row["trainable_percent"] == pytest.approx(100 * expected[method] / backbone)
        runs = [out / method / f"seed-{s}" for s in (42, 43)]
        assert row["adapter_bytes"] == (runs[0] / "adapter.safetensors").stat().st_size
        scores = [json.loads((r / "summary.json").read_text())["dev_accuracy"] for r in runs]
        assert row["dev_scores"] == pytest.approx(scores)
        assert row["dev_mean"] == pytest.approx(statistics.mean(scores))
        assert row["dev_std"] == pytest.approx(statistics.stdev(scores))
        assert row["peak_rss_mb"] > 0 and row["train_seconds_mean"] > 0 and row["train_tokens_per_s_mean"] > 0
        with safe_open(str(runs[0] / "adapter.safetensors"), "pt") as f:
            training = json.loads(f.metadata()["adapterbias"])["training"]
        assert training["lr"] == pytest.approx(row["lr"])
    assert rows["lora"]["lr"] == 5e-4 and rows["head"]["lr"] == 1e-3

    md = (out / "compare.md").read_text()
    assert md == proc.stdout
    for method in rows:
        assert f"| {method} |" in md
    svg = ET.parse(out / "compare.svg").getroot()
    circles = [e for e in svg.iter() if e.tag.endswith("circle")]
    assert len(circles) == 3
    # Log x axis: more trainable parameters, further right.
    xs = [float(c.get("cx")) for c in circles]
    assert xs[0] < xs[1] < xs[2]


def test_compare_rejects_lr_for_a_method_not_compared(tmp_path, tiny_dir):
    write_task(tmp_path / "glue", "SST-2", 8, seed=5)
    proc = run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out",
                   tmp_path / "cmp", "--methods", "head", "--lr", "full=1e-5", check=False)
    assert proc.returncode == 3
    assert "'full' is not among --methods" in proc.stderr
