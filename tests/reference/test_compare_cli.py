"""`adapterbias compare` on a tiny run: three methods, two seeds, a few steps each. Checks the table's numbers
against what the runs wrote (trainable counts from each method's definition, adapter bytes, mean and std of
the seeds' dev scores), the Markdown and SVG outputs, the learning-rate overrides and grids, several tasks with
their summary, --resume and --report."""
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
    assert [t["task"] for t in table["tasks"]] == ["SST-2"] and "summary" not in table
    assert table["tasks"] == [json.loads((out / "SST-2" / "compare.json").read_text())]
    task_rows = table["tasks"][0]["rows"]
    rows = {r["method"]: r for r in task_rows}
    assert [r["method"] for r in task_rows] == ["head", "bitfit", "lora"]

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
        runs = [out / "SST-2" / method / f"lr-{row['lr']:g}" / f"seed-{s}" for s in (42, 43)]
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
    assert all(r["lr_grid"] == [] for r in task_rows)

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
    table = json.loads((parallel / "compare.json").read_text())["tasks"][0]
    seeded = ("method", "trainable_parameters", "adapter_bytes", "nonzero_parameters", "dev_scores")
    assert [{k: r[k] for k in seeded} for r in table["rows"]] == \
        [{k: r[k] for k in seeded} for r in json.loads((serial / "compare.json").read_text())["tasks"][0]["rows"]]

    rows = {r["method"]: r for r in table["rows"]}
    assert rows["adapterbias"]["nonzero_parameters"] is None
    nonzero = []
    for seed in (42, 43):
        run = parallel / "SST-2" / "adapterbias-l0" / "lr-0.001" / f"seed-{seed}"
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

    before = {p: p.stat().st_mtime_ns for p in parallel.glob("SST-2/*/lr-*/seed-*/adapter.safetensors")}
    assert len(before) == 4
    proc = compare(parallel, "--seeds", 3, "--jobs", 2, "--resume")
    assert proc.stderr.count("reusing") == 4
    assert {p: p.stat().st_mtime_ns for p in before} == before
    rows = {r["method"]: r for r in json.loads((parallel / "compare.json").read_text())["tasks"][0]["rows"]}
    assert [len(r["dev_scores"]) for r in rows.values()] == [3, 3]
    assert rows["adapterbias"]["dev_scores"][:2] == table["rows"][0]["dev_scores"]

    # Without --resume or --overwrite an earlier comparison stays as it is.
    proc = run_cli("compare", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out", parallel,
                   "--methods", "adapterbias", "--epochs", 1, check=False)
    assert proc.returncode == 3 and "holds an earlier comparison" in proc.stderr and "--overwrite" in proc.stderr
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_compare_lr_grid_tasks_summary_and_report(tmp_path, tiny_dir):
    """--lr-grid trains each value on the first seed and the other seeds at the best one; several tasks get a
    summary row per method (mean over tasks, seed spread of that mean); --report tabulates finished runs only
    and trains nothing; per-task batch sizes and training subsets reach the runs."""
    write_task(tmp_path / "glue", "SST-2", 24, seed=5)
    write_task(tmp_path / "glue", "RTE", 16, seed=6)
    out = tmp_path / "cmp"

    def compare(*extra, check=True):
        return run_cli("compare", "--model", tiny_dir, "--task", "SST-2,RTE", "--data", tmp_path / "glue", "--out",
                       out, "--methods", "head,bitfit", "--seeds", 2, "--epochs", 1, "--batch-size", "8,RTE=4",
                       "--max-train-examples", "SST-2=16", "--threads", 1, "--lr-grid", "bitfit=1e-4,3e-3,1e-2",
                       *extra, check=check)

    compare()
    table = json.loads((out / "compare.json").read_text())
    assert [t["task"] for t in table["tasks"]] == ["SST-2", "RTE"]
    assert [(t["batch_size"], t["max_train_examples"]) for t in table["tasks"]] == [(8, 16), (4, -1)]
    for t in table["tasks"]:
        rows = {r["method"]: r for r in t["rows"]}
        grid = rows["bitfit"]["lr_grid"]
        assert [g["lr"] for g in grid] == [1e-4, 3e-3, 1e-2]
        for g in grid:
            run = out / t["task"] / "bitfit" / f"lr-{g['lr']:g}" / "seed-42"
            assert g["dev"] == json.loads((run / "summary.json").read_text())["dev_primary"]
            train_args = json.loads((run / "args.json").read_text())
            assert train_args[train_args.index("--batch-size") + 1] == str(t["batch_size"])
        best = max(grid, key=lambda g: g["dev"])["dev"]
        chosen = next(g["lr"] for g in grid if g["dev"] == best)  # ties: the earlier value
        assert rows["bitfit"]["lr"] == chosen and rows["bitfit"]["dev_scores"][0] == best
        # Only the chosen value ran the second seed.
        assert sorted(p.parent.name for p in (out / t["task"] / "bitfit").glob("lr-*/seed-43")) == [f"lr-{chosen:g}"]
        assert rows["head"]["lr_grid"] == [] and len(rows["head"]["dev_scores"]) == 2
    md = (out / "compare.md").read_text()
    assert md.startswith("# ") and "mean over SST-2, RTE" in md and "lr grid (dev, first seed)" in md
    summary = {r["method"]: r for r in table["summary"]}
    for method in ("head", "bitfit"):
        per_task = [next(r for r in t["rows"] if r["method"] == method) for t in table["tasks"]]
        seed_means = [statistics.mean(r["dev_scores"][k] for r in per_task) for k in range(2)]
        assert summary[method]["dev_mean"] == pytest.approx(statistics.mean(r["dev_mean"] for r in per_task))
        assert summary[method]["dev_scores"] == pytest.approx(seed_means)
        assert summary[method]["dev_std"] == pytest.approx(statistics.stdev(seed_means))
        assert summary[method]["train_seconds_mean"] == pytest.approx(sum(r["train_seconds_mean"] for r in per_task))
        assert summary[method]["trainable_parameters"] == max(r["trainable_parameters"] for r in per_task)
    assert len([e for e in ET.parse(out / "compare.svg").getroot().iter() if e.tag.endswith("circle")]) == 2

    # --report after losing RTE's bitfit runs at the chosen value: RTE keeps its head row only, the summary
    # only methods finished on every task, and nothing trains.
    rte = next(t for t in table["tasks"] if t["task"] == "RTE")
    chosen = next(r for r in rte["rows"] if r["method"] == "bitfit")["lr"]
    (out / "RTE" / "bitfit" / f"lr-{chosen:g}" / "seed-43" / "args.json").unlink()
    proc = compare("--report")
    assert "..." not in proc.stderr and not (out / "RTE" / "bitfit" / f"lr-{chosen:g}" / "seed-43" / "args.json").exists()
    partial = json.loads((out / "compare.json").read_text())
    rte_rows = {r["method"]: r for r in partial["tasks"][1]["rows"]}
    assert len(rte_rows["bitfit"]["dev_scores"]) == 1 and "(1 of 2 seeds)" in (out / "RTE" / "compare.md").read_text()
    assert [r["method"] for r in partial["summary"]] == ["head", "bitfit"]
    (out / "RTE" / "bitfit" / "lr-0.0001" / "seed-42" / "args.json").unlink()  # the grid itself incomplete
    partial = json.loads((compare("--report"), out / "compare.json")[1].read_text())
    assert [r["method"] for r in partial["tasks"][1]["rows"]] == ["head"]
    assert [r["method"] for r in partial["summary"]] == ["head"]


def test_compare_rejects_bad_grids_tasks_and_poolings(tmp_path, tiny_dir):
    write_task(tmp_path / "glue", "SST-2", 8, seed=5)

    def compare(*extra):
        return run_cli("compare", "--model", tiny_dir, "--data", tmp_path / "glue", "--out", tmp_path / "cmp", *extra,
                       check=False)

    for extra, message in [
            (("--task", "SST-2", "--methods", "bitfit", "--lr-grid", "bitfit=1e-3,x"), "'x' is not a number"),
            (("--task", "SST-2", "--methods", "bitfit", "--lr-grid", "bitfit=1e-3,1e-3"), "0.001 is given twice"),
            (("--task", "SST-2", "--methods", "bitfit", "--lr-grid", "lora=1e-3"), "'lora' is not among --methods"),
            (("--task", "SST-2", "--methods", "bitfit", "--lr", "bitfit=1e-3", "--lr-grid", "bitfit=1e-3,2e-3"),
             "not both"),
            (("--task", "SST-2,../x", "--methods", "bitfit"), "../x"),
            (("--task", "SST-2", "--methods", "head:max"), "unknown pooling 'max'"),
            (("--task", "SST-2", "--methods", "bitfit", "--lr-grid", "bitfit=1e-3,-1e-3"), "is not positive"),
            (("--task", "SST-2,SST-2", "--methods", "bitfit"), "'SST-2' is given twice"),
            (("--task", "SST-2", "--methods", "bitfit,head,bitfit"), "'bitfit' is given twice"),
            (("--task", "SST-2", "--methods", "bitfit", "--batch-size", "RTE=4"), "'RTE' is not among --task"),
            (("--task", "SST-2", "--methods", "bitfit", "--max-train-examples", "SST-2=0"), "positive count")]:
        proc = compare(*extra)
        assert proc.returncode == 3, (extra, proc.stderr)
        assert message in proc.stderr, (extra, proc.stderr)
        assert not (tmp_path / "cmp").exists()
