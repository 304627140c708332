"""`adapterbias explain` and `analyze` against a reference over transformers.

The reference loads the tiny BERT into transformers' BertModel, puts the adapter's LayerNorms and head in, and
patches every BertOutput with the AdapterBias shift (as tests/reference/test_adapterbias_parity.py does), recording
alpha = L_alpha(h) and ||Dropout(W2 h + b2)|| per token. Then the CLI's per-token shift must be |alpha| * ||v|| and its
relative shift that over the FFN output's norm; its words must point at the right characters of the original text
(accents, CJK, emoji, a text pair); the HTML report must be one file with no URL; analyze's per-layer means must be
the means of explain's numbers over the same split.

Kept fast: a tiny random BERT (hidden 32) with MiniLM's tokenizer files, an adapter trained 4 steps at lr 1e-2 so
that v and alpha are far from their initial values."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO, minilm_dir, run_cli, write_jsonl

# fp32 on CPU on both sides: the same operations in another order (padded batches in ours, one input at a time
# here), a few ulps of values of order 1.
TOLERANCE = 1e-5

TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]
TEXTS = [{"text": "naïve café 東京 😀 test"},
         {"text": "it 's a charming and often affecting journey . "},
         {"text": "Unflinchingly bleak, and desperate!", "text_pair": "Nothing don't good (here)..."}]
# The words of TEXTS by the merging rule (docs/explain.md): touching pieces form a word, punctuation pieces
# (apostrophes excepted) at its edges split off one by one.
WORDS = [["naïve", "café", "東京", "😀", "test"],
         ["it", "'s", "a", "charming", "and", "often", "affecting", "journey", "."],
         ["Unflinchingly", "bleak", ",", "and", "desperate", "!", "Nothing", "don't", "good", "(", "here", ")", ".", ".", "."]]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from transformers import BertConfig, BertModel
    root = tmp_path_factory.mktemp("explain")
    model_dir = root / "model"
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(model_dir)
    for name in TOKENIZER_FILES:
        if (minilm_dir() / name).exists():
            shutil.copy(minilm_dir() / name, model_dir / name)
    glue = root / "glue"
    (glue / "SST-2").mkdir(parents=True)
    sample = REPO / "data" / "sample" / "SST-2"
    for split, rows in [("train", 64), ("dev", 64)]:
        lines = (sample / f"{split}.tsv").read_text(encoding="utf-8").splitlines()
        (glue / "SST-2" / f"{split}.tsv").write_text("\n".join(lines[: rows + 1]) + "\n", encoding="utf-8")
    run_cli("train", "--model", model_dir, "--task", "sst-2", "--data", glue, "--out", root / "run", "--epochs", 1,
            "--max-steps", 4, "--batch-size", 16, "--lr", "1e-2", "--threads", 1)
    return {"model": model_dir, "glue": glue, "adapter": root / "run" / "adapter.safetensors"}


def adapter_bias_output_forward(self, hidden_states, input_tensor):
    """BertOutput.forward with AdapterBias, recording alpha (T) and ||FFN output|| (T) of the last call."""
    ffn_out = self.dropout(self.dense(hidden_states))
    alpha = self.alpha(hidden_states)  # (B, T, 1)
    self.record = (alpha[0, :, 0], ffn_out[0].norm(dim=-1))
    return self.LayerNorm(ffn_out + alpha * self.v + input_tensor)


def reference(model_dir, adapter):
    """transformers' BertModel with the adapter in: returns run(text, pair) -> (tokens, offsets, alpha (L, T),
    ffn_norm (L, T), v_norm (L), logits)."""
    from transformers import AutoTokenizer, BertModel
    tensors = load_file(str(adapter))
    bert = BertModel.from_pretrained(model_dir).eval()
    state = {k: v for k, v in tensors.items() if "LayerNorm" in k}
    missing = bert.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys
    for l, layer in enumerate(bert.encoder.layer):
        out = layer.output
        prefix = f"encoder.layer.{l}.output.adapter_bias"
        out.v = tensors[f"{prefix}.v"]
        out.alpha = torch.nn.Linear(out.dense.in_features, 1)
        out.alpha.weight.data, out.alpha.bias.data = tensors[f"{prefix}.alpha.weight"], tensors[f"{prefix}.alpha.bias"]
        out.forward = adapter_bias_output_forward.__get__(out)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    v_norm = torch.stack([layer.output.v.norm() for layer in bert.encoder.layer])

    @torch.no_grad()
    def run(text, pair=None):
        enc = tokenizer(text, pair, return_offsets_mapping=True, return_tensors="pt")
        offsets = enc.pop("offset_mapping")[0].tolist()
        pooled = bert(**enc).pooler_output
        logits = pooled @ tensors["classifier.weight"].T + tensors["classifier.bias"]
        alpha = torch.stack([layer.output.record[0] for layer in bert.encoder.layer])
        ffn_norm = torch.stack([layer.output.record[1] for layer in bert.encoder.layer])
        return enc.tokens(), offsets, alpha, ffn_norm, v_norm, logits[0]
    return run


def test_shifts_match_reference(setup, tmp_path):
    inputs = write_jsonl(tmp_path / "in.jsonl", TEXTS)
    out = json.loads(run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--input", inputs,
                             "--format", "json", "--threads", 1).stdout)
    run = reference(setup["model"], setup["adapter"])
    assert len(out["inputs"]) == len(TEXTS) and out["layers"] == 2
    worst = 0.0
    for row, got in zip(TEXTS, out["inputs"]):
        tokens, offsets, alpha, ffn_norm, v_norm, logits = run(row["text"], row.get("text_pair"))
        assert [t["token"] for t in got["tokens"]] == tokens
        assert [tuple(t["offsets"]) for t in got["tokens"]] == [tuple(o) for o in offsets]
        assert torch.allclose(torch.tensor(out["v_norm"], dtype=torch.float64), v_norm.double(), atol=TOLERANCE)
        assert v_norm.min() > 1e-3, "training should have moved v away from 0"
        shift = alpha.abs() * v_norm[:, None]  # (L, T): |alpha| * ||v||
        ours = {key: torch.tensor([t[key] for t in got["tokens"]], dtype=torch.float64).T
                for key in ("alpha", "shift", "relative")}
        for key, expected in (("alpha", alpha), ("shift", shift), ("relative", shift / ffn_norm)):
            diff = (ours[key] - expected.double()).abs().max().item()
            worst = max(worst, diff)
            assert diff <= TOLERANCE, (key, diff)
        totals = torch.tensor([t["shift_total"] for t in got["tokens"]], dtype=torch.float64)
        assert torch.allclose(totals, ours["shift"].sum(0), atol=1e-9)
        probs = torch.softmax(logits.double(), 0)
        assert got["prediction"]["label_id"] == int(probs.argmax())
        assert abs(got["prediction"]["probabilities"][got["prediction"]["label"]] - probs.max().item()) <= TOLERANCE
    print(f"max |ours - reference| = {worst:.2e}")


def test_words_point_at_the_original_characters(setup, tmp_path):
    inputs = write_jsonl(tmp_path / "in.jsonl", TEXTS)
    out = json.loads(run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--input", inputs,
                             "--threads", 1).stdout)
    for row, got, expected in zip(TEXTS, out["inputs"], WORDS):
        assert [w["word"] for w in got["words"]] == expected
        for w in got["words"]:
            text = row["text"] if w["sequence"] == 0 else row["text_pair"]
            begin, end = w["offsets"]
            assert text[begin:end] == w["word"]  # Python indexes code points, as the offsets count
            pieces = [got["tokens"][t] for t in w["tokens"]]
            assert all(p["sequence"] == w["sequence"] for p in pieces)
            assert w["shift_total"] == pytest.approx(max(p["shift_total"] for p in pieces), abs=1e-12)
    emoji = out["inputs"][0]["words"][3]
    assert emoji["word"] == "😀" and out["inputs"][0]["tokens"][emoji["tokens"][0]]["token"] == "[UNK]"


def test_html_is_one_self_contained_file(setup, tmp_path):
    inputs = write_jsonl(tmp_path / "in.jsonl", TEXTS)
    html = tmp_path / "report" / "explain.html"
    html.parent.mkdir()
    run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--input", inputs,
            "--format", "html", "--out", html, "--threads", 1)
    assert [p.name for p in html.parent.iterdir()] == ["explain.html"]
    page = html.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("<svg") == 1 + len(TEXTS)  # legend + one heatmap each
    for needle in ("http://", "https://", "<script", "<link", "src=", "url("):
        assert needle not in page, needle
    assert "café" in page and "東" in page  # the tokens, escaped as text, not mangled
    svg = tmp_path / "one.svg"
    run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--input", inputs,
            "--format", "svg", "--index", 2, "--out", svg, "--threads", 1)
    text = svg.read_text(encoding="utf-8")
    assert text.startswith("<?xml") and "<svg xmlns=" in text and "layer 1" in text


def test_bad_arguments(setup, tmp_path):
    proc = run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], check=False)
    assert proc.returncode == 3 and "exactly one of --text or --input" in proc.stderr
    proc = run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--text", "x", "--format", "pdf",
                   check=False)
    assert proc.returncode == 3 and "--format" in proc.stderr


def test_analyze_agrees_with_explain(setup, tmp_path):
    out = tmp_path / "analysis"
    run_cli("analyze", "--model", setup["model"], "--adapter", setup["adapter"], "--data", setup["glue"],
            "--out", out, "--min-count", 3, "--threads", 1)
    assert sorted(p.name for p in out.iterdir()) == ["layers.svg", "layers_relative.svg", "report.html",
                                                     "summary.json", "top_words.svg", "words.tsv"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "SST-2" and summary["examples"] == 64
    rows = [line.split("\t")[0] for line in (setup["glue"] / "SST-2" / "dev.tsv").read_text().splitlines()[1:]]
    inputs = write_jsonl(tmp_path / "dev.jsonl", [{"text": r} for r in rows])
    explained = json.loads(run_cli("explain", "--model", setup["model"], "--adapter", setup["adapter"], "--input",
                                   inputs, "--threads", 1).stdout)["inputs"]
    content = [t for e in explained for t in e["tokens"] if t["sequence"] >= 0]
    assert summary["content_tokens"] == len(content)
    for l, layer in enumerate(summary["layers"]):
        mean = sum(t["shift"][l] for t in content) / len(content)
        assert layer["shift"]["mean"] == pytest.approx(mean, rel=1e-9)
    counts = {}
    for e in explained:
        for w in e["words"]:
            counts.setdefault(w["word"].lower(), []).append(w["shift_total"])
    ranked = summary["words"]["top"]
    assert ranked and all(w["count"] >= 3 for w in ranked)
    assert [w["mean_shift"] for w in ranked] == sorted((w["mean_shift"] for w in ranked), reverse=True)
    for w in ranked:
        assert w["count"] == len(counts[w["word"]])
        assert w["mean_shift"] == pytest.approx(sum(counts[w["word"]]) / w["count"], rel=1e-9)
    assert -1 <= summary["shift_vs_confidence"]["pearson"] <= 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
