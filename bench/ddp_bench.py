#!/usr/bin/env python3
"""Data-parallel AdapterBias training: 1 process against 2 on this machine's cores, adapterbias (c10d Gloo,
one flat all-reduce per step) against PyTorch's DistributedDataParallel (Gloo) over transformers, one table.

  python3 bench/ddp_bench.py --bin build/src/adapterbias --data /work/shared/data/glue
  python3 bench/ddp_bench.py --rows 256            # smoke run

Workload: SST-2 train, first --rows rows (default 4,096), global batch 32, max length 128, lr 1e-3 constant,
one epoch, backbone dropout from the config, head Dropout(0.5); fp32 and bf16 (autocast on the Python side).
Every configuration uses all --cores cores: 1 process x cores threads, or N processes x cores/N threads each.

  adapterbias    `adapterbias train` (1 process) and `adapterbias train --nproc N`: each rank takes its share of
                 every length-bucketed batch; tokens/s is the group's real tokens over rank 0's step time; the
                 all-reduce column is rank 0's time in the per-step gradient all-reduce (waiting for the slower
                 rank included) and the bytes each rank sends per step.
  DDP            transformers BertModel with AdapterBias patched in (encoder_bench.add_adapter_bias), wrapped in
                 torch.nn.parallel.DistributedDataParallel (Gloo), DistributedSampler + DataCollatorWithPadding
                 (batch 32 / N per rank), started by torch.multiprocessing like torchrun; tokens/s is all ranks'
                 real tokens over rank 0's step time (forward, loss, backward with DDP's bucketed all-reduce, step).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402


def ddp_worker(rank, spec, port, queue):
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler
    from transformers import AutoTokenizer, BertModel, DataCollatorWithPadding

    world = spec["world"]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(spec["threads"])
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(spec["seed"])
    rows = _peers.read_glue(spec["data"], "sst-2", "train", spec["rows"])
    labels, num_labels = _peers.label_ids(rows)
    tokenizer = AutoTokenizer.from_pretrained(_peers.minilm_dir(), use_fast=True)
    enc = tokenizer([r["text"] for r in rows], truncation=True, max_length=128)
    dataset = [{"input_ids": enc["input_ids"][i], "token_type_ids": enc["token_type_ids"][i],
                "attention_mask": enc["attention_mask"][i], "labels": labels[i]} for i in range(len(rows))]
    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=spec["seed"])
    loader = DataLoader(dataset, batch_size=32 // world, sampler=sampler, collate_fn=DataCollatorWithPadding(tokenizer))

    backbone = BertModel.from_pretrained(_peers.minilm_dir())
    _peers.add_adapter_bias(backbone)

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = backbone
            self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(backbone.config.hidden_size, num_labels))

        def forward(self, **inputs):
            return self.head(self.backbone(**inputs).pooler_output)

    model = Classifier()
    ddp = DistributedDataParallel(model) if world > 1 else model
    decay = [p for layer in backbone.encoder.layer for p in (layer.output.v, layer.output.alpha.weight)]
    decay += [model.head[1].weight]
    decay_ids = {id(p) for p in decay}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in decay_ids]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                                  lr=1e-3)
    bf16 = spec["precision"] == "bf16"
    model.train()
    tokens, step_s, steps = 0, 0.0, 0
    for batch in loader:
        label = batch.pop("labels")
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = nn.functional.cross_entropy(ddp(**batch), label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_s += time.perf_counter() - start
        tokens += int(batch["attention_mask"].sum())
        steps += 1
    total = torch.tensor([float(tokens)])
    if world > 1:
        dist.all_reduce(total)
    if rank == 0:
        queue.put({"steps": steps, "tokens": int(total.item()), "step_s": step_s})
    dist.destroy_process_group()


def ddp_row(spec):
    import socket
    import torch.multiprocessing as mp
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    start = time.perf_counter()
    context = mp.start_processes(ddp_worker, args=(spec, port, queue), nprocs=spec["world"], start_method="spawn",
                                 join=False)
    out = queue.get()
    wall = time.perf_counter() - start
    # A finished worker sometimes hangs in interpreter shutdown (Gloo and tokenizer threads): give them a while.
    if not context.join(timeout=30):
        for process in context.processes:
            process.kill()
    return {"tokens_per_s": out["tokens"] / out["step_s"], "wall_s": wall, "steps": out["steps"],
            "allreduce": "DDP buckets"}


def adapterbias_row(args, world, threads, precision):
    with tempfile.TemporaryDirectory(prefix="ddp_bench_") as out:
        cmd = [args.bin, "train", "--model", "minilm", "--task", "sst2", "--data", args.data,
               "--max-train-examples", str(args.rows), "--epochs", "1", "--batch-size", "32", "--lr", "1e-3",
               "--precision", precision, "--out", out]
        env = dict(os.environ)
        if world > 1:
            cmd += ["--nproc", str(world)]
            env["OMP_NUM_THREADS"] = str(threads)
        else:
            cmd += ["--threads", str(threads)]
        stdout, _, wall, _ = _peers.run_child(cmd, env=env)
    s = _peers.last_json_object(stdout)
    allreduce = "-"
    if world > 1:
        allreduce = (f"{s['allreduce_bytes_per_step'] / 1024:.1f} KiB, "
                     f"{1000 * s['allreduce_seconds'] / s['steps']:.2f} ms")
    return {"tokens_per_s": s["train_tokens_per_s"], "wall_s": wall, "steps": s["steps"], "allreduce": allreduce,
            "dev": s["dev_primary"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default="build/src/adapterbias")
    p.add_argument("--data", default="/work/shared/data/glue")
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--cores", type=int, default=os.cpu_count())
    p.add_argument("--worlds", default="1,2")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--seed", type=int, default=42)
    args = p.parse_args()
    worlds = [int(w) for w in args.worlds.split(",")]
    rows = []
    for precision in args.precisions.split(","):
        base = {}
        for impl in ("adapterbias", "DDP"):
            for world in worlds:
                threads = max(1, args.cores // world)
                if impl == "adapterbias":
                    r = adapterbias_row(args, world, threads, precision)
                else:
                    r = ddp_row({"world": world, "threads": threads, "precision": precision, "rows": args.rows,
                                 "data": args.data, "seed": args.seed})
                base.setdefault(impl, r["tokens_per_s"])
                label = "adapterbias" if impl == "adapterbias" else "PyTorch DDP + transformers"
                rows.append([label, precision, f"{world} x {threads}", _peers.fmt_int(r["tokens_per_s"]),
                             _peers.fmt_ratio(r["tokens_per_s"], base[impl]), f"{r['wall_s']:.1f}", r["allreduce"]])
                print(f"{label} {precision} {world}x{threads}: {r['tokens_per_s']:.0f} tokens/s", file=sys.stderr)
    print(_peers.machine_line(f"{args.cores} (split between processes)"))
    print(f"SST-2 train, first {args.rows:,} rows, 1 epoch, global batch 32\n")
    print(_peers.markdown_table(["implementation", "precision", "processes x threads", "train tokens/s",
                                 "vs 1 process", "wall s", "all-reduce per step (bytes, time)"], rows, right_from=3))


if __name__ == "__main__":
    main()
