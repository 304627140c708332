"""The adapter subcommands end to end: train -> eval reproduces the stored dev metrics; merge -> transformers'
AutoModelForSequenceClassification gives our logits; inspect shows what the file holds; bad adapter files and
bad JSONL inputs give one-line errors naming the file with exit codes 3 (input), 4 (format), 5 (mismatch).

Kept fast: tiny adapters (4 steps on 64 examples), a 128-row dev set cut from data/sample/SST-2, and a tiny
random BERT (hidden 32) that borrows MiniLM's WordPiece tokenizer for everything that does not need MiniLM."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from conftest import REPO, minilm_dir, run_cli, sst2_subset, write_jsonl

EXIT_INPUT, EXIT_FORMAT, EXIT_MISMATCH = 3, 4, 5

# Merged vs adapter logits: the fold W2 + v w^T only reorders fp32 sums, and transformers runs the same
# encoder math (unpadded here, padded batches in ours), so they agree to rounding.
LOGIT_TOLERANCE = 1e-5

TRAIN_FLAGS = ["--epochs", 1, "--max-steps", 4, "--batch-size", 16, "--max-train-examples", 64, "--threads", 2]
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]


# ---- fixtures: data, tiny backbones, trained adapters ---------------------------------------------------------

@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    """A GLUE root holding SST-2/{train,dev}.tsv: the sample's first 64 train and 128 dev rows, plus a test.tsv."""
    root = sst2_subset(tmp_path_factory.mktemp("glue"), train_rows=64, dev_rows=128)
    sample = REPO / "data" / "sample" / "SST-2"
    dev = (sample / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:9]
    test = ["index\tsentence"] + [f"{i}\t{line.split(chr(9))[0]}" for i, line in enumerate(dev)]
    (root / "SST-2" / "test.tsv").write_text("\n".join(test) + "\n", encoding="utf-8")
    return root


def make_tiny_bert(path: Path, seed: int) -> Path:
    from transformers import BertConfig, BertModel
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(path)
    for name in TOKENIZER_FILES:
        if (minilm_dir() / name).exists():
            shutil.copy(minilm_dir() / name, path / name)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "model", seed=0)


def train(model, glue_root, out, *extra):
    run_cli("train", "--model", model, "--task", "sst-2", "--data", glue_root, "--out", out, *TRAIN_FLAGS, *extra)
    return out / "adapter.safetensors"


@pytest.fixture(scope="module")
def tiny_adapters(tiny, glue, tmp_path_factory):
    """Plain and --share-alpha adapters on the tiny BERT; a large lr so that v is far from 0."""
    root = tmp_path_factory.mktemp("tiny_adapters")
    return {"plain": train(tiny, glue, root / "plain", "--lr", "3e-2"),
            "shared": train(tiny, glue, root / "shared", "--lr", "3e-2", "--share-alpha")}


def expect_error(proc, code, *fragments):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ---- eval: the stored best dev metrics come back ----------------------------------------------------------------

def test_eval_reproduces_training_metrics(glue, tmp_path):
    adapter = train("minilm", glue, tmp_path / "run", "--lr", "1e-3")
    stored = json.loads(safe_open(str(adapter), "pt").metadata()["adapterbias"])["metrics"]
    # The task comes from the adapter's metadata: no --task.
    out = json.loads(run_cli("eval", "--model", "minilm", "--adapter", adapter, "--data", glue, "--threads", 2).stdout)
    assert out["task"] == "SST-2" and out["split"] == "dev" and out["n"] == 128
    assert out["primary"] == "accuracy"
    assert out["accuracy"] == stored["accuracy"]


def test_eval_own_data_uses_adapter_labels(tiny, tiny_adapters, glue, tmp_path):
    # The same dev rows as a JSONL file: own-data flags, labels taken from the adapter.
    rows = [line.split("\t") for line in (glue / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    dev = write_jsonl(tmp_path / "dev.jsonl", [{"text": t, "label": l} for t, l in rows])
    glue_out = json.loads(run_cli("eval", "--model", tiny, "--adapter", tiny_adapters["plain"], "--data", glue).stdout)
    own_out = json.loads(run_cli("eval", "--model", tiny, "--adapter", tiny_adapters["plain"], "--task", "mine",
                                 "--dev", dev).stdout)
    assert own_out["n"] == glue_out["n"] == 128
    assert own_out["accuracy"] == glue_out["accuracy"]


# ---- merge: transformers loads the folder and gives our logits --------------------------------------------------

INPUTS = [{"text": "a charming and often affecting journey ."},
          {"text": "unflinchingly bleak and desperate", "text_pair": "nothing good here"},
          {"text": "the movie is long , but every minute is worth it ."}]


@pytest.mark.parametrize("kind", ["plain", "shared"])
def test_merge_matches_transformers(kind, tiny, tiny_adapters, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    adapter = tiny_adapters[kind]
    out = tmp_path / "merged"
    summary = json.loads(run_cli("merge", "--model", tiny, "--adapter", adapter, "--out", out).stdout)
    assert summary["architecture"] == "BertForSequenceClassification"
    assert summary["max_abs_logit_diff"] < LOGIT_TOLERANCE
    for name in ["config.json", "model.safetensors", *TOKENIZER_FILES]:
        assert (out / name).exists(), name

    # The fold itself: W2' = W2 + v w^T, b2' = b2 + v b, with the layer's (or the shared) L_alpha.
    source, merged, trained = load_file(str(tiny / "model.safetensors")), load_file(str(out / "model.safetensors")), \
        load_file(str(adapter))
    for layer in range(2):
        prefix = f"encoder.layer.{layer}.output"
        alpha = "encoder.adapter_bias.alpha" if kind == "shared" else f"{prefix}.adapter_bias.alpha"
        v, w, b = trained[f"{prefix}.adapter_bias.v"], trained[f"{alpha}.weight"][0], trained[f"{alpha}.bias"][0]
        assert v.abs().max() > 1e-3, "v barely trained: the merge check would be vacuous"
        torch.testing.assert_close(merged[f"bert.{prefix}.dense.weight"],
                                   source[f"{prefix}.dense.weight"] + torch.outer(v, w), atol=1e-6, rtol=0)
        torch.testing.assert_close(merged[f"bert.{prefix}.dense.bias"],
                                   source[f"{prefix}.dense.bias"] + v * b, atol=1e-6, rtol=0)
        assert torch.equal(merged[f"bert.{prefix}.LayerNorm.weight"], trained[f"{prefix}.LayerNorm.weight"])
    assert torch.equal(merged["classifier.weight"], trained["classifier.weight"])

    inputs = write_jsonl(tmp_path / "inputs.jsonl", INPUTS)
    ours = [json.loads(line) for line in
            run_cli("predict", "--model", tiny, "--adapter", adapter, "--input", inputs, "--logits").stdout.splitlines()]
    assert len(ours) == len(INPUTS)
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert model.config.id2label == {0: "0", 1: "1"}
    with torch.no_grad():
        for row, pred in zip(INPUTS, ours):
            enc = tokenizer(row["text"], row.get("text_pair"), return_tensors="pt", truncation=True, max_length=128)
            theirs = model(**enc).logits[0]
            torch.testing.assert_close(torch.tensor(pred["logits"], dtype=torch.float32), theirs,
                                       atol=LOGIT_TOLERANCE, rtol=0)
            assert pred["label"] == model.config.id2label[int(theirs.argmax())]
            probs = torch.softmax(theirs.double(), 0)
            assert pred["probabilities"]["1"] == pytest.approx(float(probs[1]), abs=1e-5)


def test_merge_regression(tiny, tmp_path):
    # Own data with numeric labels: one output, problem_type regression, predict prints {"score": x}.
    texts = [line.split("\t")[0] for line in (REPO / "data/sample/SST-2/train.tsv").read_text().splitlines()[1:65]]
    rows = [{"text": t, "label": (len(t) % 50) / 10.0} for t in texts]
    data = write_jsonl(tmp_path / "scores.jsonl", rows)
    run_cli("train", "--model", tiny, "--task", "lengthy", "--train", data, "--dev", data, "--regression",
            "--out", tmp_path / "run", "--lr", "3e-2", *TRAIN_FLAGS)
    adapter = tmp_path / "run" / "adapter.safetensors"
    run_cli("merge", "--model", tiny, "--adapter", adapter, "--out", tmp_path / "merged")

    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "merged").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "merged")
    assert model.config.problem_type == "regression" and model.config.num_labels == 1
    ours = json.loads(run_cli("predict", "--model", tiny, "--adapter", adapter, "--text", texts[0]).stdout)
    assert set(ours) == {"score"}
    with torch.no_grad():
        theirs = model(**tokenizer(texts[0], return_tensors="pt")).logits[0, 0]
    assert ours["score"] == pytest.approx(float(theirs), abs=LOGIT_TOLERANCE)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_head_on_another_pooling_matches_transformers(pooling, tiny, glue, tmp_path):
    """train --pooling: the head reads the mean (or first token) of the last hidden states; predict's logits equal
    transformers' BertModel pooled the same way through the adapter's head, the adapter records the pooling, eval
    reproduces the stored metric."""
    from transformers import AutoTokenizer, BertModel
    adapter = train(tiny, glue, tmp_path / "run", "--method", "head", "--lr", "3e-2", "--pooling", pooling)
    with safe_open(str(adapter), "pt") as f:
        info = json.loads(f.metadata()["adapterbias"])
    assert info["pooling"] == pooling
    head = load_file(str(adapter))
    assert head["classifier.weight"].abs().max() > 1e-3

    inputs = write_jsonl(tmp_path / "inputs.jsonl", INPUTS)
    ours = torch.tensor([json.loads(line)["logits"] for line in run_cli(
        "predict", "--model", tiny, "--adapter", adapter, "--input", inputs, "--logits").stdout.splitlines()])
    tokenizer, bert = AutoTokenizer.from_pretrained(tiny), BertModel.from_pretrained(tiny).eval()
    with torch.no_grad():
        pooled = []
        for r in INPUTS:  # one input at a time (one of them a text pair): no padding to mask out
            hidden = bert(**tokenizer(r["text"], r.get("text_pair"), return_tensors="pt")).last_hidden_state[0]
            pooled.append(hidden.mean(0) if pooling == "mean" else hidden[0])
        theirs = torch.stack(pooled) @ head["classifier.weight"].T + head["classifier.bias"]
    assert (ours - theirs).abs().max() < LOGIT_TOLERANCE

    out = json.loads(run_cli("eval", "--model", tiny, "--adapter", adapter, "--data", glue).stdout)
    assert out["accuracy"] == info["metrics"]["accuracy"]


def test_merge_refuses_a_head_on_another_pooling(tiny, tiny_adapters, tmp_path):
    path = rewrite(tiny_adapters["plain"], tmp_path / "mean.safetensors",
                   edit_metadata=lambda m: edit_info(m, lambda i: i.update(pooling="mean")))
    expect_error(run_cli("merge", "--model", tiny, "--adapter", path, "--out", tmp_path / "merged", check=False),
                 EXIT_INPUT, "reads the mean pooling")
    assert not (tmp_path / "merged").exists()


def test_bad_pooling_in_metadata(tiny, tiny_adapters, tmp_path):
    path = rewrite(tiny_adapters["plain"], tmp_path / "bad.safetensors",
                   edit_metadata=lambda m: edit_info(m, lambda i: i.update(pooling="../max")))
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "'pooling' is '../max'")


def test_merge_refuses_the_backbone_folder(tiny, tiny_adapters):
    expect_error(run_cli("merge", "--model", tiny, "--adapter", tiny_adapters["plain"], "--out", tiny, check=False),
                 EXIT_INPUT, "backbone's own folder")


# ---- predict and inspect ------------------------------------------------------------------------------------------

def test_predict_text_and_submission(tiny, tiny_adapters, glue, tmp_path):
    adapter = tiny_adapters["plain"]
    one = json.loads(run_cli("predict", "--model", tiny, "--adapter", adapter, "--text", "a fine film").stdout)
    assert set(one) == {"label", "label_id", "probabilities"}
    assert one["label"] in ("0", "1") and one["label"] == str(one["label_id"])
    assert sum(one["probabilities"].values()) == pytest.approx(1.0)

    run_cli("predict", "--model", tiny, "--adapter", adapter, "--split", "test", "--data", glue, "--out", tmp_path)
    rows = (tmp_path / "SST-2.tsv").read_text().splitlines()
    assert rows[0] == "index\tprediction" and len(rows) == 9
    assert all(r.split("\t")[1] in ("0", "1") for r in rows[1:])


def test_inspect(tiny_adapters):
    adapter = tiny_adapters["shared"]
    doc = json.loads(run_cli("inspect", adapter, "--json").stdout)
    assert doc["file_bytes"] == adapter.stat().st_size
    assert doc["metadata"]["method_options"] == {"share_alpha": True}
    assert doc["metadata"]["task"] == "SST-2"
    names = {t["name"]: t for t in doc["tensors"]}
    assert names["encoder.adapter_bias.alpha.weight"]["shape"] == [1, 64]
    assert names["encoder.layer.1.output.adapter_bias.v"]["count"] == 32
    assert "encoder.layer.0.output.adapter_bias.alpha.weight" not in names
    assert doc["trainable_parameters"] == sum(t["count"] for t in doc["tensors"])
    assert doc["trainable_share"] == pytest.approx(doc["trainable_parameters"] / doc["backbone_parameters"])

    text = run_cli("inspect", adapter).stdout
    assert f"({adapter.stat().st_size} bytes)" in text
    assert "encoder.layer.0.output.LayerNorm.bias" in text
    assert f"trainable params: {doc['trainable_parameters']}" in text


# ---- bad adapter files ---------------------------------------------------------------------------------------------

def predict_with(model, adapter):
    return run_cli("predict", "--model", model, "--adapter", adapter, "--text", "hello", check=False)


def rewrite(adapter, path, edit_tensors=None, edit_metadata=None):
    tensors = load_file(str(adapter))
    with safe_open(str(adapter), "pt") as f:
        metadata = dict(f.metadata())
    if edit_tensors:
        edit_tensors(tensors)
    if edit_metadata:
        edit_metadata(metadata)
    save_file(tensors, str(path), metadata=metadata)
    return path


def edit_info(metadata, edit):
    info = json.loads(metadata["adapterbias"])
    edit(info)
    metadata["adapterbias"] = json.dumps(info)


@pytest.mark.parametrize("task", ["../escaped", "/tmp/escaped", "..", "a\nb"])
def test_predict_names_no_file_outside_out_from_metadata(tiny, tiny_adapters, tmp_path, task):
    # A shared adapter's task name becomes the submission file's name: it must stay one file inside --out.
    adapter = rewrite(tiny_adapters["plain"], tmp_path / "shared.safetensors",
                      edit_metadata=lambda m: edit_info(m, lambda info: info.update(task=task)))
    (tmp_path / "test.csv").write_text("text\na charming journey .\nbleak\n")
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("predict", "--model", tiny, "--adapter", adapter, "--split", "test", "--test", tmp_path / "test.csv",
                   "--out", out, check=False)
    expect_error(proc, EXIT_INPUT, "the task name", "cannot name a file")
    assert list(out.iterdir()) == [] and not (tmp_path / "escaped.tsv").exists()
    assert not Path("/tmp/escaped.tsv").exists()


def test_not_a_safetensors_file(tiny, tmp_path):
    path = tmp_path / "notes.safetensors"
    path.write_text("hello")
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "truncated")


def test_truncated_file(tiny, tiny_adapters, tmp_path):
    path = tmp_path / "cut.safetensors"
    path.write_bytes(tiny_adapters["plain"].read_bytes()[:-100])
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "truncated")


def test_no_adapter_metadata(tiny, tiny_adapters, tmp_path):
    path = rewrite(tiny_adapters["plain"], tmp_path / "plain.safetensors", edit_metadata=lambda m: m.pop("adapterbias"))
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "not an adapter file")
    expect_error(run_cli("inspect", path, check=False), EXIT_FORMAT, str(path), "not an adapter file")


def test_metadata_not_json(tiny, tiny_adapters, tmp_path):
    path = rewrite(tiny_adapters["plain"], tmp_path / "bad.safetensors",
                   edit_metadata=lambda m: m.update({"adapterbias": "{\"method\": "}))
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "metadata is not valid JSON")


def test_wrong_format_version(tiny, tiny_adapters, tmp_path):
    path = rewrite(tiny_adapters["plain"], tmp_path / "v9.safetensors",
                   edit_metadata=lambda m: edit_info(m, lambda i: i.update({"format_version": 9})))
    expect_error(predict_with(tiny, path), EXIT_FORMAT, str(path), "format version 9")


def test_missing_tensor(tiny, tiny_adapters, tmp_path):
    name = "encoder.layer.1.output.adapter_bias.v"
    path = rewrite(tiny_adapters["plain"], tmp_path / "missing.safetensors", edit_tensors=lambda t: t.pop(name))
    expect_error(predict_with(tiny, path), EXIT_MISMATCH, str(path), f"no tensor '{name}'")


def test_extra_tensor(tiny, tiny_adapters, tmp_path):
    name = "encoder.layer.0.attention.output.adapter_bias.v"
    path = rewrite(tiny_adapters["plain"], tmp_path / "extra.safetensors",
                   edit_tensors=lambda t: t.update({name: torch.zeros(32)}))
    expect_error(predict_with(tiny, path), EXIT_MISMATCH, str(path), f"unexpected tensor '{name}'")


def test_wrong_shape(tiny, tiny_adapters, tmp_path):
    name = "encoder.layer.0.output.adapter_bias.v"
    path = rewrite(tiny_adapters["plain"], tmp_path / "shape.safetensors",
                   edit_tensors=lambda t: t.update({name: torch.zeros(31)}))
    expect_error(predict_with(tiny, path), EXIT_MISMATCH, str(path), f"'{name}'", "[31]", "[32]")


def test_adapter_for_another_backbone(tiny, tiny_adapters, glue, tmp_path):
    adapter = tiny_adapters["plain"]
    # Other sizes: MiniLM (hidden 384) with the tiny model's adapter.
    proc = run_cli("eval", "--model", "minilm", "--adapter", adapter, "--data", glue, check=False)
    expect_error(proc, EXIT_MISMATCH, str(adapter), "another backbone", "hidden_size")
    # Same sizes, other weights: only the fingerprint tells them apart.
    other = make_tiny_bert(tmp_path / "other", seed=1)
    expect_error(predict_with(other, adapter), EXIT_MISMATCH, str(adapter), "another backbone", "fingerprint")


# ---- bad JSONL for predict --input -----------------------------------------------------------------------------------

def test_predict_input_not_json(tiny, tiny_adapters, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text('{"text": "fine"}\n\n{"text": oops}\n')
    proc = run_cli("predict", "--model", tiny, "--adapter", tiny_adapters["plain"], "--input", path, check=False)
    expect_error(proc, EXIT_INPUT, f"{path}:3", "not valid JSON")


def test_predict_input_missing_text(tiny, tiny_adapters, tmp_path):
    path = write_jsonl(tmp_path / "in.jsonl", [{"text": "fine"}, {"sentence": "no text key"}])
    proc = run_cli("predict", "--model", tiny, "--adapter", tiny_adapters["plain"], "--input", path, check=False)
    expect_error(proc, EXIT_INPUT, f"{path}:2", '"text"')


# ---- lengths and flag values checked before any work -----------------------------------------------------------

def test_max_length_beyond_the_positions(tiny, tiny_adapters, glue, tmp_path):
    # The tiny BERT has 128 positions: longer sequences are an input error up front, not "index out of range".
    proc = run_cli("predict", "--model", tiny, "--adapter", tiny_adapters["plain"], "--text", "hello",
                   "--max-length", 4096, check=False)
    expect_error(proc, EXIT_INPUT, "--max-length 4096", "128 positions")
    long = rewrite(tiny_adapters["plain"], tmp_path / "long.safetensors",
                   edit_metadata=lambda m: edit_info(m, lambda info: info.update(max_length=100000)))
    proc = run_cli("eval", "--model", tiny, "--adapter", long, "--data", glue, check=False)
    expect_error(proc, EXIT_INPUT, "the adapter's max_length 100000", "128 positions")
    proc = run_cli("train", "--model", tiny, "--task", "sst-2", "--data", glue, "--out", tmp_path / "run",
                   "--max-length", 129, check=False)
    expect_error(proc, EXIT_INPUT, "--max-length 129", "at most 128 tokens")


@pytest.mark.parametrize("flag, value", [("--threads", "-1"), ("--dropout", "-1"), ("--dropout", "1.5")])
def test_out_of_range_flags(tiny, glue, tmp_path, flag, value):
    proc = run_cli("train", "--model", tiny, "--task", "sst-2", "--data", glue, "--out", tmp_path / "run", flag, value,
                   check=False)
    assert proc.returncode != 0 and flag in proc.stderr
    assert not (tmp_path / "run").exists()
