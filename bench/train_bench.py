#!/usr/bin/env python3
"""End-to-end AdapterBias training throughput on real GLUE rows: adapterbias (C++, LibTorch) against the
transformers loops a user would write, on CPU, in one Markdown table.

  python3 bench/train_bench.py --bin build/src/adapterbias --data /work/shared/data/glue --threads 2
  python3 bench/train_bench.py --quick            # smoke run: 96 rows of SST-2 and of RTE, a few batches each

Workloads (--workloads, default all): sst2-2k (SST-2 train, first 2,000 rows), sst2-20k (first 20,000 rows),
rte (RTE train, all 2,490 pairs). Every row uses the same hyper-parameters (--batch-size 32, --max-length 128,
--lr 1e-3 constant, --epochs 1, --seed 42, AdamW with weight decay 0.01 on weights, none on biases and LayerNorms,
head Dropout(0.5) -> Linear(H, labels) on the pooled output, backbone dropout from the config) and the same
--threads. Rows (--impls, default all):

  adapterbias    `adapterbias train ... --precision fp32|bf16`: its length-bucketed batches (examples shuffled,
                 sorted by length in chunks of 50 batches, batch order shuffled); the time is what the CLI's JSON
                 summary reports as train_tokens_per_s (real tokens over the time spent in training steps).
  transformers   BertModel (the packaged MiniLM) with AdapterBias patched into each BertOutput
                 (encoder_bench.add_adapter_bias: v zeros, L_alpha Linear(I, 1), output LayerNorms trainable),
                 AutoTokenizer (fast) + DataCollatorWithPadding, shuffled batches padded to the batch's longest;
                 fp32 and torch.autocast("cpu", dtype=torch.bfloat16).
  sorted         the same loop with transformers' LengthGroupedSampler (TrainingArguments(group_by_length=True));
                 precisions by --sorted-precisions (both, or auto: the faster of the two transformers rows).
  official       the official AdapterBias code's setup (Allen0307/AdapterBias, src/dataset.py and
                 src/model.py): every example padded to max length 128 (encode_plus(padding="max_length")),
                 shuffled batches, fp32, its two AdamW optimisers (weights; biases and LayerNorms without decay).

Only the training steps are timed in the Python rows (forward, loss, backward, optimiser step; not model
loading, tokenisation or collation). Tokens are REAL tokens (attention mask ones, [CLS]/[SEP] included, no
padding), the same count for every row of a workload. Each row runs in its own process, so peak RSS is its own.
"""
import argparse
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402

WORKLOADS = {  # name: (task, rows (None: all), label)
    "sst2-2k": ("sst-2", 2000, "SST-2 train, first 2,000"),
    "sst2-20k": ("sst-2", 20000, "SST-2 train, first 20,000"),
    "rte": ("rte", None, "RTE train (pairs)"),
}
IMPL_LABEL = {
    "adapterbias": "adapterbias",
    "transformers": "transformers + AdapterBias (Python)",
    "official": "official AdapterBias setup (transformers)",
}
BATCHING_LABEL = {
    "bucketed": "length-bucketed (shuffled chunks of 50 batches)",
    "random": "random, padded to batch max (DataCollatorWithPadding)",
    "grouped": "group_by_length (LengthGroupedSampler)",
    "max-length": "random, every example padded to max length",
}


# ------------------------------------------------------------------------------------------------ Python rows

def python_row(spec):
    """One transformers training epoch as a user writes it; prints a JSON line with the timing."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader
    from transformers import AutoTokenizer, BertModel, DataCollatorWithPadding
    from transformers.trainer_pt_utils import LengthGroupedSampler

    torch.set_num_threads(spec["threads"])
    random.seed(spec["seed"])
    torch.manual_seed(spec["seed"])
    rows = _peers.read_glue(spec["data"], spec["task"], "train", spec["rows"])
    labels, num_labels = _peers.label_ids(rows)
    texts = [r["text"] for r in rows]
    pairs = [r["text_pair"] for r in rows] if rows and rows[0]["text_pair"] is not None else None

    t0 = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(_peers.minilm_dir(), use_fast=True)
    generator = torch.Generator().manual_seed(spec["seed"])
    if spec["impl"] == "official":
        # src/dataset.py: encode_plus per example (transformers 5 drops encode_plus: its __call__ is the same),
        # padding="max_length", tensors stacked by the default collate. (truncation=True added: the official code
        # has none and would fail on a longer example.)
        ids, mask, types = [], [], []
        for i, text in enumerate(texts):
            e = tokenizer(text, pairs[i] if pairs else None, add_special_tokens=True, max_length=spec["max_length"],
                          padding="max_length", truncation=True, return_attention_mask=True,
                          return_token_type_ids=True, return_tensors="pt")
            ids.append(e["input_ids"].view(-1))
            mask.append(e["attention_mask"].view(-1))
            types.append(e["token_type_ids"].view(-1))
        dataset = torch.utils.data.TensorDataset(torch.stack(ids), torch.stack(mask), torch.stack(types),
                                                 torch.tensor(labels))
        loader = DataLoader(dataset, batch_size=spec["batch_size"], shuffle=True, generator=generator)
    else:
        enc = tokenizer(texts, pairs, truncation=True, max_length=spec["max_length"])
        dataset = [{"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i],
                    "attention_mask": enc["attention_mask"][i], "labels": labels[i]} for i in range(len(texts))]
        collator = DataCollatorWithPadding(tokenizer)
        if spec["batching"] == "grouped":
            sampler = LengthGroupedSampler(spec["batch_size"], lengths=[len(d["input_ids"]) for d in dataset],
                                           generator=generator)
            loader = DataLoader(dataset, batch_size=spec["batch_size"], sampler=sampler, collate_fn=collator)
        else:
            loader = DataLoader(dataset, batch_size=spec["batch_size"], shuffle=True, generator=generator,
                                collate_fn=collator)
    tokenize_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model = BertModel.from_pretrained(_peers.minilm_dir())
    _peers.add_adapter_bias(model)
    head = nn.Sequential(nn.Dropout(0.5), nn.Linear(model.config.hidden_size, num_labels))
    load_s = time.perf_counter() - t0
    # Weight decay on v, L_alpha's weight and the head's weight (the official code also decays the head's bias);
    # none on biases and LayerNorms.
    decay = [p for layer in model.encoder.layer for p in (layer.output.v, layer.output.alpha.weight)]
    decay_ids = {id(p) for p in decay}
    trainable = [p for p in model.parameters() if p.requires_grad]
    if spec["impl"] == "official":
        weights = decay + list(head.parameters())
        biases = [p for p in trainable if id(p) not in decay_ids]
        optimizers = [torch.optim.AdamW(weights, lr=spec["lr"]),  # torch's default weight decay, 0.01
                      torch.optim.AdamW(biases, lr=spec["lr"], weight_decay=0)]
    else:
        groups = [{"params": decay + [head[1].weight], "weight_decay": 0.01},
                  {"params": [p for p in trainable if id(p) not in decay_ids] + [head[1].bias], "weight_decay": 0.0}]
        optimizers = [torch.optim.AdamW(groups, lr=spec["lr"])]

    bf16 = spec["precision"] == "bf16"
    model.train()
    head.train()
    steps = real = computed = 0
    step_s = 0.0
    loss = None
    for _ in range(spec["epochs"]):
        for batch in loader:
            if spec["impl"] == "official":
                tokens, mask, type_id, label = batch
                inputs = {"input_ids": tokens, "attention_mask": mask, "token_type_ids": type_id}
            else:
                label = batch.pop("labels")
                inputs = dict(batch)
            start = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = head(model(**inputs).pooler_output)
                loss = nn.functional.cross_entropy(logits, label)
            for opt in optimizers:
                opt.zero_grad()
            loss.backward()
            for opt in optimizers:
                opt.step()
            step_s += time.perf_counter() - start
            steps += 1
            real += int(inputs["attention_mask"].sum())
            computed += inputs["attention_mask"].numel()
    print(json.dumps({"impl": spec["impl"], "precision": spec["precision"], "batching": spec["batching"],
                      "steps": steps, "real_tokens": real, "computed_tokens": computed, "seconds": step_s,
                      "tokens_per_s": real / max(step_s, 1e-9), "tokenize_s": tokenize_s, "load_s": load_s,
                      "final_loss": float(loss) if loss is not None else None}))


# ------------------------------------------------------------------------------------------------ adapterbias

def cli_supports_precision(binary):
    try:
        out, err, _, _ = _peers.run_child([binary, "train", "--help"])
    except RuntimeError:
        return False
    return "--precision" in out + err


def adapterbias_row(args, task, n_rows, precision, with_precision_flag):
    with tempfile.TemporaryDirectory(prefix="train_bench_") as out:
        cmd = [args.bin, "train", "--model", "minilm", "--task", task, "--data", args.data,
               "--max-train-examples", str(n_rows), "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
               "--lr", str(args.lr), "--max-length", str(args.max_length), "--seed", str(args.seed),
               "--threads", str(args.threads), "--out", out]
        if with_precision_flag:
            cmd += ["--precision", precision]
        stdout, _, wall, rss = _peers.run_child(cmd)
    summary = _peers.last_json_object(stdout)
    tps = float(summary["train_tokens_per_s"])
    step_s = summary.get("train_step_seconds")  # time in training steps; train_seconds adds evaluation and saving
    tokens = summary.get("train_tokens") or (round(tps * step_s) if step_s else None)
    if with_precision_flag and summary.get("precision") not in (None, precision):
        raise RuntimeError(f"asked for --precision {precision}, the summary says {summary.get('precision')}")
    return {"impl": "adapterbias", "precision": precision, "batching": "bucketed", "steps": summary.get("steps"),
            "real_tokens": tokens, "seconds": step_s, "tokens_per_s": tps,
            "cli_train_seconds": summary.get("train_seconds"), "wall_s": wall, "peak_rss_mb": rss,
            "dev_primary": summary.get("dev_primary")}


# ------------------------------------------------------------------------------------------------ main

def count_real_tokens(data, task, n_rows, max_length):
    from transformers import AutoTokenizer
    rows = _peers.read_glue(data, task, "train", n_rows)
    tok = AutoTokenizer.from_pretrained(_peers.minilm_dir(), use_fast=True)
    pairs = [r["text_pair"] for r in rows] if rows and rows[0]["text_pair"] is not None else None
    enc = tok([r["text"] for r in rows], pairs, truncation=True, max_length=max_length)
    return len(rows), sum(len(x) for x in enc["input_ids"])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/src/adapterbias", help="the adapterbias binary")
    p.add_argument("--data", default="/work/shared/data/glue", help="GLUE folder (SST-2/, RTE/, ...)")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma list of {', '.join(WORKLOADS)}")
    p.add_argument("--impls", default="adapterbias,transformers,sorted,official",
                   help="comma list of adapterbias, transformers, sorted, official")
    p.add_argument("--precisions", default="fp32,bf16", help="precisions of the adapterbias and transformers rows")
    p.add_argument("--sorted-precisions", default="both", choices=["both", "auto", "fp32", "bf16"],
                   help="the group_by_length rows: both precisions, or auto: the faster transformers row's")
    p.add_argument("--rows", type=int, default=None, help="use only the first N rows of every workload")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--repeats", type=int, default=1,
                   help="run every row N times and report the run with the median tokens/s (a noisy machine)")
    p.add_argument("--json", default=None, help="also write every row (with extra fields) to this JSON file")
    p.add_argument("--quick", action="store_true", help="smoke run: sst2-2k and rte, 96 rows each")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)  # internal: one Python row, spec as JSON
    args = p.parse_args()
    if args.child:
        return python_row(json.loads(args.child))
    if args.quick:
        args.workloads, args.rows = "sst2-2k,rte", args.rows or 96
    workloads = [w for w in args.workloads.split(",") if w]
    impls = [i for i in args.impls.split(",") if i]
    precisions = [x for x in args.precisions.split(",") if x]
    for w in workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w}")
    for i in impls:
        if i not in ("adapterbias", "transformers", "sorted", "official"):
            p.error(f"unknown implementation {i}")

    precision_flag = True
    if "adapterbias" in impls:
        if not os.path.exists(args.bin):
            p.error(f"{args.bin}: no such binary (build it, or pass --bin)")
        precision_flag = cli_supports_precision(args.bin)
        if not precision_flag:
            print(f"warning: {args.bin} train has no --precision: its rows run fp32 without the flag, bf16 skipped",
                  file=sys.stderr)

    results = []  # (workload, label, n_rows, hf_tokens, row)
    for w in workloads:
        task, limit, label = WORKLOADS[w]
        limit = args.rows if args.rows is not None else limit
        n_rows, hf_tokens = count_real_tokens(args.data, task, limit, args.max_length)
        name, unit = label.split(",")[0].split(" (")[0], "pairs" if task == "rte" else "rows"
        label = f"{name}, all {n_rows:,} {unit}" if limit is None else f"{name}, first {n_rows:,} {unit}"
        spec = {"data": args.data, "task": task, "rows": n_rows, "threads": args.threads,
                "batch_size": args.batch_size, "max_length": args.max_length, "lr": args.lr,
                "epochs": args.epochs, "seed": args.seed}

        def run(row_fn, what):
            print(f"[{w}] {what} ...", file=sys.stderr, flush=True)
            try:
                runs = sorted((row_fn() for _ in range(max(1, args.repeats))), key=lambda r: r["tokens_per_s"])
            except (RuntimeError, ValueError, KeyError) as e:
                print(f"[{w}] {what} failed: {e}", file=sys.stderr)
                return None
            r = runs[len(runs) // 2]
            r["tokens_per_s_runs"] = [x["tokens_per_s"] for x in runs]
            results.append((w, label, n_rows, hf_tokens * args.epochs, r))
            print(f"[{w}] {what}: {r['tokens_per_s']:,.0f} tokens/s", file=sys.stderr, flush=True)
            return r

        if "adapterbias" in impls:
            for prec in precisions:
                if prec != "fp32" and not precision_flag:
                    continue
                run(lambda prec=prec: adapterbias_row(args, task, n_rows, prec, precision_flag), f"adapterbias {prec}")
        speed = {}
        if "transformers" in impls:
            for prec in precisions:
                r = run(lambda prec=prec: _peers.run_python_row(__file__, ["--child", json.dumps(
                    {**spec, "impl": "transformers", "precision": prec, "batching": "random"})]),
                    f"transformers {prec} random")
                if r:
                    speed[prec] = r["tokens_per_s"]
        if "sorted" in impls:
            if args.sorted_precisions == "both":
                sorted_precs = precisions
            elif args.sorted_precisions == "auto":
                sorted_precs = [max(speed, key=speed.get)] if speed else precisions[:1]
            else:
                sorted_precs = [args.sorted_precisions]
            for prec in sorted_precs:
                run(lambda prec=prec: _peers.run_python_row(__file__, ["--child", json.dumps(
                    {**spec, "impl": "transformers", "precision": prec, "batching": "grouped"})]),
                    f"transformers {prec} group_by_length")
        if "official" in impls:
            run(lambda: _peers.run_python_row(__file__, ["--child", json.dumps(
                {**spec, "impl": "official", "precision": "fp32", "batching": "max-length"})]),
                "official setup fp32 max-length")

    print(_peers.machine_line(args.threads))
    print(f"MiniLM-L6 (all-MiniLM-L6-v2), AdapterBias, batch {args.batch_size}, max length {args.max_length}, "
          f"lr {args.lr:g}, {args.epochs} epoch(s), seed {args.seed}; tokens = real (non-padding) tokens; "
          f"seconds = training steps only" + (f"; each row the median of {args.repeats} runs" if args.repeats > 1 else "")
          + "\n")
    header = ["workload", "implementation", "precision", "batching", "real tokens", "seconds", "tokens/s",
              "vs adapterbias fp32", "peak RSS (MB)"]
    table, notes = [], []
    base = {w: r["tokens_per_s"] for w, _, _, _, r in results if r["impl"] == "adapterbias" and r["precision"] == "fp32"}
    for w, label, n_rows, hf_tokens, r in results:
        tokens = r.get("real_tokens") or hf_tokens
        seconds = r.get("seconds") or tokens / r["tokens_per_s"]
        if r.get("real_tokens") is not None and abs(r["real_tokens"] - hf_tokens) > (1 if r["impl"] == "adapterbias" else 0):
            notes.append(f"{w} {r['impl']} {r['precision']}: {r['real_tokens']:,} real tokens, expected {hf_tokens:,}")
        table.append([label, IMPL_LABEL[r["impl"]], r["precision"], BATCHING_LABEL[r["batching"]], _peers.fmt_int(tokens),
                      f"{seconds:.1f}", _peers.fmt_int(r["tokens_per_s"]), _peers.fmt_ratio(r["tokens_per_s"], base.get(w)),
                      _peers.fmt_int(r["peak_rss_mb"])])
    print(_peers.markdown_table(header, table, right_from=4))
    pads = {}
    for w, _, _, _, r in results:
        if r.get("computed_tokens"):
            pads.setdefault(w, {})[r["batching"]] = r["real_tokens"] / r["computed_tokens"]
    if pads:
        print("\nReal tokens / computed (padded) tokens: " + "; ".join(
            f"{w}: " + ", ".join(f"{b} {x:.0%}" for b, x in d.items()) for w, d in pads.items()))
    cli = [(w, r) for w, _, _, _, r in results if r["impl"] == "adapterbias" and r.get("cli_train_seconds")]
    if cli:
        print("adapterbias train_seconds in its summary (training plus per-epoch dev evaluation and saving): " + "; ".join(
            f"{w} {r['precision']} {r['cli_train_seconds']:.1f} s" for w, r in cli))
    for n in notes:
        print(f"note: {n}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"workload": w, "label": label, "rows": n, **r} for w, label, n, _, r in results], f, indent=2)


if __name__ == "__main__":
    main()
