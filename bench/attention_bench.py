#!/usr/bin/env python3
"""Attention on CPU: ATen's fused scaled_dot_product_attention against unfused forms, in fp32 and bf16, forward and
forward + backward, at MiniLM's shapes: batched matmuls around an fp32 softmax (the earlier training path), and
what BertSelfAttentionImpl::attend runs for CPU training now (scale and additive mask inside one baddbmm, the
softmax in the compute dtype). Why CPU training takes the unfused path (docs/precision.md); LibTorch runs the
same ATen kernels.

  python3 bench/attention_bench.py [--batch 32 --length 68 --heads 12 --head-dim 32 --threads 2]
"""
import argparse
import time

import torch


def sdpa(q, k, v, mask):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def matmuls(q, k, v, mask):
    scores = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    return probs.to(q.dtype) @ v


def baddbmm_softmax(q, k, v, mask):
    b, h, t, d = q.shape
    bias = torch.zeros(b, 1, 1, t, dtype=q.dtype).masked_fill(~mask, float("-inf")).expand(b, h, 1, t).reshape(b * h, 1, t)
    scores = torch.baddbmm(bias, q.reshape(b * h, t, d), k.reshape(b * h, t, d).transpose(1, 2), alpha=d ** -0.5)
    return torch.bmm(torch.softmax(scores, -1), v.reshape(b * h, t, d)).view(b, h, t, d)


def timed(f, dtype, args, backward):
    shape = (args.batch, args.heads, args.length, args.head_dim)
    q, k, v = (torch.randn(shape, dtype=dtype, requires_grad=backward) for _ in range(3))
    mask = torch.ones(args.batch, 1, 1, args.length, dtype=torch.bool)
    mask[: args.batch // 2, ..., args.length * 3 // 4:] = False  # half the rows padded by a quarter
    times = []
    for r in range(args.warmup + args.repetitions):
        start = time.perf_counter()
        with torch.set_grad_enabled(backward):
            out = f(q, k, v, mask)
            if backward:
                out.float().sum().backward()
        if r >= args.warmup:
            times.append(time.perf_counter() - start)
    return 1000 * sorted(times)[len(times) // 2]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=68)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repetitions", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"B {args.batch}, T {args.length}, {args.heads} heads of {args.head_dim}, {args.threads} threads, "
          f"torch {torch.__version__}; median ms\n")
    print("| attention | dtype | fwd + bwd (ms) | fwd (ms) |")
    print("|---|---|---:|---:|")
    for name, f in (("SDPA (fused)", sdpa), ("matmuls + fp32 softmax", matmuls),
                    ("baddbmm (scale, mask) + softmax in the dtype", baddbmm_softmax)):
        for dtype in (torch.float32, torch.bfloat16):
            print(f"| {name} | {str(dtype).removeprefix('torch.')} | {timed(f, dtype, args, True):.1f} | "
                  f"{timed(f, dtype, args, False):.1f} |")


if __name__ == "__main__":
    main()
