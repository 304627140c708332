"""Helpers shared by bench/train_bench.py and bench/infer_bench.py: the machine line, GLUE rows, child processes
with their own peak RSS, Markdown tables. The AdapterBias patch of transformers is encoder_bench.add_adapter_bias."""
import csv
import json
import os
import platform
import subprocess
import sys
import time



def minilm_dir():
    import encoder_bench
    return encoder_bench.minilm_dir()


def add_adapter_bias(model):
    """encoder_bench.add_adapter_bias (imported here, late: it imports torch, which the ONNX Runtime rows avoid)."""
    import encoder_bench
    return encoder_bench.add_adapter_bias(model)

# GLUE tasks these benchmarks read: folder, text column, pair column (None for single sentences), label column.
GLUE_COLUMNS = {
    "sst-2": ("SST-2", "sentence", None, "label"),
    "rte": ("RTE", "sentence1", "sentence2", "label"),
    "qnli": ("QNLI", "question", "sentence", "label"),
}


def read_glue(data_dir, task, split, limit=None):
    """The first `limit` rows (all when None) of a GLUE split as dicts {text, text_pair, label}; rows are lines
    (GLUE's TSVs are unquoted), as adapterbias reads them."""
    folder, text, pair, label = GLUE_COLUMNS[task]
    rows = []
    with open(os.path.join(data_dir, folder, f"{split}.tsv"), encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        for r in reader:
            if limit is not None and len(rows) >= limit:
                break
            rows.append({"text": r[text], "text_pair": r[pair] if pair else None, "label": r[label]})
    return rows


def label_ids(rows):
    """Labels as class ids in sorted order of the label strings (as adapterbias numbers GLUE labels)."""
    names = sorted({r["label"] for r in rows})
    return [names.index(r["label"]) for r in rows], len(names)


def machine_line(threads):
    import torch
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = [f"PyTorch {torch.__version__}"]
    for name in ("transformers", "onnxruntime"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            pass
    return (f"Machine: {cpu}, {os.cpu_count()} logical CPUs; {threads} threads for every row; "
            f"Python {platform.python_version()}, {', '.join(versions)}")


def run_child(cmd, env=None, cwd=None):
    """Runs `cmd` to completion; returns (stdout, stderr, wall seconds, peak RSS of that child in MB). Raises
    RuntimeError with the tail of stderr when it fails. Peak RSS comes from wait4 on that one process."""
    with open(os.devnull, "rb") as stdin, \
            _tempfile() as out, _tempfile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n{tail}")
    return stdout, stderr, wall, usage.ru_maxrss / 1024  # Linux: ru_maxrss in KB


def _tempfile():
    import tempfile
    return tempfile.TemporaryFile()


def run_python_row(script, args):
    """Runs `script` (this interpreter) with `args`; its last stdout line is a JSON object, returned with
    "peak_rss_mb" and "wall_s" of that process added."""
    stdout, _, wall, rss = run_child([sys.executable, script, *map(str, args)])
    row = json.loads(stdout.strip().splitlines()[-1])
    row["peak_rss_mb"] = rss
    row["wall_s"] = wall
    return row


def last_json_object(text):
    """The last top-level JSON object printed in `text`: a one-line object, or an indented one that starts with a
    line "{" (adapterbias train prints its summary so)."""
    lines = text.strip().splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            try:
                return json.loads("\n".join(lines[i:]))
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object in the output:\n" + text[-2000:])


def markdown_table(header, rows, right_from=0):
    """Header and rows of strings; columns from index `right_from` on are right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i >= right_from else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def fmt_int(x):
    return f"{x:,.0f}"


def fmt_ratio(x, base):
    return f"{x / base:.2f}x" if base else "-"
