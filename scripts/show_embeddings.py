"""Prints the pooled embeddings' shape and their cosine similarities (mean pooling over real tokens, as
sentence-transformers does for MiniLM, beside BERT's pooler output)."""
import json
import sys

from safetensors.numpy import load_file
import numpy as np

texts = [json.loads(line)["text"] for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
t = load_file(sys.argv[2])
hidden, mask = t["last_hidden_state"], t["attention_mask"].astype(np.float32)
mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
print(f"last_hidden_state {hidden.shape}, pooler_output {t['pooler_output'].shape}, mean-pooled {mean.shape}")
unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
cos = unit @ unit.T
print("cosine similarity of mean-pooled embeddings:")
for i, text in enumerate(texts):
    print(f"  [{i}] " + " ".join(f"{c:6.3f}" for c in cos[i]) + f"  {text}")
