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


def test_compare_refuses_unknown_methods_before_writing(tmp_path, tiny_dir):
    # Each method names a folder of runs: a name that is not a registered method (here a path) writes nothing.
    write_task(tmp_path / "glue", "SST-2", 8, seed=5)
    proc = run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out",
                   tmp_path / "cmp", "--methods", "head,../../escaped", check=False)
    assert proc.returncode == 3
    assert "unknown method '../../escaped'" in proc.stderr
    assert not (tmp_path / "cmp").exists() and not (tmp_path.parent / "escaped").exists()


def test_compare_parallel_resume_and_l0(tmp_path, tiny_dir):
    """--jobs 2 gives the runs --jobs 1 gives (each run is seeded), --resume keeps finished runs and only adds the
    missing seed, and adapterbias-l0 rows report the non-zero parameters its sparse adapter files hold. The gates
    start just open (log_alpha -2.3; eval gates close below about -2.4), so the penalty closes some in two steps."""
    write_task(tmp_path / "glue", "SST-2", 24, seed=5)

    def compare(out, *extra):
        return run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out", out,
                       "--methods", "adapterbias,adapterbias-l0", "--epochs", 1, "--batch-size", 8,
                       "--max-train-examples", 16, "--threads", 1, "--l0", 5, "--l0-init", -2.3,
                       "--l0-gate-lr-scale", 200, *extra)

    parallel, serial = tmp_path / "parallel", tmp_path / "serial"
    compare(parallel, "--seeds", 2, "--jobs", 2)
    compare(serial, "--seeds", 2, "--jobs", 1)
    table = json.loads((parallel / "compare.json").read_text())
    seeded = ("method", "trainable_parameters", "adapter_bytes", "nonzero_parameters", "dev_scores")
    assert [{k: r[k] for k in seeded} for r in table["rows"]] == \
        [{k: r[k] for k in seeded} for r in json.loads((serial / "compare.json").read_text())["rows"]]

    rows = {r["method"]: r for r in table["rows"]}
    assert rows["adapterbias"]["nonzero_parameters"] is None
    nonzero = []
    for seed in (42, 43):
        run = parallel / "adapterbias-l0" / f"seed-{seed}"
        with safe_open(str(run / "adapter.safetensors"), "pt") as f:
            meta = json.loads(f.metadata()["adapterbias"])
            stored = sum(f.get_tensor(k).numel() for k in f.keys() if k.endswith(".nonzero_values"))
            assert not any(k.endswith("adapter_bias.v") for k in f.keys())
        notes = meta["method_notes"]
        assert meta["method"] == "adapterbias" and notes["trained_as"] == "adapterbias-l0"
        assert stored == notes["nonzero_gated_parameters"] < notes["gated_parameters"]
        assert json.loads((run / "summary.json").read_text())["nonzero_parameters"] == notes["nonzero_parameters"]
        nonzero.append(notes["nonzero_parameters"])
    assert rows["adapterbias-l0"]["nonzero_parameters"] == round(statistics.mean(nonzero))
    assert "| non-zero after training |" in (parallel / "compare.md").read_text()

    before = {p: p.stat().st_mtime_ns for p in parallel.glob("*/seed-*/adapter.safetensors")}
    proc = compare(parallel, "--seeds", 3, "--jobs", 2, "--resume")
    assert proc.stderr.count("reusing") == 4
    assert {p: p.stat().st_mtime_ns for p in before} == before
    rows = {r["method"]: r for r in json.loads((parallel / "compare.json").read_text())["rows"]}
    assert [len(r["dev_scores"]) for r in rows.values()] == [3, 3]
    assert rows["adapterbias"]["dev_scores"][:2] == table["rows"][0]["dev_scores"]

    # Without --resume or --overwrite an earlier comparison stays as it is.
    proc = run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out", parallel,
                   "--methods", "adapterbias", "--epochs", 1, check=False)
    assert proc.returncode == 3 and "holds an earlier comparison" in proc.stderr and "--overwrite" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in before} == before
