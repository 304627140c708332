#!/usr/bin/env python3
"""The paper's comparison on this machine: `adapterbias compare` with the packaged MiniLM on SST-2, MRPC, STS-B
and RTE (training subsets, full dev sets), every method over 3 seeds, then docs/comparison.md (tables, the
exact commands, the L0 rows) and docs/comparison/<task>.svg (dev metric against trainable parameters).

  python3 scripts/compare_runs.py [--tasks sst-2,rte] [--lanes 2] [--doc-only]

Each task is one `compare --resume` (runs already finished with the same arguments are kept), so an
interrupted run continues where it stopped. --lanes tasks run at once, each run on one thread.
"""
import argparse
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METHODS = "adapterbias,adapterbias-shared,bitfit,houlsby,lora,full,head"
L0 = ["--l0", "1", "--l0-gate-lr-scale", "30"]  # docs/l0.md: gates fast enough to close within ~200 steps

# task: (training examples, batch size, extra compare arguments). Batch 8 on the small subsets gives ~375 steps;
# with batch 32 the 1,000-example runs stayed at the majority class (MRPC) and near zero correlation (STS-B).
TASKS = {
    "sst-2": (2000, 32, ["--methods", METHODS + ",adapterbias-l0", *L0]),
    "mrpc": (1000, 8, ["--methods", METHODS]),
    "sts-b": (1000, 8, ["--methods", METHODS]),
    "rte": (600, 8, ["--methods", METHODS + ",adapterbias-l0", *L0]),
}
TRAIN_ROWS = {"sst-2": 67349, "mrpc": 3668, "sts-b": 5749, "rte": 2490}
DEV_ROWS = {"sst-2": 872, "mrpc": 408, "sts-b": 1500, "rte": 277}


def command(task, glue, out):
    n, batch, extra = TASKS[task]
    return ["compare", "--model", "minilm", "--task", task, "--data", glue, "--seeds", "3",
            "--max-train-examples", str(n), "--epochs", "3", "--batch-size", str(batch), "--threads", "1",
            "--jobs", "1", "--resume", *extra, "--out", str(Path(out) / task)]


def shown(cmd, glue):
    return " ".join(["adapterbias", *cmd]).replace(glue, "../shared/data/glue").replace(str(REPO) + "/", "")


def run(task, args):
    cmd = command(task, args.glue, args.out)
    log = REPO / args.out / f"{task}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print("$", shown(cmd, args.glue), flush=True)
    with open(log, "w") as err, open(REPO / args.out / f"{task}.out", "w") as out:
        if subprocess.run([args.bin, *cmd], stdout=out, stderr=err, cwd=REPO).returncode != 0:
            raise SystemExit(f"compare on {task} failed; see {log}")


def nonzero_saved(method_dir):
    """Mean over seeds of the non-zero elements of an adapter's method tensors (all but the head)."""
    from safetensors.torch import load_file
    counts = [sum(int(t.count_nonzero()) for name, t in load_file(str(f)).items() if not name.startswith("classifier."))
              for f in sorted(method_dir.glob("seed-*/adapter.safetensors"))]
    return round(sum(counts) / len(counts))


def fmt_int(n):
    return f"{n:,}"


def write_doc(args):
    docs = REPO / "docs"
    (docs / "comparison").mkdir(exist_ok=True)
    tables = {}
    for task in TASKS:
        path = REPO / args.out / task / "compare.json"
        if path.exists():
            tables[task] = json.loads(path.read_text())
            shutil.copy(path.with_suffix(".svg"), docs / "comparison" / f"{task}.svg")
    runs = sum(len(r["dev_scores"]) for t in tables.values() for r in t["rows"])
    hours = sum(r["train_seconds_mean"] * len(r["dev_scores"]) for t in tables.values() for r in t["rows"]) / 3600
    lines = ["# AdapterBias beside the other methods: MiniLM-L6 on four GLUE tasks (CPU)", "",
             f"Made by `python3 scripts/compare_runs.py` ({runs} training runs, {hours:.1f} hours in their training "
             "loops, one thread each, two runs at a time on 2 cores). Every "
             "method is trained by the same `adapterbias train` (AdamW, linear decay, no warmup, max length 128, "
             "3 epochs, seeds 42, 43, 44) on the packaged all-MiniLM-L6-v2 and scored on the **full GLUE dev set**. "
             "Training uses the first N rows of each train set (2 cores do not allow more); small subsets make every "
             "method weaker than on full data, and RTE with 600 rows stays near chance for all of them. Learning "
             "rates: 2e-5 for `full`, 1e-3 for the others (`compare --lr METHOD=VALUE` changes them). Times, "
             "tokens/s and memory were measured with two runs sharing the machine's 2 cores.", "",
             "| task | train rows used | dev rows | metric | batch |", "|---|---:|---:|---|---:|"]
    for task, t in tables.items():
        lines.append(f"| {task.upper()} | {TASKS[task][0]:,} of {TRAIN_ROWS[task]:,} | {DEV_ROWS[task]:,} | "
                     f"{t['rows'][0]['dev_metric']} | {TASKS[task][1]} |")
    lines += ["", "## Dev metric (mean ± std over 3 seeds)", "",
              "| method | trainable params | % of backbone | " + " | ".join(t.upper() for t in tables) + " |",
              "|---|---:|---:|" + "---:|" * len(tables)]
    methods = []
    for t in tables.values():
        methods += [r["method"] for r in t["rows"] if r["method"] not in methods]
    for m in methods:
        cells, first = [], None
        for t in tables.values():
            row = next((r for r in t["rows"] if r["method"] == m), None)
            first = first or row
            cells.append(f"{row['dev_mean']:.4f} ± {row['dev_std']:.4f}" if row else "")
        lines.append(f"| {m} | {fmt_int(first['trainable_parameters'])} | {first['trainable_percent']:.3f} | "
                     + " | ".join(cells) + " |")
    lines += ["", "`trainable params` counts what the optimiser updates, for a two-class task, the head "
              "(`Linear(384 -> labels)`) included, so `full` is slightly over 100 % of the backbone. For "
              "`adapterbias-l0` it includes the gates' log_alpha, which the saved adapter drops; its non-zero saved "
              "parameters are in the task tables.", ""]
    for task, t in tables.items():
        cmd = command(task, "../shared/data/glue", "runs/compare")
        lines += [f"## {task.upper()}", "", "```", shown(cmd, "../shared/data/glue"), "```", "",
                  f"![dev {t['rows'][0]['dev_metric']} against trainable parameters](comparison/{task}.svg)", "",
                  "| method | lr | trainable params | non-zero saved | adapter bytes | dev " + t["rows"][0]["dev_metric"]
                  + " (seeds 42, 43, 44) | mean ± std | train s | tokens/s | peak RSS MB |",
                  "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
        for r in t["rows"]:
            nz = fmt_int(r["nonzero_parameters"]) if r.get("nonzero_parameters") is not None else ""
            scores = ", ".join(f"{s:.4f}" for s in r["dev_scores"])
            lines.append(f"| {r['method']} | {r['lr']:g} | {fmt_int(r['trainable_parameters'])} | {nz} | "
                         f"{fmt_int(r['adapter_bytes'])} | {scores} | {r['dev_mean']:.4f} ± {r['dev_std']:.4f} | "
                         f"{r['train_seconds_mean']:.0f} | {r['train_tokens_per_s_mean']:.0f} | {r['peak_rss_mb']:.0f} |")
        lines.append("")
    l0_tasks = [task for task, t in tables.items() if any(r["method"] == "adapterbias-l0" for r in t["rows"])]
    if l0_tasks:
        lines += ["## L0-sparsified AdapterBias beside plain AdapterBias", "",
                  "`adapterbias-l0` with `--l0 1 --l0-gate-lr-scale 30` (design and options: `l0.md`). Non-zero "
                  "counts are over the saved method tensors (v, L_alpha, the LayerNorms; mean over seeds), which "
                  "the adapter file stores sparse; adapter bytes: the largest of the seeds.", "",
                  "| task | method | non-zero saved params | adapter bytes | dev metric (mean ± std) |",
                  "|---|---|---:|---:|---:|"]
        for task in l0_tasks:
            for r in tables[task]["rows"]:
                if r["method"] == "adapterbias":
                    nz = fmt_int(nonzero_saved(REPO / args.out / task / "adapterbias"))
                elif r["method"] == "adapterbias-l0":
                    nz = fmt_int(r["nonzero_parameters"])
                else:
                    continue
                lines.append(f"| {task.upper()} | {r['method']} | {nz} | {fmt_int(r['adapter_bytes'])} | "
                             f"{r['dev_mean']:.4f} ± {r['dev_std']:.4f} |")
        lines.append("")
    (docs / "comparison.md").write_text("\n".join(lines))
    print(f"wrote {docs / 'comparison.md'}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # Relative to the repository (the commands run there): --resume compares the runs' arguments, paths included.
    p.add_argument("--glue", default="../shared/data/glue")
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--out", default="runs/compare")
    p.add_argument("--bin", default=str(REPO / "build" / "src" / "adapterbias"))
    p.add_argument("--lanes", type=int, default=2, help="tasks at once")
    p.add_argument("--doc-only", action="store_true", help="only rewrite the docs from finished compare runs")
    args = p.parse_args()
    if not args.doc_only:
        with ThreadPoolExecutor(args.lanes) as pool:
            list(pool.map(lambda task: run(task, args), args.tasks.split(",")))
    write_doc(args)


if __name__ == "__main__":
    main()
