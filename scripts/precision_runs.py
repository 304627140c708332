#!/usr/bin/env python3
"""Does bf16 training keep AdapterBias's accuracy? SST-2 (first 20,000 train rows, 2 epochs, lr 1e-3, full dev
set), 3 seeds, fp32 against bf16 mixed precision, the same packed batches. Two runs at a time, one thread each.
Writes docs/precision/sst2-runs.json (one record per run) and prints the table that docs/precision.md quotes.

  python3 scripts/precision_runs.py [--seeds 42,43,44] [--rows 20000] [--jobs 2] [--reuse]
"""
import argparse
import json
import statistics
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(args, precision, seed):
    out = Path(args.out) / f"{precision}-seed-{seed}"
    summary_path = out / "summary.json"
    if args.reuse and summary_path.exists():
        return json.loads(summary_path.read_text())
    cmd = [args.bin, "train", "--model", "minilm", "--task", "sst-2", "--data", args.glue, "--out", str(out),
           "--max-train-examples", str(args.rows), "--epochs", "2", "--lr", "1e-3", "--seed", str(seed),
           "--threads", str(args.threads), "--precision", precision, "--overwrite"]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)}\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    summary.update(wall_s=time.time() - start, seed=seed,
                   command=" ".join(["adapterbias", *cmd[1:]]).replace(args.glue, "../shared/data/glue")
                   .replace(str(REPO) + "/", ""))
    summary_path.write_text(json.dumps(summary, indent=2))
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--glue", default=str(REPO.parent / "shared" / "data" / "glue"))
    p.add_argument("--bin", default=str(REPO / "build" / "src" / "adapterbias"))
    p.add_argument("--out", default=str(REPO / "runs" / "precision"))
    p.add_argument("--seeds", default="42,43,44")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--reuse", action="store_true", help="keep runs that already wrote summary.json")
    p.add_argument("--json", default=str(REPO / "docs" / "precision" / "sst2-runs.json"))
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(precision, seed) for seed in seeds for precision in ("fp32", "bf16")]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda job: run(args, *job), jobs))
    keep = ["precision", "seed", "dev_accuracy", "steps", "train_step_seconds", "train_tokens_per_s", "wall_s", "command"]
    records = [{k: r[k] for k in keep} for r in results]
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    print(f"SST-2, first {args.rows:,} train rows, 2 epochs, full dev set; seeds {args.seeds}; {args.threads} thread "
          f"per run, {args.jobs} runs at a time\n")
    print("| precision | dev accuracy (mean ± std) | per seed | training tokens/s (mean) |")
    print("|---|---:|---|---:|")
    means = {}
    for precision in ("fp32", "bf16"):
        rows = [r for r in records if r["precision"] == precision]
        acc = [r["dev_accuracy"] for r in rows]
        means[precision] = statistics.mean(acc)
        print(f"| {precision} | {statistics.mean(acc):.4f} ± {statistics.stdev(acc) if len(acc) > 1 else 0:.4f} | "
              f"{', '.join(f'{a:.4f}' for a in acc)} | {statistics.mean(r['train_tokens_per_s'] for r in rows):,.0f} |")
    print(f"\nbf16 - fp32: {100 * (means['bf16'] - means['fp32']):+.2f} points")


if __name__ == "__main__":
    main()
