"""`predict` with several named adapters on one backbone (peft/multi_task_model.h): rows of every task share the
batches, and each row's logits equal what `predict` gives with its adapter alone (fp32, 1e-5), for every method
that can share the backbone, in input order, with text pairs and rows of different lengths. One named adapter
equals the plain `predict`. Errors name the file and line.

Tiny adapters (4 steps on 64 SST-2 rows, a large lr so that every trained tensor moved) on a tiny random BERT."""
import json
import random

import pytest

from conftest import REPO, run_cli, sst2_subset, write_jsonl
from test_adapter_cli import EXIT_INPUT, EXIT_MISMATCH, TRAIN_FLAGS, expect_error, make_tiny_bert

TOLERANCE = 1e-5
METHODS = {"ab": ["--method", "adapterbias"], "shared": ["--method", "adapterbias", "--share-alpha"],
           "bitfit": ["--method", "bitfit"], "head": ["--method", "head"], "lora": ["--method", "lora"],
           "houlsby": ["--method", "houlsby", "--bottleneck", "8"], "l0": ["--method", "adapterbias-l0"]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("multi")
    glue = sst2_subset(root / "glue", train_rows=64, dev_rows=32)
    model = make_tiny_bert(root / "model", seed=1)
    adapters = {}
    for name, flags in METHODS.items():
        out = root / name
        run_cli("train", "--model", model, "--task", "sst-2", "--data", glue, "--out", out, *TRAIN_FLAGS, "--lr", "3e-2",
                *flags)
        adapters[name] = out / "adapter.safetensors"
    return model, adapters, root


def sentences():
    lines = (REPO / "data" / "sample" / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:61]
    return [line.split("\t")[0] for line in lines]


def mixed_rows(names, seed=0):
    rng = random.Random(seed)
    texts = sentences()
    rows = []
    for i, text in enumerate(texts):
        row = {"text": text, "task": rng.choice(names)}
        if i % 3 == 0:
            row["text_pair"] = texts[(i * 7) % len(texts)]
        rows.append(row)
    return rows


def predict_lines(*args):
    return [json.loads(line) for line in run_cli("predict", *args).stdout.splitlines()]


def single_logits(model, adapter, rows, tmp_path, tag):
    inputs = write_jsonl(tmp_path / f"{tag}.jsonl", [{k: v for k, v in r.items() if k != "task"} for r in rows])
    return [line["logits"] for line in predict_lines("--model", model, "--adapter", adapter, "--input", inputs, "--logits")]


def test_mixed_batch_rows_match_their_single_task_predictions(setup, tmp_path):
    model, adapters, _ = setup
    names = list(adapters)
    rows = mixed_rows(names)
    mixed = write_jsonl(tmp_path / "mixed.jsonl", rows)
    named = [arg for name in names for arg in ("--adapter", f"{name}={adapters[name]}")]
    out = predict_lines("--model", model, *named, "--input", mixed, "--logits", "--batch-size", "16")
    assert len(out) == len(rows)
    assert [line["task"] for line in out] == [row["task"] for row in rows]  # input order kept

    worst = 0.0
    for name in names:
        picked = [i for i, row in enumerate(rows) if row["task"] == name]
        assert picked, name
        expected = single_logits(model, adapters[name], [rows[i] for i in picked], tmp_path, name)
        for i, logits in zip(picked, expected):
            worst = max(worst, max(abs(a - b) for a, b in zip(out[i]["logits"], logits)))
            assert out[i]["label"] in ("0", "1")
    assert worst < TOLERANCE, worst


def test_one_named_adapter_equals_plain_predict(setup, tmp_path):
    model, adapters, _ = setup
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"text": t} for t in sentences()[:20]])
    plain = predict_lines("--model", model, "--adapter", adapters["ab"], "--input", inputs, "--logits")
    named = predict_lines("--model", model, "--adapter", f"sst2={adapters['ab']}", "--input", inputs, "--logits")
    assert [line.pop("task") for line in named] == ["sst2"] * 20
    for a, b in zip(plain, named):
        assert a["label"] == b["label"]
        assert max(abs(x - y) for x, y in zip(a["logits"], b["logits"])) < TOLERANCE


def test_out_file_and_task_flag(setup, tmp_path):
    model, adapters, _ = setup
    out = tmp_path / "out.jsonl"
    run_cli("predict", "--model", model, "--adapter", f"a={adapters['ab']}", "--adapter", f"b={adapters['lora']}",
            "--text", "a fine film", "--text", "dull", "--task", "b", "--out", out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["id"], line["task"]) for line in lines] == [("0", "b"), ("1", "b")]


def test_errors(setup, tmp_path):
    model, adapters, root = setup
    two = ["--adapter", f"a={adapters['ab']}", "--adapter", f"b={adapters['bitfit']}"]
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"text": "x", "task": "a"}, {"text": "y", "task": "zz"}])
    expect_error(run_cli("predict", "--model", model, *two, "--input", unknown, check=False), EXIT_INPUT,
                 f"{unknown}:2", "no task 'zz'", "a, b")
    untasked = write_jsonl(tmp_path / "untasked.jsonl", [{"text": "x"}])
    expect_error(run_cli("predict", "--model", model, *two, "--input", untasked, check=False), EXIT_INPUT,
                 f"{untasked}:1", '"task"')
    # A plain file is named after its task: two SST-2 adapters need names.
    expect_error(run_cli("predict", "--model", model, "--adapter", adapters["ab"], "--adapter", adapters["bitfit"],
                         "--input", untasked, check=False), EXIT_INPUT, "'SST-2' is taken")
    expect_error(run_cli("predict", "--model", model, "--adapter", f"a={adapters['ab']}", "--adapter",
                         f"a={adapters['lora']}", "--input", untasked, check=False), EXIT_INPUT, "'a' is taken")

    glue = root / "glue"
    full = root / "full"
    run_cli("train", "--model", model, "--task", "sst-2", "--data", glue, "--out", full, *TRAIN_FLAGS, "--method", "full")
    expect_error(run_cli("predict", "--model", model, *two, "--adapter", f"f={full / 'adapter.safetensors'}", "--input",
                         untasked, check=False), EXIT_INPUT, "'full'", "merge")
    lora4 = root / "lora4"
    run_cli("train", "--model", model, "--task", "sst-2", "--data", glue, "--out", lora4, *TRAIN_FLAGS, "--method", "lora",
            "--lora-r", "4")
    expect_error(run_cli("predict", "--model", model, "--adapter", f"a={adapters['lora']}", "--adapter",
                         f"b={lora4 / 'adapter.safetensors'}", "--input", untasked, check=False), EXIT_MISMATCH, "lora")
