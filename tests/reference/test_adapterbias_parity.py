"""AdapterBias training parity: `adapterbias train` against a reference implementation over transformers.

The reference patches every layer's BertOutput as the method says (alpha = L_alpha(h) on the FFN's intermediate
activations, out = Dropout(W2 h + b2) + alpha * v, y = LayerNorm(out + residual)), adds the head
Dropout -> Linear(H, num_labels) on the pooled output, freezes everything but v, L_alpha, the embeddings and
output LayerNorms and the head, and trains with torch.optim.AdamW in two groups (and transformers'
get_linear_schedule_with_warmup, clip_grad_norm_ where asked). Both sides start from the same initial adapter
(`train --lr 0 --max-steps 1` writes it untouched), see the same batches (--no-shuffle: consecutive examples in
file order) with every dropout off, and after a few steps the trained tensors must agree.

Also: two runs with the same seed (shuffling and dropout on) write byte-identical adapters.
"""
import json
import math
import random
import shutil

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoTokenizer, BertConfig, BertModel, get_linear_schedule_with_warmup

from conftest import minilm_dir, run_cli

# fp32 on CPU, both sides: the forward and backward run the same operations in a different order (fused
# attention, GEMM blocking), a few ulps each. AdamW normalises each update by sqrt of its second moment, so a
# gradient's relative error becomes the update's relative error; after 6 steps that stays ~1e-6 of a tensor's
# scale. Bound: max |ours - reference| <= 1e-5 * max |reference| per tensor, with an absolute floor of 1e-7
# for tensors whose values are themselves tiny.
REL_TOL = 1e-5
ABS_FLOOR = 1e-7

STEPS = 6
BATCH = 8
LR = 1e-3
WEIGHT_DECAY = 0.01
N_TRAIN = 44  # 6 batches of 8, the last one of 4
TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"]

WORDS = ("the a movie film story actor plot was is not very quite really good bad great awful boring funny "
         "slow long short fine dull moving charming clever silly music scene ending director cast time people "
         "it this that and but with without some every never always").split()


def sentence(rng, lo=3, hi=18):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


# ---- GLUE-layout data ------------------------------------------------------------------------------------------

def write_task(root, task, n, seed):
    """Writes <root>/<task>/{train,dev}.tsv in the real GLUE layout; returns the training examples as
    (text_a, text_b or None, label) with label an int class index or a float score."""
    rng = random.Random(seed)
    folder = root / task
    folder.mkdir(parents=True, exist_ok=True)
    examples = {}
    for split, count in (("train", n), ("dev", 12)):
        rows, lines = [], []
        for i in range(count):
            a, b = sentence(rng), sentence(rng)
            if task == "SST-2":
                label = rng.randrange(2)
                lines.append(f"{a}\t{label}")
                rows.append((a, None, label))
            elif task == "STS-B":
                score = round(rng.uniform(0, 5), 3)
                lines.append(f"{i}\tmain-captions\tMSRvid\t2012test\t{i:04d}\tnone\tnone\t{a}\t{b}\t{score}")
                rows.append((a, b, score))
            elif task == "RTE":
                label = rng.randrange(2)
                lines.append(f"{i}\t{a}\t{b}\t{['entailment', 'not_entailment'][label]}")
                rows.append((a, b, label))
            elif task == "MRPC":
                label = rng.randrange(2)
                lines.append(f"{label}\t{1000 + i}\t{2000 + i}\t{a}\t{b}")
                rows.append((a, b, label))
            else:
                raise ValueError(task)
        header = {"SST-2": "sentence\tlabel",
                  "STS-B": "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
                  "RTE": "index\tsentence1\tsentence2\tlabel",
                  "MRPC": "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"}[task]
        (folder / f"{split}.tsv").write_text(header + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
        examples[split] = rows
    return examples["train"]


# ---- models ----------------------------------------------------------------------------------------------------

def tiny_model_dir(path):
    torch.manual_seed(1234)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=512, initializer_range=0.1)
    BertModel(config).save_pretrained(path)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir() / name, path / name)
    return path


class Shift(nn.Module):
    """The per-layer AdapterBias module: v, and L_alpha unless shared (then held outside the module tree)."""

    def __init__(self, hidden, intermediate, shared):
        super().__init__()
        self.v = nn.Parameter(torch.zeros(hidden))
        if shared is None:
            self.alpha = nn.Linear(intermediate, 1)
        else:
            object.__setattr__(self, "shared_alpha", shared)

    def l_alpha(self):
        return self.alpha if "alpha" in self._modules else self.shared_alpha


def adapter_bias_output_forward(self, hidden_states, input_tensor):
    """BertOutput.forward with AdapterBias: LayerNorm(Dropout(W2 h + b2) + L_alpha(h) * v + residual)."""
    out = self.dropout(self.dense(hidden_states))
    out = out + self.adapter_bias.l_alpha()(hidden_states) * self.adapter_bias.v
    return self.LayerNorm(out + input_tensor)


class Reference(nn.Module):
    def __init__(self, model_dir, num_labels, share_alpha):
        super().__init__()
        self.bert = BertModel.from_pretrained(model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        c = self.bert.config
        shared = None
        if share_alpha:
            self.bert.encoder.adapter_bias = nn.Module()
            self.bert.encoder.adapter_bias.alpha = shared = nn.Linear(c.intermediate_size, 1)
        for layer in self.bert.encoder.layer:
            layer.output.adapter_bias = Shift(c.hidden_size, c.intermediate_size, shared)
            layer.output.forward = adapter_bias_output_forward.__get__(layer.output)
        self.dropout = nn.Dropout(0.0)
        self.classifier = nn.Linear(c.hidden_size, num_labels)

    def forward(self, batch):
        pooled = self.bert(**batch).pooler_output
        return self.classifier(self.dropout(pooled))

    def tensor(self, name):
        return self.get_parameter(name if name.startswith("classifier.") else "bert." + name)


def trainable_names(num_layers, share_alpha):
    """The method's trainable set, written out from its definition (not read from our files)."""
    names = ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias", "classifier.weight", "classifier.bias"]
    for l in range(num_layers):
        p = f"encoder.layer.{l}.output."
        names += [p + "adapter_bias.v", p + "LayerNorm.weight", p + "LayerNorm.bias"]
        if not share_alpha:
            names += [p + "adapter_bias.alpha.weight", p + "adapter_bias.alpha.bias"]
    if share_alpha:
        names += ["encoder.adapter_bias.alpha.weight", "encoder.adapter_bias.alpha.bias"]
    return names


def decays(name):
    """Weight decay on v, L_alpha weights and the head; none on L_alpha biases and LayerNorms."""
    if "LayerNorm" in name:
        return False
    return name.startswith("classifier.") or name.endswith(".v") or name.endswith("alpha.weight")


def reference_train(model_dir, examples, init, share_alpha, regression, warmup=0.0, max_grad_norm=0.0):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = Reference(model_dir, 1 if regression else 2, share_alpha)
    names = trainable_names(model.bert.config.num_hidden_layers, share_alpha)
    assert sorted(init) == sorted(names), "our adapter's tensors are not the method's trainable set"
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for name in names:
            model.tensor(name).copy_(init[name]).requires_grad_(True)
    params = [model.tensor(n) for n in names]
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == sum(p.numel() for p in params)
    optimizer = torch.optim.AdamW(
        [{"params": [model.tensor(n) for n in names if decays(n)], "weight_decay": WEIGHT_DECAY},
         {"params": [model.tensor(n) for n in names if not decays(n)], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    total = min(STEPS, (len(examples) + BATCH - 1) // BATCH)
    scheduler = None
    if warmup > 0:
        # The warmup step count as transformers' TrainingArguments.get_warmup_steps computes it.
        warmup_steps = math.ceil(warmup * total) if warmup < 1 else int(warmup)
        scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total)
    model.train()
    norms = []
    for step in range(total):
        rows = examples[step * BATCH:(step + 1) * BATCH]
        a = [r[0] for r in rows]
        b = [r[1] for r in rows] if rows[0][1] is not None else None
        batch = tokenizer(a, b, truncation="longest_first", max_length=128, padding="longest", return_tensors="pt")
        batch = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        logits = model(batch)
        if regression:
            loss = nn.functional.mse_loss(logits.squeeze(-1), torch.tensor([float(r[2]) for r in rows]))
        else:
            loss = nn.functional.cross_entropy(logits, torch.tensor([r[2] for r in rows]))
        optimizer.zero_grad()
        loss.backward()
        if max_grad_norm > 0:
            norms.append(torch.nn.utils.clip_grad_norm_(params, max_grad_norm).item())
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    if max_grad_norm > 0:
        # The bound must bite on at least one step, or clipping would go untested.
        print("gradient norms before clipping:", " ".join(f"{n:.3g}" for n in norms))
        assert any(n > max_grad_norm for n in norms), "the clipping bound never bit: choose a smaller --max-grad-norm"
    return {n: model.tensor(n).detach().clone() for n in names}, model


def compare(ours, reference, init):
    """Per tensor: max |ours - reference| relative to max |reference|; returns the worst and asserts it."""
    worst, worst_name, report = 0.0, None, []
    for name, ref in reference.items():
        diff = (ours[name] - ref).abs().max().item()
        rel = diff / max(ref.abs().max().item(), ABS_FLOOR / REL_TOL)
        moved = (ref - init[name]).abs().max().item()
        report.append(f"{name}: diff {diff:.2e} rel {rel:.2e} (moved {moved:.2e})")
        assert moved > 0, f"{name} did not train in the reference"
        if rel > worst:
            worst, worst_name = rel, name
    print("\n".join(report))
    print(f"worst relative difference {worst:.3e} ({worst_name})")
    assert worst <= REL_TOL, f"{worst_name}: relative difference {worst:.3e} > {REL_TOL}"
    return worst


CASES = [
    # id, model, task, share_alpha, extra options
    ("sst2-plain", "tiny", "SST-2", False, {}),
    ("sst2-shared", "tiny", "SST-2", True, {}),
    ("stsb-regression", "tiny", "STS-B", False, {}),
    ("rte-clip", "tiny", "RTE", False, {"max_grad_norm": 0.05}),
    ("mrpc-shared-warmup", "tiny", "MRPC", True, {"warmup": 0.5}),
    ("sst2-warmup-steps-clip", "tiny", "SST-2", False, {"warmup": 2, "max_grad_norm": 0.5}),
    # 0.25 of 6 steps: ceil(1.5) = 2 warmup steps, as transformers' TrainingArguments counts them.
    ("minilm-rte-warmup-clip", "minilm", "RTE", False, {"warmup": 0.25, "max_grad_norm": 0.05}),
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.mark.parametrize("model,task,share_alpha,extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_training_parity(tmp_path, tiny_dir, model, task, share_alpha, extra):
    model_dir = tiny_dir if model == "tiny" else minilm_dir()
    examples = write_task(tmp_path / "glue", task, N_TRAIN, seed=len(task) * 7 + share_alpha)
    common = ["--model", model_dir, "--task", task, "--data", tmp_path / "glue", "--threads", 2]
    # The initial adapter, untouched: lr 0 for one step.
    run_cli("train", *common, "--out", tmp_path / "init", "--lr", 0, "--max-steps", 1, "--epochs", 1,
            *(["--share-alpha"] if share_alpha else []))
    init = load_file(str(tmp_path / "init" / "adapter.safetensors"))
    backbone = load_file(str(model_dir / "model.safetensors"))
    for name, t in init.items():
        if name.endswith(".v"):
            assert (t == 0).all(), name
        elif "LayerNorm" in name:
            key = name if name in backbone else "bert." + name
            assert torch.equal(t, backbone[key]), f"{name} is not the backbone's"

    options = ["--lr", LR, "--max-steps", STEPS, "--epochs", 1, "--batch-size", BATCH, "--weight-decay", WEIGHT_DECAY,
               "--no-shuffle", "--dropout", 0, "--init-adapter", tmp_path / "init" / "adapter.safetensors"]
    if "warmup" in extra:
        options += ["--warmup", extra["warmup"]]
    if "max_grad_norm" in extra:
        options += ["--max-grad-norm", extra["max_grad_norm"]]
    run_cli("train", *common, "--out", tmp_path / "ours", *options)
    # One evaluation, after the last step: the saved adapter is the one after STEPS steps.
    records = [json.loads(line) for line in (tmp_path / "ours" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [STEPS]
    ours = load_file(str(tmp_path / "ours" / "adapter.safetensors"))

    reference, _ = reference_train(model_dir, examples, init, share_alpha, regression=task == "STS-B",
                                   warmup=extra.get("warmup", 0.0), max_grad_norm=extra.get("max_grad_norm", 0.0))
    assert sorted(ours) == sorted(reference)
    compare(ours, reference, init)


def test_same_seed_same_adapter(tmp_path, tiny_dir):
    """Shuffled, length-bucketed batches and dropout on: the same seed gives byte-identical adapters."""
    write_task(tmp_path / "glue", "RTE", 40, seed=3)
    files = []
    for run in ("a", "b"):
        out = tmp_path / run
        run_cli("train", "--model", tiny_dir, "--task", "RTE", "--data", tmp_path / "glue", "--out", out,
                "--lr", 1e-3, "--batch-size", 8, "--epochs", 2, "--seed", 17, "--threads", 2)
        files.append((out / "adapter.safetensors").read_bytes())
    assert files[0] == files[1]
    # A different seed gives a different adapter (so the comparison above is not vacuous).
    run_cli("train", "--model", tiny_dir, "--task", "RTE", "--data", tmp_path / "glue", "--out", tmp_path / "c",
            "--lr", 1e-3, "--batch-size", 8, "--epochs", 2, "--seed", 18, "--threads", 2)
    a, c = load_file(str(tmp_path / "a" / "adapter.safetensors")), load_file(str(tmp_path / "c" / "adapter.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a)
