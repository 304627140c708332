#!/usr/bin/env python3
"""The Python package's overhead: TaskModel.predict against `adapterbias predict` on the same inputs, adapter,
batches, precision and threads, and transformers on the merged checkpoint as the peer, in one Markdown table.

  python3 bench/python_bench.py --bin build/src/adapterbias --data ../shared/data/glue --threads 2
  python3 bench/python_bench.py --quick       # smoke run: 64 rows, one repetition

Inputs: SST-2 dev (872 sentences; --rows caps). The adapter: `adapterbias train --max-steps 20` on the first 512
SST-2 training rows (throughput does not depend on how well it is trained). Every measurement runs in its own
fresh process, --repeats times (median), so each pays the same one-time costs:

  - adapterbias predict (CLI): process wall of `predict --input rows.jsonl` minus that of the same command on one
    row (start-up, model and tokenizer loading): tokenisation, batching, forward passes, JSON lines out;
  - TaskModel.predict (package): the first call of model.predict(texts) after adapterbias.load_adapter, in a
    process that has imported the package: tokenisation, batching, forward passes, list of dicts out; and that
    process's wall from start to the predictions (import torch and loading included);
  - transformers: AutoModelForSequenceClassification on `adapterbias merge`'s checkpoint, rows sorted by length
    and cut into the same batches (each padded to its longest), fast tokenizer; tokenisation included.

Predictions are compared with the CLI's (argmax agreement).
"""
import time

_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402


def package_row(args):
    """Child: the package's predict, first call, in this fresh process."""
    import adapterbias as ab
    ab.set_num_threads(args.threads)
    texts = [json.loads(line)["text"] for line in open(args.inputs, encoding="utf-8")]
    backbone = ab.Backbone.load("minilm", precision=args.precision)
    model = ab.load_adapter(backbone, args.adapter)
    start = time.perf_counter()
    predictions = model.predict(texts, batch_size=args.batch_size)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "end_to_end": time.perf_counter() - _START,
                      "labels": [p["label"] for p in predictions]}))


def transformers_row(args):
    """Child: transformers on the merged checkpoint, the same length-sorted batches."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    torch.set_num_threads(args.threads)
    texts = [json.loads(line)["text"] for line in open(args.inputs, encoding="utf-8")]
    tokenizer = AutoTokenizer.from_pretrained(args.merged)
    model = AutoModelForSequenceClassification.from_pretrained(args.merged).eval()
    labels = model.config.id2label
    start = time.perf_counter()
    lengths = [len(ids) for ids in tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: (-lengths[i], i))
    predicted = [None] * len(texts)
    with torch.inference_mode():
        for b in range(0, len(order), args.batch_size):
            rows = order[b:b + args.batch_size]
            batch = tokenizer([texts[i] for i in rows], truncation=True, max_length=128, padding=True,
                              return_tensors="pt")
            for i, c in zip(rows, model(**batch).logits.argmax(-1).tolist()):
                predicted[i] = labels[c]
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "end_to_end": time.perf_counter() - _START, "labels": predicted}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default="build/src/adapterbias")
    p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "glue"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--rows", type=int, default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", choices=["package", "transformers"])
    p.add_argument("--inputs")
    p.add_argument("--adapter")
    p.add_argument("--merged")
    p.add_argument("--precision", default="fp32")
    args = p.parse_args()
    if args.child == "package":
        return package_row(args)
    if args.child == "transformers":
        return transformers_row(args)
    if args.quick:
        args.rows, args.repeats = 64, 1

    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    work = tempfile.mkdtemp(prefix="python_bench_")
    rows = _peers.read_glue(args.data, "sst-2", "dev", args.rows)
    inputs = os.path.join(work, "rows.jsonl")
    one = os.path.join(work, "one.jsonl")
    with open(inputs, "w", encoding="utf-8") as f:
        f.writelines(json.dumps({"text": r["text"]}) + "\n" for r in rows)
    with open(one, "w", encoding="utf-8") as f:
        f.write(json.dumps({"text": rows[0]["text"]}) + "\n")
    glue = os.path.join(work, "glue")
    os.makedirs(os.path.join(glue, "SST-2"))
    for split, limit in [("train", 512), ("dev", 64)]:
        with open(os.path.join(args.data, "SST-2", f"{split}.tsv"), encoding="utf-8") as src:
            lines = src.read().splitlines()[: limit + 1]
        with open(os.path.join(glue, "SST-2", f"{split}.tsv"), "w", encoding="utf-8") as dst:
            dst.write("\n".join(lines) + "\n")
    _peers.run_child([args.bin, "train", "--model", "minilm", "--task", "sst-2", "--data", glue, "--out",
                      os.path.join(work, "run"), "--max-steps", "20", "--epochs", "1", "--threads", str(args.threads),
                      "--precision", "fp32"], env=env)
    adapter = os.path.join(work, "run", "adapter.safetensors")
    merged = os.path.join(work, "merged")
    _peers.run_child([args.bin, "merge", "--model", "minilm", "--adapter", adapter, "--out", merged], env=env)
    tokens = sum(len(ids) for ids in __import__("transformers").AutoTokenizer.from_pretrained(merged)(
        [r["text"] for r in rows], truncation=True, max_length=128)["input_ids"])

    def cli(precision, path):
        out, _, wall, _ = _peers.run_child([args.bin, "predict", "--model", "minilm", "--adapter", adapter, "--input",
                                            path, "--batch-size", str(args.batch_size), "--threads",
                                            str(args.threads), "--precision", precision], env=env)
        return wall, [json.loads(line)["label"] for line in out.splitlines()]

    def child(kind, precision):
        return _peers.run_python_row(__file__, ["--child", kind, "--inputs", inputs, "--adapter", adapter,
                                                "--merged", merged, "--threads", args.threads, "--precision",
                                                precision, "--batch-size", args.batch_size])

    table = []
    reference = None
    for precision in ["fp32", "bf16"]:
        walls, startups, package, package_e2e = [], [], [], []
        for _ in range(args.repeats):  # interleaved, so that drifts of the machine hit both alike
            wall, labels = cli(precision, inputs)
            walls.append(wall)
            startups.append(cli(precision, one)[0])
            row = child("package", precision)
            package.append(row["seconds"])
            package_e2e.append(row["end_to_end"])
            if precision == "fp32" and reference is None:
                reference = labels
            agree = sum(a == b for a, b in zip(row["labels"], reference)) / len(reference)
        cli_seconds = statistics.median(walls) - statistics.median(startups)
        table.append((f"adapterbias predict (CLI) {precision}", cli_seconds, statistics.median(walls),
                      sum(a == b for a, b in zip(labels, reference)) / len(reference)))
        table.append((f"TaskModel.predict (package) {precision}", statistics.median(package),
                      statistics.median(package_e2e), agree))
    hf, hf_e2e = [], []
    for _ in range(args.repeats):
        row = child("transformers", "fp32")
        hf.append(row["seconds"])
        hf_e2e.append(row["end_to_end"])
    agree = sum(a == b for a, b in zip(row["labels"], reference)) / len(reference)
    table.append(("transformers, merged checkpoint fp32", statistics.median(hf), statistics.median(hf_e2e), agree))

    base = {p: next(s for name, s, _, _ in table if name == f"adapterbias predict (CLI) {p}") for p in ["fp32", "bf16"]}
    lines = []
    for name, seconds, e2e, agreement in table:
        precision = "bf16" if name.endswith("bf16") else "fp32"
        lines.append([name, f"{seconds:.3f}", _peers.fmt_int(tokens / seconds), f"{seconds / base[precision]:.3f}",
                      f"{e2e:.2f}", f"{agreement:.4f}"])
    print(_peers.machine_line(args.threads))
    print(f"SST-2 dev, {len(rows)} sentences, {tokens:,} tokens; batch {args.batch_size}; median of {args.repeats} "
          f"fresh processes each\n")
    print(_peers.markdown_table(["implementation", "predict seconds", "tokens/s", "vs CLI (same precision)",
                                 "process wall s", "labels = CLI fp32"], lines, right_from=1))


if __name__ == "__main__":
    main()
