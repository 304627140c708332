"""Hostile and careless inputs (issue 11): each class gives one error line naming the file and line, tensor or
field, with its exit code (2 usage, 3 input, 4 format, 5 mismatch), and nothing outside the output, or any
input, changes. Shares test_adapter_cli's tiny BERT and adapters."""
import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import adapterbias_bin, run_cli, write_jsonl
from test_adapter_cli import (EXIT_FORMAT, EXIT_INPUT, EXIT_MISMATCH, edit_info, expect_error, glue,  # noqa: F401
                              make_tiny_bert, rewrite, tiny, tiny_adapters, train)

EXIT_USAGE = 2


def digest(folder: Path):
    """{relative path: sha256} of every file under `folder`: what a command must leave unchanged."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def predict(tiny, tiny_adapters, *args, **kwargs):
    return run_cli("predict", "--model", tiny, "--adapter", tiny_adapters["plain"], *args, check=False, **kwargs)


# ---- NUL bytes and invalid UTF-8: exact row counts, file:line, skippable -----------------------------------------

@pytest.mark.parametrize("name, text", [
    ("in.csv", "text,label\nfine,1\nbad\0 row,0\nnice,1\nawful,0\n"),
    ("in.tsv", "text\tlabel\nfine\t1\nbad\0 row\t0\nnice\t1\nawful\t0\n"),
])
def test_nul_byte_in_a_row_names_file_and_line(tiny, tiny_adapters, tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode())
    expect_error(predict(tiny, tiny_adapters, "--input", path), EXIT_INPUT, f"{path}:3", "NUL byte")


def test_nul_byte_in_jsonl_and_glue_rows(tiny, tiny_adapters, glue, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"text": "good"}\n{"text": "ba\0d"}\n{"text": "ok"}\n{"text": "fine"}\n')
    expect_error(predict(tiny, tiny_adapters, "--input", path), EXIT_INPUT, f"{path}:2")
    # A GLUE dev file with a NUL row: the error names it; --skip-bad-rows counts it, and every other row is kept.
    root = tmp_path / "glue"
    (root / "SST-2").mkdir(parents=True)
    lines = (glue / "SST-2" / "dev.tsv").read_bytes().splitlines(True)[:5]
    lines[2] = lines[2].replace(b" ", b"\0", 1)
    (root / "SST-2" / "dev.tsv").write_bytes(b"".join(lines))
    args = ["eval", "--model", tiny, "--adapter", tiny_adapters["plain"], "--data", root]
    expect_error(run_cli(*args, check=False), EXIT_INPUT, f"{root / 'SST-2' / 'dev.tsv'}:3", "NUL byte")
    proc = run_cli(*args, "--skip-bad-rows")
    assert "skipped 1 of 4 rows" in proc.stderr
    assert json.loads(proc.stdout)["n"] == 3


def test_invalid_utf8_names_file_and_line_and_is_skippable(tiny, tiny_adapters, tmp_path):
    path = tmp_path / "in.tsv"
    path.write_bytes(b"text\tlabel\nfine\t1\ncaf\xe9\t0\nnice\t1\nbad\t0\n")
    expect_error(predict(tiny, tiny_adapters, "--input", path), EXIT_INPUT, f"{path}:3", "invalid UTF-8 at byte 3")
    train_args = ["train", "--model", tiny, "--train", path, "--out", tmp_path / "run", "--max-steps", 1]
    expect_error(run_cli(*train_args, check=False), EXIT_INPUT, f"{path}:3", "invalid UTF-8")
    proc = run_cli(*train_args, "--skip-bad-rows", "--threads", 1)
    assert "skipped 1 of 4 rows" in proc.stderr


def test_files_that_are_not_text_files(tiny, tiny_adapters, tmp_path):
    nul = tmp_path / "zeros.jsonl"
    nul.write_bytes(b"\0" * 64)
    expect_error(predict(tiny, tiny_adapters, "--input", nul), EXIT_INPUT, f"{nul}:1")
    expect_error(predict(tiny, tiny_adapters, "--input", tmp_path), EXIT_INPUT, str(tmp_path), "is a folder")
    loop = tmp_path / "loop.jsonl"
    loop.symlink_to(loop)
    expect_error(predict(tiny, tiny_adapters, "--input", loop), EXIT_INPUT, str(loop), "symlink loop")
    expect_error(predict(tiny, tiny_adapters, "--input", tmp_path / "absent.jsonl"), EXIT_INPUT, "no such file")


# ---- bounded memory: a small .gz that inflates to one enormous line -------------------------------------------

def test_gzip_bomb_line_is_capped(tiny, tmp_path):
    path = tmp_path / "train.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"text,label\n")
        f.write(b"a" * (8 << 20))  # one 8 MiB line: 8 KiB compressed
    assert path.stat().st_size < 64 << 10
    proc = run_cli("train", "--model", tiny, "--train", path, "--out", tmp_path / "run", "--max-line-bytes", 1 << 20,
                   check=False)
    expect_error(proc, EXIT_INPUT, f"{path}:2", "longer than 1048576 bytes", "--max-line-bytes")
    assert not (tmp_path / "run" / "adapter.safetensors").exists()


# ---- outputs: never an input, never replaced silently, never a folder ------------------------------------------

def test_outputs_that_are_inputs_or_exist(tiny, tiny_adapters, tmp_path):
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"text": "a fine film"}, {"text": "dull"}])
    before = digest(tmp_path)
    embed = ["embed", "--model", tiny, "--input", inputs]
    expect_error(run_cli(*embed, "--output", inputs, "--overwrite", check=False), EXIT_INPUT, "is an input")
    expect_error(run_cli("explain", "--model", tiny, "--adapter", tiny_adapters["plain"], "--input", inputs,
                         "--out", inputs, "--overwrite", check=False), EXIT_INPUT, "is an input")
    expect_error(run_cli(*embed, "--output", tmp_path, check=False), EXIT_INPUT, "is a folder")
    assert digest(tmp_path) == before  # nothing replaced, no temporary file left behind

    out = tmp_path / "out.safetensors"
    run_cli(*embed, "--output", out)
    first = out.read_bytes()
    expect_error(run_cli(*embed, "--output", out, check=False), EXIT_INPUT, str(out), "exists", "--overwrite")
    assert out.read_bytes() == first
    run_cli(*embed, "--output", out, "--overwrite")


def test_submission_file_is_not_the_test_input(tiny, tiny_adapters, tmp_path):
    test = tmp_path / "test.tsv"
    test.write_text("text\na charming journey .\nbleak\n")
    before = test.read_bytes()
    args = ["--split", "test", "--test", test]
    expect_error(predict(tiny, tiny_adapters, *args, "--out", test, "--overwrite"), EXIT_INPUT, "is an input")
    assert test.read_bytes() == before
    out = tmp_path / "out"
    predict(tiny, tiny_adapters, *args, "--out", out).check_returncode()
    expect_error(predict(tiny, tiny_adapters, *args, "--out", out), EXIT_INPUT, "exists", "--overwrite")
    predict(tiny, tiny_adapters, *args, "--out", out, "--overwrite").check_returncode()


def test_merge_never_writes_over_its_inputs(tiny, tiny_adapters, tmp_path):
    out = tmp_path / "merged"
    run_cli("merge", "--model", tiny, "--adapter", tiny_adapters["plain"], "--out", out)
    before = digest(out)
    expect_error(run_cli("merge", "--model", tiny, "--adapter", tiny_adapters["plain"], "--out", out, check=False),
                 EXIT_INPUT, "exists", "--overwrite")
    assert digest(out) == before
    (tmp_path / "file").write_text("x")
    expect_error(run_cli("merge", "--model", tiny, "--adapter", tiny_adapters["plain"], "--out", tmp_path / "file",
                         check=False), EXIT_INPUT, "is a file, expected a folder")


# ---- adapters with impossible numbers --------------------------------------------------------------------------

def test_adapter_with_nan_or_wrong_dtype(tiny, tiny_adapters, tmp_path):
    name = "encoder.layer.0.output.adapter_bias.v"

    def poison(tensors):
        tensors[name] = tensors[name].clone()
        tensors[name][0] = float("nan")

    nan = rewrite(tiny_adapters["plain"], tmp_path / "nan.safetensors", edit_tensors=poison)
    expect_error(predict(tiny, {"plain": nan}, "--text", "x"), EXIT_FORMAT, str(nan), f"'{name}'", "NaN")
    half = rewrite(tiny_adapters["plain"], tmp_path / "half.safetensors",
                   edit_tensors=lambda t: t.update({name: t[name].half()}))
    expect_error(predict(tiny, {"plain": half}, "--text", "x"), EXIT_FORMAT, f"'{name}'", "F32")
    trailing = tmp_path / "trailing.safetensors"
    trailing.write_bytes(tiny_adapters["plain"].read_bytes() + b"\0" * 16)
    expect_error(predict(tiny, {"plain": trailing}, "--text", "x"), EXIT_FORMAT, "16 trailing bytes")


@pytest.mark.parametrize("labels, fragment", [(["0", "0"], "label '0' twice"), (["0", "a\tb"], "tab or line break")])
def test_adapter_with_bad_label_names(tiny, tiny_adapters, tmp_path, labels, fragment):
    bad = rewrite(tiny_adapters["plain"], tmp_path / "labels.safetensors",
                  edit_metadata=lambda m: edit_info(m, lambda info: info.update(labels=labels)))
    expect_error(predict(tiny, {"plain": bad}, "--text", "x"), EXIT_FORMAT, str(bad), fragment)


# ---- labels and --init-adapter ---------------------------------------------------------------------------------

def test_degenerate_label_sets(tiny, tmp_path):
    one = tmp_path / "one.csv"
    one.write_text("text,label\na,pos\nb,pos\n")
    expect_error(run_cli("train", "--model", tiny, "--train", one, "--out", tmp_path / "r1", check=False), EXIT_INPUT,
                 str(one), "one label ('pos')", "--regression")
    # Surrounding spaces are not part of a label: " pos" and "pos" are one class (docs/data.md).
    spaced = tmp_path / "spaced.csv"
    spaced.write_text("text,label\na, pos\nb,pos \nc,neg\n")
    run_cli("train", "--model", tiny, "--train", spaced, "--out", tmp_path / "r2", "--max-steps", 1, "--threads", 1)
    info = json.loads(run_cli("inspect", tmp_path / "r2" / "adapter.safetensors", "--json").stdout)["metadata"]
    assert info["labels"] == ["neg", "pos"]


def test_init_adapter_from_another_backbone_or_task(tiny, tiny_adapters, glue, tmp_path):
    other = make_tiny_bert(tmp_path / "other", seed=1)
    expect_error(run_cli("train", "--model", other, "--task", "sst-2", "--data", glue, "--out", tmp_path / "r1",
                         "--init-adapter", tiny_adapters["plain"], check=False),
                 EXIT_MISMATCH, "another backbone", "fingerprint")
    three = tmp_path / "three.csv"
    three.write_text("text,label\na,x\nb,y\nc,z\n")
    expect_error(run_cli("train", "--model", tiny, "--train", three, "--out", tmp_path / "r2",
                         "--init-adapter", tiny_adapters["plain"], check=False),
                 EXIT_MISMATCH, "labels [0, 1]", "labels [x, y, z]")


# ---- flags: nothing accepted and ignored -----------------------------------------------------------------------

def test_repeated_text_predicts_each(tiny, tiny_adapters):
    proc = predict(tiny, tiny_adapters, "--text", "a fine film", "--text", "dull", "--text", "ok")
    assert len(proc.stdout.splitlines()) == 3
    expect_error(predict(tiny, tiny_adapters, "--text", "a", "--text", "b", "--text-pair", "c"), EXIT_INPUT,
                 "one --text-pair per --text")


def test_predict_input_csv_with_named_columns_and_stdin(tiny, tiny_adapters, tmp_path):
    csv = tmp_path / "in.csv"
    csv.write_text('id,review\n1,"a fine, warm film"\n2,dull\n')
    by_csv = predict(tiny, tiny_adapters, "--input", csv, "--text-column", "review").stdout.splitlines()
    expect_error(predict(tiny, tiny_adapters, "--input", csv), EXIT_INPUT, "column named 'text'", "review")
    jsonl = '{"review": "a fine, warm film"}\n{"review": "dull"}\n'
    by_stdin = predict(tiny, tiny_adapters, "--input", "-", "--text-column", "review", input=jsonl)
    assert by_stdin.stdout.splitlines() == by_csv and len(by_csv) == 2
    # To a file: one line per input with its id, label and probabilities.
    out = tmp_path / "predictions.jsonl"
    predict(tiny, tiny_adapters, "--input", csv, "--text-column", "review", "--id-column", "id", "--out", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["id"] for line in lines] == ["1", "2"]
    assert [{k: v for k, v in line.items() if k != "id"} for line in lines] == [json.loads(x) for x in by_csv]
    expect_error(predict(tiny, tiny_adapters, "--input", csv, "--text-column", "review", "--out", tmp_path / "p.tsv"),
                 EXIT_INPUT, "a .jsonl file")


def test_train_refuses_flags_it_would_ignore(tiny, glue, tmp_path):
    expect_error(run_cli("train", "--model", tiny, "--task", "sst-2", "--data", glue, "--out", tmp_path / "r",
                         "--test", tmp_path / "missing.tsv", check=False), EXIT_INPUT, "--test", "predict --split test")
    proc = run_cli("train", "--model", tiny, "--task", "sst-2", "--data", glue, "--out", tmp_path / "r",
                   "--max-train-examples", -3, check=False)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "--max-train-examples" in proc.stderr and "-1 for all" in proc.stderr


@pytest.mark.parametrize("args", [["predict", "--bogus"], ["predict", "--batch-size", "-1"], ["train", "--threads", "x"],
                                  ["nosuchcommand"]])
def test_usage_errors_exit_2_with_readable_messages(args):
    proc = subprocess.run([adapterbias_bin(), *args], capture_output=True, text=True)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "179769" not in proc.stderr  # CLI11's printed double range


def test_eval_every_evaluates_each_step_once(tiny, glue, tmp_path):
    # An --eval-every step that is also an epoch's last is evaluated once, with its real training loss.
    out = tmp_path / "run"
    run_cli("train", "--model", tiny, "--task", "sst-2", "--data", glue, "--out", out, "--max-train-examples", 32,
            "--batch-size", 8, "--epochs", 2, "--eval-every", 2, "--threads", 1)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4, 6, 8]
    assert all(r["train_loss"] == r["train_loss"] for r in records)  # no NaN
