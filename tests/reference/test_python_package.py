"""The Python package (`pip install .`, then `import adapterbias`) against the CLI it shares its library with:
the same adapter bytes for the same seed and data, the same tokens, predictions, metrics, explanations and merged
checkpoints; tensors shared without copies; the C++ errors as Python exceptions with the same messages; the GIL
released during training; Ctrl-C writing a checkpoint; the examples/ notebook script.

Runs against the installed package (scripts/setup.sh installs it), in fp32 with one thread, like the CLI here."""
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from conftest import REPO, minilm_dir, run_cli, sst2_subset, write_jsonl

try:
    import adapterbias as ab
except ImportError as e:  # a failure, not a skip: the test command installs the package
    raise ImportError(f"the adapterbias package does not import ({e}): run scripts/setup.sh, which installs it") from e

TRAIN = dict(epochs=1, max_steps=6, batch_size=16, max_train_examples=96, seed=7, lr=1e-3)
TRAIN_FLAGS = ["--epochs", 1, "--max-steps", 6, "--batch-size", 16, "--max-train-examples", 96, "--seed", 7,
               "--lr", 1e-3, "--threads", 1]
SENTENCES = ["a gripping , funny and moving film .", "a tedious , overlong mess .", "it 's not bad at all",
             "the plot is thin but the acting is superb , and the ending works ."]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    ab.set_num_threads(1)


@pytest.fixture(scope="module")
def glue(tmp_path_factory):
    """A GLUE root holding SST-2/{train,dev}.tsv: the sample's first 96 train and 64 dev rows."""
    return sst2_subset(tmp_path_factory.mktemp("glue"), train_rows=96, dev_rows=64)


@pytest.fixture(scope="module")
def backbone():
    return ab.Backbone.load("minilm", precision="fp32")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, glue, backbone):
    """The same training from the package and from the CLI."""
    out = tmp_path_factory.mktemp("runs")
    result = ab.train(backbone, task="sst-2", data=glue, out=out / "py", progress=False, **TRAIN)
    run_cli("train", "--model", "minilm", "--task", "sst-2", "--data", glue, "--out", out / "cli", *TRAIN_FLAGS)
    return result, out / "py", out / "cli"


@pytest.fixture(scope="module")
def model(backbone, trained):
    return ab.load_adapter(backbone, trained[0].adapter_path)


def test_version_and_torch_check():
    assert ab.__version__ == "0.1.0"
    from adapterbias import _build_info
    assert _build_info.torch_version == torch.__version__
    out = subprocess.run([sys.executable, "-c", "import adapterbias; print(adapterbias.__version__)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0.1.0"
    # Under another torch the package refuses to load the extension, naming both versions.
    other = subprocess.run([sys.executable, "-c", "import torch; torch.__version__ = '9.9.9'; import adapterbias"],
                           capture_output=True, text=True)
    assert other.returncode != 0 and "ImportError" in other.stderr
    assert "built for torch " + torch.__version__ in other.stderr and "torch 9.9.9 is installed" in other.stderr


def test_train_writes_the_cli_adapter_bytes(trained):
    result, py_out, cli_out = trained
    assert Path(result.adapter_path) == py_out / "adapter.safetensors"
    for name in ["adapter.safetensors", "last.safetensors"]:
        assert (py_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    assert (py_out / "checkpoint" / "trainer.safetensors").exists()
    assert result.steps == 6 and result.dev_metric == "accuracy" and 0.0 <= result.dev_score <= 1.0
    assert result.adapter_bytes == (py_out / "adapter.safetensors").stat().st_size
    assert result.metrics["accuracy"] == result.dev_score
    def dev_metrics(out):  # timings differ between runs; the metrics and losses may not
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in row.items() if k not in ("elapsed_s", "train_tokens_per_s")} for row in rows]
    assert dev_metrics(py_out) == dev_metrics(cli_out)


def test_train_progress_events(tmp_path, glue, backbone):
    events = []
    ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "run", progress=events.append,
             **{**TRAIN, "max_steps": 3})
    kinds = [e["event"] for e in events]
    assert kinds.count("step") == 3 and "epoch_started" in kinds and "evaluated" in kinds
    evaluated = next(e for e in events if e["event"] == "evaluated")
    assert evaluated["primary"] == "accuracy" and "accuracy" in evaluated["metrics"]


def test_train_own_csv_and_method_flags(tmp_path, backbone):
    rows = ["text,label"] + [f"\"{s}\",{'pos' if i % 2 else 'neg'}" for i, s in enumerate(SENTENCES * 4)]
    (tmp_path / "train.csv").write_text("\n".join(rows) + "\n")
    result = ab.train(backbone, task="mine", train=tmp_path / "train.csv", dev=tmp_path / "train.csv",
                      out=tmp_path / "run", epochs=1, batch_size=4, share_alpha=True, progress=False)
    model = ab.load_adapter(backbone, result.adapter_path)
    assert model.labels == ["neg", "pos"] and model.task == "mine"
    assert model.info["method_options"]["share_alpha"] is True
    ours = model.evaluate(dev=tmp_path / "train.csv")
    cli = json.loads(run_cli("eval", "--model", "minilm", "--adapter", result.adapter_path, "--dev",
                             tmp_path / "train.csv", "--threads", 1).stdout)
    assert ours == cli and ours["task"] == "mine" and ours["n"] == 16
    with pytest.raises(TypeError):
        ab.train(backbone, task="mine", train=tmp_path / "train.csv", out=tmp_path / "x", not_an_option=1)


def test_tokenizer_equals_the_cli(tmp_path, backbone):
    tok = ab.Tokenizer.from_pretrained("minilm")
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"text": "Héllo, world!", "text_pair": "A second one."},
                                                  {"text": "naïve café déjà vu"}])
    cli = [json.loads(line) for line in run_cli("tokenize", "--model", "minilm", "--input", inputs,
                                                "--max-length", 8).stdout.splitlines()]
    ours = tok.encode_batch(["Héllo, world!", "naïve café déjà vu"], None, max_length=8)
    ours[0] = tok.encode("Héllo, world!", "A second one.", max_length=8)
    for a, b in zip(ours, cli):
        assert a["input_ids"] == b["input_ids"] and a["token_type_ids"] == b["token_type_ids"]
        assert a["attention_mask"] == b["attention_mask"] and a["tokens"] == b["tokens"]
        assert [list(o) for o in a["offsets"]] == b["offsets"]
    batch = tok.encode_batch(SENTENCES, return_tensors="pt")
    assert batch["input_ids"].dtype == torch.int64 and batch["input_ids"].shape[0] == 4
    lengths = batch["attention_mask"].sum(1).tolist()
    assert lengths == [len(tok.encode(s)["input_ids"]) for s in SENTENCES]
    assert backbone.tokenizer.encode(SENTENCES[0]) == tok.encode(SENTENCES[0])


def test_embed_matches_transformers(backbone):
    from transformers import AutoModel
    reference = AutoModel.from_pretrained(minilm_dir()).eval()
    tok = backbone.tokenizer
    batch = tok.encode_batch(SENTENCES, return_tensors="pt")
    with torch.no_grad():
        out = reference(**batch)
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = {"mean": (out.last_hidden_state * mask).sum(1) / mask.sum(1),
                "cls": out.last_hidden_state[:, 0], "pooler": out.pooler_output}
    for pooling, want in expected.items():
        got = backbone.embed(SENTENCES, pooling=pooling)
        assert got.shape == (4, backbone.config["hidden_size"]) and got.dtype == torch.float32
        assert (got - want).abs().max().item() < 1e-5, pooling
    with pytest.raises(ab.InputError, match="pooling 'max'"):
        backbone.embed(SENTENCES, pooling="max")


def test_predict_logits_equal_the_cli(tmp_path, model, trained):
    inputs = write_jsonl(tmp_path / "in.jsonl", [{"text": s} for s in SENTENCES])
    cli = [json.loads(line) for line in run_cli("predict", "--model", "minilm", "--adapter", trained[0].adapter_path,
                                                "--input", inputs, "--logits", "--threads", 1).stdout.splitlines()]
    ours = model.predict(SENTENCES, logits=True)
    assert [p["label"] for p in ours] == [p["label"] for p in cli]
    for a, b in zip(ours, cli):
        assert max(abs(x - y) for x, y in zip(a["logits"], b["logits"])) < 1e-6
    logits = model.logits(SENTENCES)
    assert logits.shape == (4, 2)
    assert (logits - torch.tensor([p["logits"] for p in cli])).abs().max().item() < 1e-6
    assert model.predict(SENTENCES[0])[0]["label"] == ours[0]["label"]


def test_evaluate_equals_the_cli(model, trained, glue):
    cli = json.loads(run_cli("eval", "--model", "minilm", "--adapter", trained[0].adapter_path, "--data", glue,
                             "--threads", 1).stdout)
    ours = model.evaluate("dev", data=glue)
    assert ours == cli


def test_explain_equals_the_cli(model, trained):
    text = SENTENCES[3]
    cli = json.loads(run_cli("explain", "--model", "minilm", "--adapter", trained[0].adapter_path, "--text", text,
                             "--threads", 1).stdout)
    ours = model.explain(text)
    assert [t["token"] for t in ours["inputs"][0]["tokens"]] == [t["token"] for t in cli["inputs"][0]["tokens"]]
    assert [w["word"] for w in ours["inputs"][0]["words"]] == [w["word"] for w in cli["inputs"][0]["words"]]
    for a, b in zip(ours["inputs"][0]["tokens"], cli["inputs"][0]["tokens"]):
        assert abs(a["shift_total"] - b["shift_total"]) < 1e-6
    assert ours["v_norm"] == pytest.approx(cli["v_norm"], abs=1e-7)


def test_merge_equals_the_cli(tmp_path, model, trained):
    summary = model.merge(tmp_path / "py")
    run_cli("merge", "--model", "minilm", "--adapter", trained[0].adapter_path, "--out", tmp_path / "cli")
    assert (tmp_path / "py" / "model.safetensors").read_bytes() == (tmp_path / "cli" / "model.safetensors").read_bytes()
    assert summary["max_abs_logit_diff"] < 1e-4 and summary["architecture"] == "BertForSequenceClassification"
    # The task model itself is not merged: its logits are unchanged.
    assert (model.logits(SENTENCES) - model.logits(SENTENCES)).abs().max().item() == 0


def test_tensors_are_shared_not_copied(backbone, trained):
    model = ab.load_adapter(backbone, trained[0].adapter_path)
    first, second = model.tensors(), model.tensors()
    name = next(n for n in first if n.endswith("adapter_bias.v"))
    assert first[name].data_ptr() == second[name].data_ptr()
    before = model.logits(SENTENCES)
    with torch.no_grad():
        first["classifier.bias"].add_(torch.tensor([5.0, -5.0]))
    after = model.logits(SENTENCES)
    assert torch.allclose(after - before, torch.tensor([5.0, -5.0]).expand_as(before), atol=1e-4)
    # The backbone's weights are its own tensors too, and no task model changes them.
    weights = backbone.parameters()
    assert weights["embeddings.word_embeddings.weight"].data_ptr() == \
        backbone.parameters()["embeddings.word_embeddings.weight"].data_ptr()


def cli_error(*args):
    proc = run_cli(*args, check=False)
    assert proc.returncode != 0
    return proc.returncode, proc.stderr.strip().removeprefix("error: ")


def test_exceptions_carry_the_cli_messages(tmp_path, backbone, trained):
    code, message = cli_error("eval", "--model", "minilm", "--adapter", tmp_path / "missing.safetensors",
                              "--data", tmp_path)
    with pytest.raises(ab.InputError) as error:
        ab.load_adapter(backbone, tmp_path / "missing.safetensors")
    assert str(error.value) == message and code == ab.InputError.exit_code
    assert isinstance(error.value, ValueError) and isinstance(error.value, ab.Error)

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    code, message = cli_error("predict", "--model", "minilm", "--adapter", garbage, "--text", "x")
    with pytest.raises(ab.FormatError) as error:
        ab.load_adapter(backbone, garbage)
    assert str(error.value) == message and code == ab.FormatError.exit_code

    from transformers import BertConfig, BertModel
    torch.manual_seed(0)
    other = tmp_path / "other"
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=128)).save_pretrained(other)
    for name in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]:
        if (minilm_dir() / name).exists():
            (other / name).write_bytes((minilm_dir() / name).read_bytes())
    code, message = cli_error("predict", "--model", other, "--adapter", trained[0].adapter_path, "--text", "x")
    with pytest.raises(ab.MismatchError) as error:
        ab.load_adapter(ab.Backbone.load(other, precision="fp32"), trained[0].adapter_path)
    assert str(error.value) == message and code == ab.MismatchError.exit_code

    with pytest.raises(ab.InputError, match="precision"):
        ab.Backbone.load("minilm", precision="fp16")


def test_gil_is_released_during_training(tmp_path, glue, backbone):
    ticks = []
    done = threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            done.wait(0.01)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        # No callback: the trainer only takes the GIL for the signal check of each step.
        ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "run", progress=False, **TRAIN)
    finally:
        done.set()
        thread.join()
    assert len(ticks) > 20


def test_ctrl_c_writes_a_checkpoint(tmp_path, glue, backbone):
    steps = []

    def interrupt_after_two(event):
        if event["event"] == "step":
            steps.append(1)
            if len(steps) == 2:
                os.kill(os.getpid(), signal.SIGINT)

    options = {**TRAIN, "max_steps": 12, "epochs": 2}
    with pytest.raises(KeyboardInterrupt, match=r"resume=") as stopped:
        ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "run", progress=interrupt_after_two, **options)
    assert (tmp_path / "run" / "checkpoint" / "trainer.safetensors").exists()
    assert len(steps) <= 4 and "checkpoint" in str(stopped.value)

    # The CLI does not resume a run the package started, and says how to.
    proc = run_cli("train", "--resume", tmp_path / "run", check=False)
    assert proc.returncode == ab.InputError.exit_code and "adapterbias.train(backbone, resume=" in proc.stderr
    with pytest.raises(TypeError, match="lr"):
        ab.train(backbone, resume=tmp_path / "run", lr=0.5)

    # Resumed, the run ends where an uninterrupted one does, with the same adapter.
    resumed = ab.train(backbone, resume=tmp_path / "run", progress=False)
    whole = ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "whole", progress=False, **options)
    assert resumed.steps == whole.steps == 12
    assert (tmp_path / "run" / "last.safetensors").read_bytes() == (tmp_path / "whole" / "last.safetensors").read_bytes()
    assert (tmp_path / "run" / "adapter.safetensors").read_bytes() == \
        (tmp_path / "whole" / "adapter.safetensors").read_bytes()


def test_resume_refuses_a_cli_run(trained, backbone):
    with pytest.raises(ab.InputError, match="adapterbias train --resume"):
        ab.train(backbone, resume=trained[2], progress=False)


def test_sigint_without_a_callback_writes_a_checkpoint(tmp_path, glue, backbone):
    # Nothing Python runs during the steps: the trainer asks the interpreter for pending signals at each one.
    timer = threading.Timer(3.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt, match="checkpoint"):
            ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "run", progress=False,
                     **{**TRAIN, "epochs": 50, "max_steps": 0})
    finally:
        timer.cancel()
    assert (tmp_path / "run" / "checkpoint" / "trainer.safetensors").exists()


def test_callback_exception_stops_the_run(tmp_path, glue, backbone):
    def fail(event):
        if event["event"] == "step":
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        ab.train(backbone, task="sst-2", data=glue, out=tmp_path / "run", progress=fail, **TRAIN)
    assert (tmp_path / "run" / "checkpoint" / "trainer.safetensors").exists()


def test_notebook_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "notebook.py"), "--out", str(tmp_path), "--epochs", "2"],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert "prediction:" in proc.stdout and "largest shift:" in proc.stdout
    assert (tmp_path / "adapter.safetensors").exists()
