#!/usr/bin/env python3
"""K tasks on one backbone: adapterbias' mixed-task engine against PEFT's mixed-adapter LoRA batches, on real
rows (SST-2 dev sentences and RTE dev pairs), CPU, one Markdown table; then the memory each loaded task costs.

  python3 bench/multi_task_bench.py --data /work/shared/data/glue --threads 2
  python3 bench/multi_task_bench.py --quick          # smoke run: 96 rows, K = 1 and 8, one repetition

Rows (each with tokens/s over real tokens, best of --repetitions passes, and the ratio to adapterbias K = 1):
  adapterbias mixed     build/bench/multi_task_bench: K copies of one trained AdapterBias adapter (20 steps on
                        SST-2) under K names; every row gets a task uniformly at random; rows of all tasks share
                        the length-sorted batches of --batch-size (packed, fp32);
  adapterbias per-task  the same rows, each task's rows batched on their own (PEFT's way of running a mixed batch);
  adapterbias merged    the adapter folded into the backbone (`merge`), all rows: what K separate merged models
                        would compute (one is loaded);
  PEFT LoRA mixed       transformers BertModel (MiniLM) + PEFT LoRA (r 8 on query, value) with K adapters,
                        `model(**batch, adapter_names=[...])` over the same length-sorted batches padded to their
                        longest row, torch.no_grad, fp32, tokenised before the clock starts.
Memory: the multi_task_bench process's RSS growth while N tasks load, one process per N, and the engine's own count
of the task tensors' bytes."""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def write_rows(args, path):
    rows = [{"text": r["text"]} for r in _peers.read_glue(args.data, "sst-2", "dev", args.rows)]
    rows += [{"text": r["text"], "text_pair": r["text_pair"]} for r in _peers.read_glue(args.data, "rte", "dev", args.rows)]
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return rows


def make_adapter(args, tmp):
    glue = os.path.join(tmp, "glue", "SST-2")
    os.makedirs(glue)
    for split, n in (("train", 640), ("dev", 64)):
        with open(os.path.join(args.data, "SST-2", f"{split}.tsv"), encoding="utf-8") as f:
            lines = f.readlines()[: n + 1]
        with open(os.path.join(glue, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.writelines(lines)
    out = os.path.join(tmp, "adapter")
    _peers.run_child([args.bin, "train", "--model", "minilm", "--task", "sst-2", "--data", os.path.dirname(glue),
                      "--out", out, "--epochs", "1", "--max-steps", "20", "--batch-size", "32", "--lr", "1e-3",
                      "--threads", str(args.threads)])
    return os.path.join(out, "adapter.safetensors")


def peft_row(rows_file, K, batch_size, repetitions, threads):
    """PEFT's mixed LoRA batch at K adapters: tokens/s over the real tokens."""
    import random
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoTokenizer, BertModel
    torch.set_num_threads(threads)
    path = str(_peers.minilm_dir())
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = BertModel.from_pretrained(path, attn_implementation="sdpa")
    config = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])
    model = get_peft_model(model, config, adapter_name="t0")
    for k in range(1, K):
        model.add_adapter(f"t{k}", config)
    model.eval()
    with open(rows_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    rng = random.Random(0)
    tasks = [f"t{rng.randrange(K)}" for _ in rows]
    enc = [tokenizer(r["text"], r.get("text_pair"), truncation=True, max_length=128)["input_ids"] for r in rows]
    order = sorted(range(len(rows)), key=lambda i: (-len(enc[i]), i))
    batches = []
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        batch = tokenizer.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
        batches.append((batch, [tasks[i] for i in idx]))
    tokens = sum(len(e) for e in enc)
    best = float("inf")
    with torch.no_grad():
        for _ in range(repetitions):
            start = time.perf_counter()
            for batch, names in batches:
                model(**batch, adapter_names=names)
            best = min(best, time.perf_counter() - start)
    return {"mode": "peft-lora-mixed", "K": K, "tokens": tokens, "seconds": best, "tokens_per_s": tokens / best}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(REPO, "build", "src", "adapterbias"))
    p.add_argument("--bench-bin", default=os.path.join(REPO, "build", "bench", "multi_task_bench"))
    p.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data", "glue"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tasks", default="1,8,64")
    p.add_argument("--memory-tasks", default="1,64,1000")
    p.add_argument("--rows", type=int, default=None, help="first rows of each dev set (default all)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repetitions", type=int, default=3)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--peft-row", nargs=2, metavar=("ROWS_FILE", "K"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peft_row:
        print(json.dumps(peft_row(args.peft_row[0], int(args.peft_row[1]), args.batch_size, args.repetitions, args.threads)))
        return
    if args.quick:
        args.rows, args.tasks, args.memory_tasks, args.repetitions = 48, "1,8", "1,64", 1

    with tempfile.TemporaryDirectory() as tmp:
        rows_file = os.path.join(tmp, "rows.jsonl")
        write_rows(args, rows_file)
        adapter = make_adapter(args, tmp)
        common = ["--model", str(_peers.minilm_dir()), "--adapter", adapter, "--inputs", rows_file, "--threads", str(args.threads),
                  "--batch-size", str(args.batch_size), "--repetitions", str(args.repetitions)]
        stdout, _, _, _ = _peers.run_child([args.bench_bin, *common, "--tasks", args.tasks, "--memory-tasks", ""])
        ours = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
        memory = []
        for n in args.memory_tasks.split(","):
            out, _, _, _ = _peers.run_child([args.bench_bin, *common, "--tasks", "", "--memory-tasks", n])
            memory += [json.loads(line) for line in out.splitlines() if '"memory"' in line]
        peft = []
        for K in args.tasks.split(","):
            peft.append(_peers.run_python_row(os.path.abspath(__file__), [
                "--peft-row", rows_file, K, "--batch-size", args.batch_size, "--repetitions", args.repetitions,
                "--threads", args.threads]))

    base = next(r["tokens_per_s"] for r in ours if r["mode"] == "mixed" and r["K"] == 1)
    peft_base = peft[0]["tokens_per_s"]
    table = []
    for r in ours:
        if r["mode"] == "merged":
            table.append(["adapterbias merged (K models)", "any", _peers.fmt_int(r["tokens_per_s"]), _peers.fmt_ratio(r["tokens_per_s"], base)])
    for K in args.tasks.split(","):
        for r in ours:
            if r.get("K") == int(K):
                table.append([f"adapterbias {r['mode']}", K, _peers.fmt_int(r["tokens_per_s"]), _peers.fmt_ratio(r["tokens_per_s"], base)])
        for r in peft:
            if r["K"] == int(K):
                table.append(["PEFT LoRA mixed", K, _peers.fmt_int(r["tokens_per_s"]),
                              f"{_peers.fmt_ratio(r['tokens_per_s'], base)} ({_peers.fmt_ratio(r['tokens_per_s'], peft_base)} of its K=1)"])
    tokens = ours[0]["tokens"]
    print(_peers.machine_line(args.threads))
    print(f"Rows: {tokens:,} real tokens (SST-2 + RTE dev{'' if args.rows is None else f', first {args.rows} of each'}), "
          f"batch {args.batch_size}, fp32, best of {args.repetitions}")
    print()
    print(_peers.markdown_table(["engine", "K tasks", "tokens/s", "vs adapterbias mixed K=1"], table, right_from=1))
    print()
    mem = [[_peers.fmt_int(m["tasks"]), f"{m['tasks_rss_bytes'] / 2**20:.1f}", _peers.fmt_int(m["task_bytes"]),
            _peers.fmt_int(m["tasks_rss_bytes"] / m["tasks"])] for m in memory]
    print(_peers.markdown_table(["tasks loaded", "RSS growth (MiB)", "task tensors (bytes)", "RSS per task (bytes)"], mem, right_from=0))


if __name__ == "__main__":
    main()
