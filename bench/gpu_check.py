#!/usr/bin/env python3
"""CUDA check and throughput table for bench/gpu.sh (run on the device machine; prints Markdown).

A BERT-base-shaped encoder (L 12, H 768, I 3072, random weights from a config) is written as a checkpoint; then:
  1. embed parity on the GPU: adapterbias fp32 against transformers fp32, and bf16 against fp32 (max abs diff);
  2. one short AdapterBias training on the GPU (bf16, packed batches) from a generated CSV;
  3. throughput, tokens/s of real tokens: encoder_bench (forward and AdapterBias train step; packed and padded;
     fp32 and bf16) against transformers bf16 with SDPA (autocast) on the same batches, lengths 128 and mixed 8-256.

  python3 bench/gpu_check.py --out OUT --bin build-cuda/src/adapterbias --bench build-cuda/bench/encoder_bench
"""
import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from encoder_bench import add_adapter_bias  # noqa: E402


def make_checkpoint(root: Path) -> Path:
    from transformers import BertConfig, BertModel
    model_dir = root / "bert-base-random"
    if (model_dir / "config.json").exists():
        return model_dir
    words = [f"w{i}" for i in range(30522 - 5)]
    config = BertConfig(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(model_dir, safe_serialization=True)
    (model_dir / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    (model_dir / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True, "model_max_length": 512}))
    return model_dir


def sentences(n, seed, lo=4, hi=60):
    rng = random.Random(seed)
    return [" ".join(f"w{rng.randrange(30000)}" for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def embed_parity(args, model_dir: Path, out: Path):
    from safetensors.torch import load_file
    from transformers import BertModel, BertTokenizer
    texts = sentences(64, 1)
    inputs = out / "embed.jsonl"
    inputs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    results = {}
    for precision in ("fp32", "bf16"):
        path = out / f"embed-{precision}.safetensors"
        subprocess.run([args.bin, "embed", "--model", model_dir, "--input", inputs, "--output", path, "--device", "cuda",
                        "--precision", precision, "--tokens"], check=True, capture_output=True)
        results[precision] = load_file(path)
    tokenizer = BertTokenizer.from_pretrained(model_dir)
    model = BertModel.from_pretrained(model_dir).cuda().eval()
    diffs = []
    with torch.no_grad():
        for i, t in enumerate(texts):
            enc = tokenizer(t, return_tensors="pt").to("cuda")
            ref = model(**enc).last_hidden_state[0].float().cpu()
            rows = {p: r["last_hidden_state"][r["offsets"][i]:r["offsets"][i + 1]] for p, r in results.items()}
            diffs.append(((rows["fp32"] - ref).abs().max().item(), (rows["bf16"] - ref).abs().max().item()))
    return max(d[0] for d in diffs), max(d[1] for d in diffs)


def short_training(args, model_dir: Path, out: Path):
    rows = ["text,label"]
    for t in sentences(2000, 3):
        rows.append(f"{t},{'pos' if int(t.split()[0][1:]) % 2 else 'neg'}")
    (out / "toy.csv").write_text("\n".join(rows) + "\n")
    proc = subprocess.run([args.bin, "train", "--model", model_dir, "--task", "toy", "--train", out / "toy.csv",
                           "--dev", out / "toy.csv", "--max-train-examples", "2000", "--epochs", "1", "--lr", "1e-3",
                           "--device", "cuda", "--precision", "bf16", "--out", out / "toy-run", "--seed", "1", "--overwrite"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"GPU training failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def bench_ours(args, model_dir, mode, precision, layout, min_length):
    cmd = [args.bench, "--model", model_dir, "--device", "cuda", "--mode", mode, "--precision", precision,
           "--layout", layout, "--batch", str(args.batch), "--length", str(args.length), "--repetitions", "20"]
    if min_length:
        cmd += ["--min-length", str(min_length)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def bench_transformers(args, model_dir, mode, min_length):
    from transformers import BertModel
    model = BertModel.from_pretrained(model_dir, attn_implementation="sdpa").cuda()
    head = torch.nn.Linear(768, 2).cuda()
    params = add_adapter_bias(model) + list(head.parameters())
    model.cuda()
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    rng = random.Random(0)
    total_tokens, total_time = 0, 0.0
    for r in range(22):
        lengths = [rng.randint(min_length, args.length) if min_length else args.length for _ in range(args.batch)]
        T = max(lengths)
        ids = torch.randint(1000, 30000, (args.batch, T), device="cuda")
        mask = torch.zeros(args.batch, T, dtype=torch.long, device="cuda")
        for b, n in enumerate(lengths):
            mask[b, :n] = 1
        labels = torch.randint(0, 2, (args.batch,), device="cuda")
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            if mode == "forward":
                model.eval()
                with torch.no_grad():
                    model(input_ids=ids, attention_mask=mask)
            else:
                model.train()
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(head(model(input_ids=ids, attention_mask=mask).pooler_output).float(), labels)
        if mode == "train":
            loss.backward()
            optimizer.step()
        torch.cuda.synchronize()
        if r >= 2:
            total_time += time.perf_counter() - start
            total_tokens += sum(lengths)
    return {"tokens_per_s": total_tokens / total_time}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--bin", required=True)
    p.add_argument("--bench", required=True)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=128)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model_dir = make_checkpoint(args.out)
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}\n")
    fp32_diff, bf16_diff = embed_parity(args, model_dir, args.out)
    print(f"embed on CUDA against transformers fp32 (64 random sentences): max abs diff fp32 {fp32_diff:.2e}, "
          f"bf16 {bf16_diff:.2e}\n")
    summary = short_training(args, model_dir, args.out)
    print(f"short AdapterBias training on CUDA (bf16, packed): {summary['steps']} steps, "
          f"{summary['train_tokens_per_s']:,.0f} tokens/s, dev {summary['dev_metric']} {summary['dev_primary']:.3f}\n")
    print(f"BERT-base shape (random weights), batch {args.batch}, real tokens/s\n")
    print("| mode | lengths | implementation | precision | layout | tokens/s |")
    print("|---|---|---|---|---|---:|")
    for mode in ("train", "forward"):
        for min_length in (0, 8):
            lengths = f"{args.length}" if not min_length else f"mixed {min_length}-{256}"
            for precision in ("fp32", "bf16"):
                for layout in ("padded", "packed"):
                    r = bench_ours(args if not min_length else argparse.Namespace(**{**vars(args), "length": 256}),
                                   model_dir, mode, precision, layout, min_length)
                    print(f"| {mode} | {lengths} | adapterbias | {precision} | {layout} | {r['tokens_per_s']:,.0f} |")
            t = bench_transformers(args if not min_length else argparse.Namespace(**{**vars(args), "length": 256}),
                                   model_dir, mode, min_length)
            print(f"| {mode} | {lengths} | transformers (SDPA) | bf16 autocast | padded | {t['tokens_per_s']:,.0f} |")


if __name__ == "__main__":
    main()
