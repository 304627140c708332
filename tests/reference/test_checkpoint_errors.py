"""Bad checkpoints: each class gives a one-line error naming the file and the tensor or field, and its own
exit code (3 input, 4 format, 5 mismatch), never a crash or silent garbage."""
import json
import struct

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import BertConfig, BertModel

from conftest import run_cli

EXIT_INPUT, EXIT_FORMAT, EXIT_MISMATCH = 3, 4, 5


@pytest.fixture()
def checkpoint(tmp_path):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32)
    model_dir = tmp_path / "ckpt"
    BertModel(config).save_pretrained(model_dir)
    return model_dir


def expect_error(model_dir, code, *fragments):
    proc = run_cli("info", "--model", model_dir, check=False)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def rewrite_tensors(model_dir, edit):
    path = model_dir / "model.safetensors"
    tensors = load_file(str(path))
    edit(tensors)
    save_file(tensors, str(path), metadata={"format": "pt"})


def test_good_checkpoint_loads(checkpoint):
    out = run_cli("info", "--model", checkpoint).stdout
    assert "hidden_size (H):     16" in out


def test_unknown_tensor(checkpoint):
    rewrite_tensors(checkpoint, lambda t: t.update({"encoder.layer.0.extra.weight": torch.zeros(3)}))
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "unexpected tensor 'encoder.layer.0.extra.weight'")


def test_missing_tensor(checkpoint):
    rewrite_tensors(checkpoint, lambda t: t.pop("encoder.layer.1.output.dense.weight"))
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "missing tensor 'encoder.layer.1.output.dense.weight'")


def test_shape_mismatch(checkpoint):
    rewrite_tensors(checkpoint, lambda t: t.update({"encoder.layer.0.intermediate.dense.bias": torch.zeros(31)}))
    expect_error(checkpoint, EXIT_MISMATCH, "model.safetensors", "'encoder.layer.0.intermediate.dense.bias'", "[31]", "[32]")


def test_truncated_file(checkpoint):
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "truncated")


def test_truncated_header(checkpoint):
    path = checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes()[:200])
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "truncated")


def test_header_offsets_lie(checkpoint):
    path = checkpoint / "model.safetensors"
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    entry = header["pooler.dense.bias"]
    entry["data_offsets"][1] += 4  # claims one float more than dtype and shape allow
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n :])
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "'pooler.dense.bias'", "data_offsets")


def test_header_not_json(checkpoint):
    path = checkpoint / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[8:12] = b"!!!!"
    path.write_bytes(bytes(data))
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "not valid JSON")


def test_config_missing_field(checkpoint):
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    del config["hidden_size"]
    path.write_text(json.dumps(config))
    expect_error(checkpoint, EXIT_FORMAT, "config.json", "missing field 'hidden_size'")


def test_config_wrong_type(checkpoint):
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    config["num_hidden_layers"] = "two"
    path.write_text(json.dumps(config))
    expect_error(checkpoint, EXIT_FORMAT, "config.json", "'num_hidden_layers'")


def test_config_not_json(checkpoint):
    (checkpoint / "config.json").write_text("{ not json")
    expect_error(checkpoint, EXIT_FORMAT, "config.json", "not valid JSON")


@pytest.mark.parametrize("field, value, fragment", [
    ("layer_norm_eps", 0, "'layer_norm_eps' must be in (0, 1)"),
    ("layer_norm_eps", -1e-12, "'layer_norm_eps' must be in (0, 1)"),
    ("hidden_size", 384.7, "'hidden_size' must be an integer, found 384.7"),
    ("intermediate_size", 10**12, "parameters"),
    ("vocab_size", 2**40, "parameters"),
    ("hidden_dropout_prob", 1.5, "'hidden_dropout_prob' must be in [0, 1)"),
    ("pad_token_id", 50, "pad_token_id 50 is outside the vocabulary"),
])
def test_config_values_that_make_no_sense(checkpoint, field, value, fragment):
    # Refused before anything is allocated: no NaN output with exit 0, no allocator message.
    path = checkpoint / "config.json"
    config = json.loads(path.read_text())
    config[field] = value
    path.write_text(json.dumps(config))
    expect_error(checkpoint, EXIT_FORMAT, "config.json", fragment)


def test_trailing_bytes_after_the_data(checkpoint):
    path = checkpoint / "model.safetensors"
    path.write_bytes(path.read_bytes() + b"appended")
    expect_error(checkpoint, EXIT_FORMAT, "model.safetensors", "8 trailing bytes")


def test_checkpoint_folder_that_is_a_file(tmp_path):
    (tmp_path / "model").write_text("not a folder")
    proc = run_cli("info", "--model", tmp_path / "model", check=False)
    assert proc.returncode == EXIT_INPUT, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and str(tmp_path / "model") in proc.stderr


def test_no_weights(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    expect_error(checkpoint, EXIT_INPUT, "no model.safetensors or pytorch_model.bin")


def test_garbage_bin(checkpoint):
    (checkpoint / "model.safetensors").unlink()
    (checkpoint / "pytorch_model.bin").write_bytes(b"this is not a zip file" * 10)
    expect_error(checkpoint, EXIT_FORMAT, "pytorch_model.bin", "not a readable PyTorch checkpoint")


def test_unknown_model_name():
    proc = run_cli("info", "--model", "no-such-model", check=False)
    assert proc.returncode == EXIT_INPUT
    assert "no-such-model" in proc.stderr and "minilm" in proc.stderr
