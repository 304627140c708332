"""Encoder parity: `adapterbias embed` against transformers' BertModel / RobertaModel in fp32 on CPU.

Tiny random configs (several shapes, gelu / gelu_new / relu, 1-3 token types) saved as safetensors and as
pytorch_model.bin, plus the packaged MiniLM; one padded batch of different lengths through both.
"""
import random

import pytest
import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel, RobertaConfig, RobertaModel

from conftest import minilm_dir, run_cli, write_jsonl

# fp32 on CPU: the same operations in a different order (fused attention, other GEMM blocking) differ by a few
# ulps per layer; 1e-5 absolute is the bound for hidden states of magnitude ~1.
TOLERANCE = 1e-5

CASES = [
    # kind, hidden, layers, heads, intermediate, act, type_vocab, weights file
    ("bert", 32, 2, 4, 64, "gelu", 2, "safetensors"),
    ("bert", 48, 3, 6, 96, "gelu_new", 3, "bin"),
    ("bert", 64, 1, 2, 128, "relu", 1, "safetensors"),
    ("roberta", 32, 2, 4, 64, "gelu", 1, "safetensors"),
    ("roberta", 40, 2, 5, 80, "gelu_new", 1, "bin"),
]


def perturb_layer_norms(model):
    """Random LayerNorm affine parameters, so a loader that skipped them would be caught."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name:
                p.add_(torch.randn_like(p) * 0.1)


def random_batch(vocab, types, pad_id, lengths, seed, roberta):
    rng = random.Random(seed)
    rows = []
    for n in lengths:
        # RoBERTa derives positions from ids != pad, so real tokens never use the pad id.
        ids = [rng.randrange(pad_id + 1 if roberta else 0, vocab) for _ in range(n)]
        rows.append({"input_ids": ids, "token_type_ids": [rng.randrange(types) for _ in range(n)]})
    return rows


def reference(model, rows, pad_id):
    T = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
    types = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.long)
    for b, r in enumerate(rows):
        n = len(r["input_ids"])
        ids[b, :n] = torch.tensor(r["input_ids"])
        types[b, :n] = torch.tensor(r["token_type_ids"])
        mask[b, :n] = 1
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=types, attention_mask=mask)
    return out.last_hidden_state, out.pooler_output, mask


def compare(tmp_path, model_dir, rows, model, pad_id, batch_size):
    inputs = write_jsonl(tmp_path / "inputs.jsonl", rows)
    output = tmp_path / "out.safetensors"
    run_cli("embed", "--model", model_dir, "--input", inputs, "--output", output, "--batch-size", batch_size,
            "--tokens")
    ours = load_file(str(output))
    hidden, pooled, mask = reference(model, rows, pad_id)
    # Only real tokens are stored, input after input: the reference's unpadded rows in the same order.
    assert ours["offsets"].tolist() == [0] + torch.cumsum(mask.sum(1), 0).tolist()
    real = mask.bool()
    hidden_diff = (ours["last_hidden_state"] - hidden[real]).abs().max().item()
    pooled_diff = (ours["pooled"] - pooled).abs().max().item()
    print(f"max abs diff: last_hidden_state {hidden_diff:.2e}, pooler_output {pooled_diff:.2e}")
    assert hidden_diff <= TOLERANCE
    assert pooled_diff <= TOLERANCE
    return hidden_diff, pooled_diff


@pytest.mark.parametrize("kind,hidden,layers,heads,inter,act,types,weights", CASES)
def test_random_config_parity(tmp_path, kind, hidden, layers, heads, inter, act, types, weights):
    torch.manual_seed(hidden * 31 + layers)
    config_cls, model_cls = (BertConfig, BertModel) if kind == "bert" else (RobertaConfig, RobertaModel)
    pad_id = 0 if kind == "bert" else 1
    config = config_cls(vocab_size=99, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=inter, hidden_act=act, type_vocab_size=types, max_position_embeddings=64,
                        pad_token_id=pad_id)
    model = model_cls(config).eval()
    perturb_layer_norms(model)
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    if weights == "bin":
        # The legacy format, with the prefix a task model adds, as many hub checkpoints store it.
        state = {f"{kind}.{k}": v for k, v in model.state_dict().items()}
        (model_dir / "model.safetensors").unlink()
        torch.save(state, model_dir / "pytorch_model.bin")
    rows = random_batch(99, types, pad_id, [7, 3, 12, 1, 9, 12, 5], seed=hidden, roberta=kind == "roberta")
    compare(tmp_path, model_dir, rows, model, pad_id, batch_size=4)


def test_minilm_parity(tmp_path):
    model_dir = minilm_dir()
    model = BertModel.from_pretrained(model_dir).eval()
    rows = random_batch(30522, 2, 0, [128, 17, 64, 5, 33, 90, 2, 128], seed=7, roberta=False)
    for r in rows:  # a realistic frame: [CLS] ... [SEP]
        r["input_ids"][0], r["input_ids"][-1] = 101, 102
    compare(tmp_path, model_dir, rows, model, 0, batch_size=3)


def test_minilm_raw_text(tmp_path):
    """Text inputs go through our tokenizer: the same hidden states as transformers' tokenizer + model."""
    from transformers import AutoTokenizer
    model_dir = minilm_dir()
    texts = [{"text": "A man is playing a guitar."},
             {"text": "Héllo wörld — naïve café!", "text_pair": "Second sentence, with 2 parts."},
             {"text": "short"}]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    rows = []
    for t in texts:
        enc = tokenizer(t["text"], t.get("text_pair"))
        rows.append({"input_ids": enc["input_ids"], "token_type_ids": enc["token_type_ids"]})
    model = BertModel.from_pretrained(model_dir).eval()
    inputs = write_jsonl(tmp_path / "texts.jsonl", texts)
    output = tmp_path / "text.safetensors"
    run_cli("embed", "--model", model_dir, "--input", inputs, "--output", output, "--tokens")
    ours = load_file(str(output))
    hidden, pooled, mask = reference(model, rows, 0)
    assert (ours["last_hidden_state"] - hidden[mask.bool()]).abs().max().item() <= TOLERANCE
    assert (ours["pooled"] - pooled).abs().max().item() <= TOLERANCE


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_pooled_only_output(tmp_path, pooling):
    """Without --tokens only the pooled rows are written; mean pooling averages the real tokens only."""
    model_dir = minilm_dir()
    texts = [{"text": "A man is playing a guitar."}, {"text": "short"}, {"text": "a", "text_pair": "b c"}]
    inputs = write_jsonl(tmp_path / "texts.jsonl", texts)
    run_cli("embed", "--model", model_dir, "--input", inputs, "--output", tmp_path / "p.safetensors",
            "--pooling", pooling, "--batch-size", 2)
    run_cli("embed", "--model", model_dir, "--input", inputs, "--output", tmp_path / "t.safetensors", "--tokens",
            "--pooling", "none")
    pooled, tokens = load_file(str(tmp_path / "p.safetensors")), load_file(str(tmp_path / "t.safetensors"))
    assert set(pooled) == {"pooled"} and set(tokens) == {"last_hidden_state", "offsets"}
    offsets = tokens["offsets"].tolist()
    rows = [tokens["last_hidden_state"][a:b] for a, b in zip(offsets, offsets[1:])]
    expected = torch.stack([r.mean(0) if pooling == "mean" else r[0] for r in rows])
    assert (pooled["pooled"] - expected).abs().max().item() <= TOLERANCE


def test_embed_bad_jsonl_names_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "no text key"}\n')
    proc = run_cli("embed", "--model", minilm_dir(), "--input", bad, "--output", tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 3
    assert f"{bad}:2:" in proc.stderr and "text" in proc.stderr
    bad.write_text('{"text": "fine"}\n{not json\n')
    proc = run_cli("embed", "--model", minilm_dir(), "--input", bad, "--output", tmp_path / "o.safetensors", check=False)
    assert proc.returncode == 3 and f"{bad}:2:" in proc.stderr
