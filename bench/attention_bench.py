#!/usr/bin/env python3
"""Attention on CPU: ATen's fused scaled_dot_product_attention against unfused forms, in fp32 and bf16, forward and
forward + backward, at MiniLM's shapes: batched matmuls around an fp32 softmax (the earlier training path), and
what BertSelfAttentionImpl::attend runs for CPU training now (scale and additive mask inside one baddbmm, the
softmax in the compute dtype). Why CPU training takes the unfused path (docs/precision.md); LibTorch runs the
same ATen kernels.

  python3 bench/attention_bench.py [--batch 32 --length 68 --heads 12 --head-dim 32 --threads 2]

--inference times forward passes only, as `predict`, `embed` and the server run them, over lengths 16-512 (the
batch sized to --tokens grid cells, half its rows padded by a quarter): the fused kernel against the unfused products
(baddbmm, softmax, bmm) over slices of (sequence, head) pairs whose scores take at most 1, 2, 4 or 16 MiB, or
unsliced; what BertSelfAttentionImpl::attend runs for CPU inference (2 MiB). The heap keeps freed blocks up to 32
MiB, as the CLI sets it (core/heap.h): without that, glibc maps every larger score tensor afresh.
"""
import argparse
import ctypes
import functools
import time

import torch


def sdpa(q, k, v, mask):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def matmuls(q, k, v, mask):
    scores = (q @ k.transpose(-1, -2)).float() * q.shape[-1] ** -0.5
    probs = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1)
    return probs.to(q.dtype) @ v


def baddbmm_softmax(q, k, v, mask, budget_bytes=0):
    """Over slices of (sequence, head) pairs whose scores take at most budget_bytes (0: one slice; forward only
    when sliced, as attend's inference_attention)."""
    b, h, t, d = q.shape
    bias = torch.zeros(b, 1, 1, t, dtype=q.dtype).masked_fill(~mask, float("-inf")).expand(b, h, 1, t)
    q, k, v, bias = q.reshape(b * h, t, d), k.reshape(b * h, t, d), v.reshape(b * h, t, d), bias.reshape(b * h, 1, t)
    step = max(1, budget_bytes // (t * t * q.element_size())) if budget_bytes else b * h
    if step >= b * h:
        return torch.bmm(torch.softmax(torch.baddbmm(bias, q, k.transpose(1, 2), alpha=d ** -0.5), -1), v).view(b, h, t, d)
    out = torch.empty_like(q)
    for first in range(0, b * h, step):
        rows = slice(first, first + step)
        scores = torch.baddbmm(bias[rows], q[rows], k[rows].transpose(1, 2), alpha=d ** -0.5)
        torch.bmm(torch.softmax(scores, -1), v[rows], out=out[rows])
    return out.view(b, h, t, d)


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


def inference_table(args):
    try:  # the CLI's heap settings (core/heap.cpp): M_MMAP_THRESHOLD 32 MiB, M_TRIM_THRESHOLD off
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)
        libc.mallopt(-1, 2 ** 31 - 1)
    except OSError:
        pass
    print(f"forward only, {args.tokens} grid cells per batch, {args.heads} heads of {args.head_dim}, "
          f"{args.threads} threads, torch {torch.__version__}; median ms\n")
    budgets = ((1 << 20, "1 MiB"), (2 << 20, "2 MiB"), (4 << 20, "4 MiB"), (16 << 20, "16 MiB"), (0, "unsliced"))
    print("| T | B | dtype | SDPA (fused) | " + " | ".join(f"unfused, {label}" for _, label in budgets) +
          " | SDPA / unfused 2 MiB |")
    print("|---:|---:|---|---:|" + "---:|" * len(budgets) + "---:|")
    for length in (16, 32, 64, 96, 128, 192, 256, 384, 512):
        run = argparse.Namespace(**{**vars(args), "length": length, "batch": max(1, args.tokens // length)})
        for dtype in (torch.float32, torch.bfloat16):
            fused = timed(sdpa, dtype, run, False)
            unfused = [timed(functools.partial(baddbmm_softmax, budget_bytes=budget), dtype, run, False)
                       for budget, _ in budgets]
            print(f"| {length} | {run.batch} | {str(dtype).removeprefix('torch.')} | {fused:.2f} | " +
                  " | ".join(f"{t:.2f}" for t in unfused) + f" | {fused / unfused[1]:.2f}x |")  # 2 MiB: attend's budget


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=68)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head-dim", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repetitions", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--inference", action="store_true", help="forward only, over lengths 16-512 (see above)")
    p.add_argument("--tokens", type=int, default=6144, help="--inference: tokens per batch (the grid's cells)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.inference:
        return inference_table(args)
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
