#!/usr/bin/env python3
"""ATen's CPU softmax over the last dimension, forward and backward, per row length: bf16 in place (what the CPU
training attention runs) against fp32 with the casts around it, in ns per element, as one Markdown table. Why
BertModelImpl::forward widens the CPU bf16 attention grid to a multiple of 32 (docs/precision.md): ATen's
vectorised bf16 kernel takes whole vectors of 32 and finishes each row's tail in a slower loop.

  python3 bench/softmax_bench.py [--lengths 8,16,...,128 --elements 786432 --threads 2]
"""
import argparse
import time

import torch


def per_element_ns(f, elements, repetitions, warmup):
    for _ in range(warmup):
        f()
    start = time.perf_counter()
    for _ in range(repetitions):
        f()
    return (time.perf_counter() - start) / repetitions / elements * 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lengths", default=",".join(str(t) for t in range(8, 129, 8)))
    p.add_argument("--elements", type=int, default=786432, help="about this many scores per call (rows x length^2)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repetitions", type=int, default=60)
    p.add_argument("--warmup", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {args.threads} threads; scores (rows, T, T), about {args.elements:,} per call")
    print("| T | fwd bf16 (ns/elem) | fwd fp32 + casts | bwd bf16 | bwd fp32 + casts |")
    print("|---:|---:|---:|---:|---:|")
    for t in (int(x) for x in args.lengths.split(",")):
        rows = max(1, args.elements // (t * t))
        n = rows * t * t
        x = torch.randn(rows, t, t).bfloat16()
        grad = torch.randn(rows, t, t).bfloat16()
        y = torch.softmax(x, -1)
        y32 = y.float()
        timing = lambda f: per_element_ns(f, n, args.repetitions, args.warmup)  # noqa: E731
        fwd_bf16 = timing(lambda: torch.softmax(x, -1))
        fwd_fp32 = timing(lambda: torch.softmax(x.float(), -1).bfloat16())
        bwd_bf16 = timing(lambda: torch._softmax_backward_data(grad, y, -1, torch.bfloat16))
        bwd_fp32 = timing(lambda: torch._softmax_backward_data(grad.float(), y32, -1, torch.float32).bfloat16())
        print(f"| {t} | {fwd_bf16:.2f} | {fwd_fp32:.2f} | {bwd_bf16:.2f} | {bwd_fp32:.2f} |")


if __name__ == "__main__":
    main()
