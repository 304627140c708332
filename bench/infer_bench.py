#!/usr/bin/env python3
"""Inference throughput of an AdapterBias classifier on real GLUE rows: `adapterbias predict` (C++, LibTorch)
against ONNX Runtime and transformers on the same inputs, batches and threads, on CPU, in one Markdown table.

  python3 bench/infer_bench.py --bin build/src/adapterbias --data /work/shared/data/glue --threads 2
  python3 bench/infer_bench.py --quick            # smoke run: 64 rows of each dataset, one repetition

Needs onnxruntime and onnx beside the project's Python packages (torch stays pinned):
  pip install "torch==2.13.0" onnxruntime onnx      # add onnxscript for --exporter dynamo

Datasets (--datasets, default both): sst2 (SST-2 dev, 872 sentences; --sst2-rows caps) and qnli (QNLI dev,
5,463 question/sentence pairs; --qnli-rows caps). For each:

  1. a throughput adapter: `adapterbias train --max-steps 20` (--adapter-steps) on the task's first training
     rows (QNLI has no train split here: its first dev rows stand in) in a temporary GLUE folder;
  2. adapterbias `predict --input rows.jsonl --precision fp32|bf16 --batch-size 64 --logits`, timed end to end
     (process wall, median of --repeats runs); "seconds" is that minus the same command on 1 row (model and
     tokenizer loading, start-up), i.e. tokenisation + batching + forward passes;
  3. `adapterbias merge` of the adapter into a transformers checkpoint (BertForSequenceClassification),
     exported once with torch.onnx.export (TorchScript exporter, eager attention, dynamic batch and sequence
     axes; the dynamo exporter if that fails), run by onnxruntime.InferenceSession (intra_op_num_threads =
     --threads, inter-op 1, ORT_ENABLE_ALL) fp32; and the same graph after onnxruntime.transformers'
     optimize_model (fused Attention, SkipLayerNormalization, BiasGelu), the usual BERT deployment path;
  4. transformers (the merged checkpoint, BertForSequenceClassification) fp32 and torch.autocast bf16.

The Python rows use the batches adapterbias uses for inference: all rows sorted by token length, longest
first (ties by input order), cut into batches of --batch-size, each padded to its longest row. Tokenisation
(fast HF tokenizer) and padding happen before the clock starts: "seconds" there is the forward passes only
(median of --repeats passes over all batches); their end-to-end seconds are from the process start to the end of
its first pass (imports, loading, tokenisation included). Tokens are real (non-padding) tokens. Predictions are
checked against adapterbias fp32 (argmax agreement, largest logit difference). Each row runs in its own
process: the peak RSS is its own.
"""
import time

_START = time.perf_counter()  # the child rows' end-to-end clock starts here, before the heavy imports

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402

DATASETS = {  # name: (task, GLUE folder, label, unit)
    "sst2": ("sst-2", "SST-2", "SST-2 dev", "sentences"),
    "qnli": ("qnli", "QNLI", "QNLI dev", "pairs"),
}
IMPL_LABEL = {
    "adapterbias": "adapterbias predict",
    "onnxruntime": "ONNX Runtime",
    "onnxruntime-fused": "ONNX Runtime, BERT-fused graph",
    "transformers": "transformers (merged checkpoint)",
}


# ------------------------------------------------------------------------------------------------ Python rows

def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def length_sorted_batches(lengths, batch_size):
    """adapterbias' inference plan: sort by length, longest first, ties by index; consecutive batches."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def python_row(spec):
    import numpy as np
    from transformers import AutoTokenizer

    rows = read_jsonl(spec["input"])
    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(spec["merged"], use_fast=True)
    pairs = [r.get("text_pair") for r in rows] if rows and rows[0].get("text_pair") is not None else None
    enc = tokenizer([r["text"] for r in rows], pairs, truncation=True, max_length=spec["max_length"])
    lengths = [len(x) for x in enc["input_ids"]]
    batches = []
    for idx in length_sorted_batches(lengths, spec["batch_size"]):
        width = max(lengths[i] for i in idx)
        arrays = {}
        for name in ("input_ids", "attention_mask", "token_type_ids"):
            a = np.zeros((len(idx), width), dtype=np.int64)  # pad id 0, mask 0, token type 0
            for r, i in enumerate(idx):
                a[r, :lengths[i]] = enc[name][i]
            arrays[name] = a
        batches.append((idx, arrays))
    tokenize_s = time.perf_counter() - t0
    computed_tokens = sum(arrays["attention_mask"].size for _, arrays in batches)

    t0 = time.perf_counter()
    if spec["impl"].startswith("onnxruntime"):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = spec["threads"]
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(spec["onnx"], options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}

        def forward(arrays):
            return session.run(["logits"], {k: v for k, v in arrays.items() if k in names})[0]
    else:
        import torch
        from transformers import AutoModelForSequenceClassification
        torch.set_num_threads(spec["threads"])
        model = AutoModelForSequenceClassification.from_pretrained(spec["merged"]).eval()
        tensors = [(idx, {k: torch.from_numpy(v) for k, v in arrays.items()}) for idx, arrays in batches]
        batches = tensors
        bf16 = spec["precision"] == "bf16"

        def forward(inputs):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                return model(**inputs).logits.float().numpy()
    load_s = time.perf_counter() - t0

    logits = None
    times, end_to_end = [], None
    for _ in range(spec["repeats"]):
        out = [None] * len(rows)
        start = time.perf_counter()
        for idx, inputs in batches:
            result = forward(inputs)
            for r, i in enumerate(idx):
                out[i] = result[r]
        times.append(time.perf_counter() - start)
        if end_to_end is None:
            end_to_end = time.perf_counter() - _START
        logits = out
    print(json.dumps({"impl": spec["impl"], "precision": spec["precision"], "rows": len(rows),
                      "real_tokens": sum(lengths), "computed_tokens": computed_tokens,
                      "seconds": statistics.median(times), "seconds_all": times, "end_to_end_s": end_to_end,
                      "tokenize_s": tokenize_s, "load_s": load_s,
                      "logits": [[float(x) for x in row] for row in logits]}))


def export_onnx(merged, path, exporter):
    """The merged checkpoint as ONNX (logits from input_ids, attention_mask, token_type_ids; dynamic axes)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(merged, attn_implementation="eager").eval()

    class Logits(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).logits

    ids = torch.randint(1000, 2000, (2, 11))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    example = (ids, mask, torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    errors = []
    for kind in (["legacy", "dynamo"] if exporter == "auto" else [exporter]):
        try:
            if kind == "legacy":
                torch.onnx.export(Logits(model), example, path, input_names=names, output_names=["logits"],
                                  dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names}, opset_version=17,
                                  dynamo=False)
            else:
                dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("sequence")}
                torch.onnx.export(Logits(model), example, path, input_names=names, output_names=["logits"],
                                  dynamic_shapes=(dims, dims, dims), dynamo=True)
            return kind
        except Exception as e:  # noqa: BLE001 (either exporter may fail on some version: try the other)
            errors.append(f"{kind}: {type(e).__name__}: {e}")
    raise RuntimeError("ONNX export failed: " + " | ".join(errors))


def prepare_onnx(spec):
    """Child: export the merged model, then the BERT-fused graph; prints what was written."""
    import onnxruntime
    kind = export_onnx(spec["merged"], spec["onnx"], spec["exporter"])
    fused = None
    try:
        from onnxruntime.transformers.optimizer import optimize_model
        with open(os.path.join(spec["merged"], "config.json")) as f:
            config = json.load(f)
        model = optimize_model(spec["onnx"], model_type="bert", num_heads=config["num_attention_heads"],
                               hidden_size=config["hidden_size"], opt_level=1)
        model.save_model_to_file(spec["fused"])
        stats = model.get_fused_operator_statistics()
        fused = {k: v for k, v in stats.items() if v}
    except Exception as e:  # noqa: BLE001 (the fused row is optional)
        print(f"warning: onnxruntime {onnxruntime.__version__} optimize_model failed: {e}", file=sys.stderr)
    print(json.dumps({"exporter": kind, "fused": fused}))


# ------------------------------------------------------------------------------------------------ adapterbias

def supports_flag(binary, command, flag):
    try:
        out, err, _, _ = _peers.run_child([binary, command, "--help"])
    except RuntimeError:
        return False
    return flag in out + err


def make_adapter(args, task, folder, tmp):
    """A short `adapterbias train` into tmp: the throughput adapter (its accuracy does not matter)."""
    n_train = args.adapter_steps * 32
    glue = os.path.join(tmp, "glue")
    os.makedirs(os.path.join(glue, folder))
    source = "train" if os.path.exists(os.path.join(args.data, folder, "train.tsv")) else "dev"
    with open(os.path.join(args.data, folder, f"{source}.tsv"), encoding="utf-8") as f:
        lines = f.readlines()
    with open(os.path.join(args.data, folder, "dev.tsv"), encoding="utf-8") as f:
        dev_lines = f.readlines()
    with open(os.path.join(glue, folder, "train.tsv"), "w", encoding="utf-8") as f:
        f.writelines(lines[:1 + n_train])
    with open(os.path.join(glue, folder, "dev.tsv"), "w", encoding="utf-8") as f:
        f.writelines(dev_lines[:1 + 64])  # a small dev split: train evaluates it once
    out = os.path.join(tmp, "adapter")
    _peers.run_child([args.bin, "train", "--model", "minilm", "--task", task, "--data", glue, "--out", out,
                      "--epochs", "1", "--max-steps", str(args.adapter_steps), "--batch-size", "32", "--lr", "1e-3",
                      "--max-length", str(args.max_length), "--seed", str(args.seed), "--threads", str(args.threads)])
    return os.path.join(out, "adapter.safetensors"), source


def adapterbias_row(args, adapter, rows_file, one_row_file, precision, precision_flag):
    def cmd(path):
        c = [args.bin, "predict", "--model", "minilm", "--adapter", adapter, "--input", path, "--threads",
             str(args.threads), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length), "--logits"]
        return c + (["--precision", precision] if precision_flag else [])

    walls, one_walls, rss, stdout = [], [], 0.0, ""
    for _ in range(args.repeats):
        stdout, _, wall, r = _peers.run_child(cmd(rows_file))
        walls.append(wall)
        rss = max(rss, r)
        _, _, wall1, _ = _peers.run_child(cmd(one_row_file))
        one_walls.append(wall1)
    preds = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    end_to_end, startup = statistics.median(walls), statistics.median(one_walls)
    return {"impl": "adapterbias", "precision": precision, "rows": len(preds), "seconds": max(end_to_end - startup, 1e-9),
            "end_to_end_s": end_to_end, "startup_s": startup, "seconds_all": walls, "peak_rss_mb": rss,
            "logits": [p["logits"] for p in preds]}


# ------------------------------------------------------------------------------------------------ main

def count_tokens(rows_file, tokenizer_dir, max_length):
    from transformers import AutoTokenizer
    rows = read_jsonl(rows_file)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, use_fast=True)
    pairs = [r.get("text_pair") for r in rows] if rows and rows[0].get("text_pair") is not None else None
    return sum(len(x) for x in tok([r["text"] for r in rows], pairs, truncation=True, max_length=max_length)["input_ids"])


def argmax(row):
    return max(range(len(row)), key=lambda k: row[k])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/src/adapterbias", help="the adapterbias binary")
    p.add_argument("--data", default="/work/shared/data/glue", help="GLUE folder (SST-2/, QNLI/, ...)")
    p.add_argument("--datasets", default="sst2,qnli", help="comma list of sst2, qnli")
    p.add_argument("--sst2-rows", type=int, default=None, help="only the first N SST-2 dev rows (default all 872)")
    p.add_argument("--qnli-rows", type=int, default=None, help="only the first N QNLI dev rows (default all 5,463)")
    p.add_argument("--impls", default="adapterbias,onnxruntime,onnxruntime-fused,transformers",
                   help="comma list of adapterbias, onnxruntime, onnxruntime-fused, transformers")
    p.add_argument("--precisions", default="fp32,bf16", help="precisions of the adapterbias and transformers rows")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=3, help="timed passes (Python) or runs (adapterbias); the median")
    p.add_argument("--adapter-steps", type=int, default=20, help="training steps of the throughput adapter")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--exporter", default="auto", choices=["auto", "legacy", "dynamo"],
                   help="torch.onnx.export: TorchScript (legacy), dynamo, or auto: legacy, then dynamo")
    p.add_argument("--json", default=None, help="also write every row (without logits) to this JSON file")
    p.add_argument("--quick", action="store_true", help="smoke run: 64 rows of each dataset, 1 repeat, 2 steps")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)   # internal: one Python row, spec as JSON
    p.add_argument("--export", default=None, help=argparse.SUPPRESS)  # internal: the ONNX export, spec as JSON
    args = p.parse_args()
    if args.child:
        return python_row(json.loads(args.child))
    if args.export:
        return prepare_onnx(json.loads(args.export))
    if args.quick:
        args.sst2_rows, args.qnli_rows = args.sst2_rows or 64, args.qnli_rows or 64
        args.repeats, args.adapter_steps = 1, 2
    datasets = [d for d in args.datasets.split(",") if d]
    impls = [i for i in args.impls.split(",") if i]
    precisions = [x for x in args.precisions.split(",") if x]
    for d in datasets:
        if d not in DATASETS:
            p.error(f"unknown dataset {d}")
    for i in impls:
        if i not in IMPL_LABEL:
            p.error(f"unknown implementation {i}")
    if not os.path.exists(args.bin):
        p.error(f"{args.bin}: no such binary (build it, or pass --bin): it trains and merges the adapter")
    precision_flag = supports_flag(args.bin, "predict", "--precision")
    if not precision_flag:
        print(f"warning: {args.bin} predict has no --precision: adapterbias rows run fp32 without it, bf16 skipped",
              file=sys.stderr)

    results, notes = [], []
    for d in datasets:
        task, folder, label, unit = DATASETS[d]
        limit = args.sst2_rows if d == "sst2" else args.qnli_rows
        rows = _peers.read_glue(args.data, task, "dev", limit)
        label = f"{label}, {'first' if limit is not None else 'all'} {len(rows):,} {unit}"
        tmp = tempfile.mkdtemp(prefix="infer_bench_")
        try:
            rows_file, one_row_file = os.path.join(tmp, "rows.jsonl"), os.path.join(tmp, "one.jsonl")
            with open(rows_file, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps({"text": r["text"], **({"text_pair": r["text_pair"]}
                                                             if r["text_pair"] is not None else {})}) + "\n")
            with open(rows_file, encoding="utf-8") as f, open(one_row_file, "w", encoding="utf-8") as g:
                g.write(f.readline())
            print(f"[{d}] training the throughput adapter ({args.adapter_steps} steps) ...", file=sys.stderr, flush=True)
            adapter, source = make_adapter(args, task, folder, tmp)
            if source != "train":
                notes.append(f"{d}: no train split; the adapter trained on the first {args.adapter_steps * 32} dev rows")
            merged = os.path.join(tmp, "merged")
            _peers.run_child([args.bin, "merge", "--model", "minilm", "--adapter", adapter, "--out", merged])
            real_tokens = count_tokens(rows_file, merged, args.max_length)
            onnx_paths = {}
            if any(i.startswith("onnxruntime") for i in impls):
                spec = {"merged": merged, "onnx": os.path.join(tmp, "model.onnx"),
                        "fused": os.path.join(tmp, "model-fused.onnx"), "exporter": args.exporter}
                print(f"[{d}] exporting ONNX ...", file=sys.stderr, flush=True)
                try:
                    stdout, _, _, _ = _peers.run_child([sys.executable, __file__, "--export", json.dumps(spec)])
                    info = json.loads(stdout.strip().splitlines()[-1])
                    onnx_paths["onnxruntime"] = spec["onnx"]
                    if info["fused"]:
                        onnx_paths["onnxruntime-fused"] = spec["fused"]
                        notes.append(f"{d}: ONNX by the {info['exporter']} exporter; fused graph: " +
                                     ", ".join(f"{k} {v}" for k, v in info["fused"].items()))
                    else:
                        notes.append(f"{d}: ONNX by the {info['exporter']} exporter; no fused graph")
                except RuntimeError as e:
                    print(f"[{d}] ONNX export failed: {e}", file=sys.stderr)

            def run(fn, what):
                print(f"[{d}] {what} ...", file=sys.stderr, flush=True)
                try:
                    r = fn()
                except (RuntimeError, ValueError, KeyError) as e:
                    print(f"[{d}] {what} failed: {e}", file=sys.stderr)
                    return
                r.setdefault("real_tokens", real_tokens)
                results.append((d, label, r))
                print(f"[{d}] {what}: {r['real_tokens'] / r['seconds']:,.0f} tokens/s", file=sys.stderr, flush=True)

            base = {"batch_size": args.batch_size, "max_length": args.max_length, "threads": args.threads,
                    "repeats": args.repeats, "input": rows_file, "merged": merged}
            for impl in impls:
                if impl == "adapterbias":
                    for prec in precisions:
                        if prec == "fp32" or precision_flag:
                            run(lambda prec=prec: adapterbias_row(args, adapter, rows_file, one_row_file, prec,
                                                                  precision_flag), f"adapterbias {prec}")
                elif impl.startswith("onnxruntime"):
                    if impl in onnx_paths:
                        run(lambda impl=impl: _peers.run_python_row(__file__, ["--child", json.dumps(
                            {**base, "impl": impl, "precision": "fp32", "onnx": onnx_paths[impl]})]), f"{impl} fp32")
                else:
                    for prec in precisions:
                        run(lambda prec=prec: _peers.run_python_row(__file__, ["--child", json.dumps(
                            {**base, "impl": impl, "precision": prec})]), f"{impl} {prec}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    print(_peers.machine_line(args.threads))
    print(f"MiniLM-L6 (all-MiniLM-L6-v2) + AdapterBias adapter, batches of {args.batch_size} sorted by length, "
          f"max length {args.max_length}; tokens = real (non-padding) tokens; seconds: adapterbias = end to end minus "
          f"a 1-row run, others = forward passes only; median of {args.repeats}\n")
    header = ["dataset", "implementation", "precision", "rows", "real tokens", "seconds", "tokens/s",
              "vs adapterbias fp32", "end to end (s)", "argmax = adapterbias fp32", "peak RSS (MB)"]
    reference = {d: r for d, _, r in results if r["impl"] == "adapterbias" and r["precision"] == "fp32"}
    table = []
    for d, label, r in results:
        tps = r["real_tokens"] / r["seconds"]
        ref = reference.get(d)
        agree = "-"
        if ref and r is not ref:
            same = sum(argmax(a) == argmax(b) for a, b in zip(r["logits"], ref["logits"]))
            agree = f"{100.0 * same / len(ref['logits']):.2f}%"
            diff = max(abs(x - y) for a, b in zip(r["logits"], ref["logits"]) for x, y in zip(a, b))
            notes.append(f"{d} {IMPL_LABEL[r['impl']]} {r['precision']}: max |logit - adapterbias fp32 logit| = {diff:.2e}")
        base_tps = ref["real_tokens"] / ref["seconds"] if ref else None
        table.append([label, IMPL_LABEL[r["impl"]], r["precision"], _peers.fmt_int(r["rows"]),
                      _peers.fmt_int(r["real_tokens"]), f"{r['seconds']:.2f}", _peers.fmt_int(tps),
                      _peers.fmt_ratio(tps, base_tps), f"{r['end_to_end_s']:.2f}", agree,
                      _peers.fmt_int(r["peak_rss_mb"])])
    print(_peers.markdown_table(header, table, right_from=3))
    print()
    for d, _, r in results:
        if r["impl"] == "adapterbias":
            notes.append(f"{d} adapterbias {r['precision']}: start-up (1-row run) {r['startup_s']:.2f} s")
        elif r.get("tokenize_s") is not None and r["precision"] == "fp32":
            notes.append(f"{d} {IMPL_LABEL[r['impl']]}: HF fast tokenizer + padding {r['tokenize_s']:.2f} s (untimed), "
                         f"load {r['load_s']:.2f} s, real/computed tokens {r['real_tokens'] / r['computed_tokens']:.0%}")
    for n in notes:
        print(f"- {n}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"dataset": d, "label": label, **{k: v for k, v in r.items() if k != "logits"}}
                       for d, label, r in results], f, indent=2)


if __name__ == "__main__":
    main()
