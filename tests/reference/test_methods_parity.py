"""Training parity of the baselines (BitFit, Houlsby adapters, LoRA) against reference implementations over
transformers, as test_adapterbias_parity.py does for AdapterBias.

Each reference patches a transformers BertModel the way the method's paper (and PEFT, for LoRA) says:
- BitFit: every `.bias` of the backbone trains (LayerNorm biases and the pooler's included);
- Houlsby: BertSelfOutput and BertOutput become LayerNorm(out + up(GELU(down(out))) + residual) with
  out = Dropout(dense(x)); the adapters and every LayerNorm train;
- LoRA: the query and value Linears return W x + b + (alpha / r) B A x (submodules lora_A, lora_B on the Linear,
  PEFT's names without "base_layer"); only A and B train;
and adds the head Dropout -> Linear(H, num_labels) on the pooled output. Both sides start from our initial
adapter (`train --lr 0 --max-steps 1` writes it untouched), see the same batches (--no-shuffle) with every
dropout off, train with AdamW in two groups (decay on weights, none on biases and LayerNorms, decay on the head
as TaskModel marks it) for several steps, and the trained tensors must agree.
"""
import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from transformers import AutoTokenizer, BertModel

from conftest import run_cli
from test_adapterbias_parity import BATCH, LR, N_TRAIN, STEPS, WEIGHT_DECAY, tiny_model_dir, write_task

# As test_adapterbias_parity.py: fp32 on CPU on both sides, a few ulps per operation, which AdamW's normalisation
# carries into the updates; after 6 steps ~1e-6 of a tensor's scale. Bound: 1e-5 relative to max |reference|,
# with an absolute floor of 1e-7.
REL_TOL = 1e-5
ABS_FLOOR = 1e-7

# BitFit's attention key biases get no gradient in exact arithmetic: q . (k + b) = q . k + q . b is the same for
# every key of a query, and softmax ignores a shift. Both sides see only rounding noise (~1e-9), which AdamW
# turns into updates of about lr * noise / eps: these tensors must stay within KEY_BIAS_DRIFT of their start,
# and are not compared with each other (noise against noise).
KEY_BIAS_DRIFT = 1e-4


class Reference(nn.Module):
    def __init__(self, model_dir, num_labels):
        super().__init__()
        self.bert = BertModel.from_pretrained(model_dir, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        self.dropout = nn.Dropout(0.0)
        self.classifier = nn.Linear(self.bert.config.hidden_size, num_labels)

    def forward(self, batch):
        return self.classifier(self.dropout(self.bert(**batch).pooler_output))

    def tensor(self, name):
        return self.get_parameter(name if name.startswith("classifier.") else "bert." + name)


# ---- the methods ---------------------------------------------------------------------------------------------

def houlsby_output_forward(self, hidden_states, input_tensor):
    """BertSelfOutput / BertOutput.forward with a Houlsby adapter before the residual and the LayerNorm."""
    out = self.dropout(self.dense(hidden_states))
    out = out + self.houlsby.up(nn.functional.gelu(self.houlsby.down(out)))
    return self.LayerNorm(out + input_tensor)


def inject_houlsby(bert, bottleneck):
    h = bert.config.hidden_size
    for layer in bert.encoder.layer:
        for output in (layer.attention.output, layer.output):
            output.houlsby = nn.Module()
            output.houlsby.down = nn.Linear(h, bottleneck)
            output.houlsby.up = nn.Linear(bottleneck, h)
            output.forward = houlsby_output_forward.__get__(output)


def inject_lora(bert, r, alpha):
    h = bert.config.hidden_size
    for layer in bert.encoder.layer:
        for linear in (layer.attention.self.query, layer.attention.self.value):
            linear.lora_A = nn.Linear(h, r, bias=False)
            linear.lora_B = nn.Linear(r, h, bias=False)

            def forward(x, linear=linear):
                # W x + b + (alpha / r) B A x, as PEFT's lora.Linear.forward (no dropout)
                return nn.functional.linear(x, linear.weight, linear.bias) + linear.lora_B(linear.lora_A(x)) * (alpha / r)

            linear.forward = forward


def trainable_names(method, bert, options):
    """The method's trainable set, written out from its definition (not read from our files)."""
    layers = range(bert.config.num_hidden_layers)
    names = ["classifier.weight", "classifier.bias"]
    if method == "bitfit":
        names += [n for n, _ in bert.named_parameters() if n.endswith(".bias")]
    elif method == "houlsby":
        names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
        for l in layers:
            for where in ("attention.output", "output"):
                p = f"encoder.layer.{l}.{where}."
                names += [p + "LayerNorm.weight", p + "LayerNorm.bias"]
                names += [p + f"houlsby.{t}" for t in ("down.weight", "down.bias", "up.weight", "up.bias")]
    elif method == "lora":
        for l in layers:
            for target in ("query", "value"):
                names += [f"encoder.layer.{l}.attention.self.{target}.lora_{m}.weight" for m in "AB"]
    return names


def decays(name):
    """Weight decay on weights and the head, none on biases and LayerNorms."""
    if name.startswith("classifier."):
        return True
    return not name.endswith(".bias") and "LayerNorm" not in name


def reference_train(model_dir, examples, init, method, options):
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = Reference(model_dir, 2)
    if method == "houlsby":
        inject_houlsby(model.bert, options["bottleneck"])
    elif method == "lora":
        inject_lora(model.bert, options["r"], options["alpha"])
    names = trainable_names(method, model.bert, options)
    assert sorted(init) == sorted(names), "our adapter's tensors are not the method's trainable set"
    for p in model.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        for name in names:
            model.tensor(name).copy_(init[name]).requires_grad_(True)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == sum(init[n].numel() for n in names)
    optimizer = torch.optim.AdamW(
        [{"params": [model.tensor(n) for n in names if decays(n)], "weight_decay": WEIGHT_DECAY},
         {"params": [model.tensor(n) for n in names if not decays(n)], "weight_decay": 0.0}],
        lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)
    model.train()
    for step in range(min(STEPS, (len(examples) + BATCH - 1) // BATCH)):
        rows = examples[step * BATCH:(step + 1) * BATCH]
        batch = tokenizer([r[0] for r in rows], truncation="longest_first", max_length=128, padding="longest",
                          return_tensors="pt")
        batch = {k: batch[k] for k in ("input_ids", "token_type_ids", "attention_mask")}
        loss = nn.functional.cross_entropy(model(batch), torch.tensor([r[2] for r in rows]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return {n: model.tensor(n).detach().clone() for n in names}


def compare(ours, reference, init):
    worst, worst_name = 0.0, None
    for name, ref in reference.items():
        if name.endswith("attention.self.key.bias"):
            drift = max((ours[name] - init[name]).abs().max().item(), (ref - init[name]).abs().max().item())
            print(f"{name}: no gradient in exact arithmetic; drift {drift:.2e}")
            assert drift <= KEY_BIAS_DRIFT, f"{name} moved {drift:.2e} though its gradient is zero"
            continue
        diff = (ours[name] - ref).abs().max().item()
        rel = diff / max(ref.abs().max().item(), ABS_FLOOR / REL_TOL)
        moved = (ref - init[name]).abs().max().item()
        print(f"{name}: diff {diff:.2e} rel {rel:.2e} (moved {moved:.2e})")
        assert moved > 0, f"{name} did not train in the reference"
        if rel > worst:
            worst, worst_name = rel, name
    print(f"worst relative difference {worst:.3e} ({worst_name})")
    assert worst <= REL_TOL, f"{worst_name}: relative difference {worst:.3e} > {REL_TOL}"


CASES = [
    # id, method, CLI flags, the options they mean
    ("bitfit", "bitfit", [], {}),
    ("houlsby-m8", "houlsby", ["--bottleneck", 8], {"bottleneck": 8}),
    ("lora-r4-alpha8", "lora", ["--lora-r", 4, "--lora-alpha", 8], {"r": 4, "alpha": 8}),
]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


@pytest.mark.parametrize("method,flags,options", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_training_parity(tmp_path, tiny_dir, method, flags, options):
    examples = write_task(tmp_path / "glue", "SST-2", N_TRAIN, seed=len(method))
    common = ["--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--threads", 2]
    run_cli("train", *common, "--method", method, *flags, "--out", tmp_path / "init", "--lr", 0, "--max-steps", 1,
            "--epochs", 1)
    init = load_file(str(tmp_path / "init" / "adapter.safetensors"))
    # At initialisation the method is the identity: the zero halves are zero.
    for name, t in init.items():
        if name.endswith(("houlsby.up.weight", "houlsby.up.bias", "lora_B.weight")):
            assert (t == 0).all(), name

    run_cli("train", *common, "--out", tmp_path / "ours", "--lr", LR, "--max-steps", STEPS, "--epochs", 1,
            "--batch-size", BATCH, "--weight-decay", WEIGHT_DECAY, "--no-shuffle", "--dropout", 0,
            "--init-adapter", tmp_path / "init" / "adapter.safetensors")
    ours = load_file(str(tmp_path / "ours" / "adapter.safetensors"))
    reference = reference_train(tiny_dir, examples, init, method, options)
    assert sorted(ours) == sorted(reference)
    compare(ours, reference, init)


def test_flags_of_another_method_are_refused(tmp_path, tiny_dir):
    write_task(tmp_path / "glue", "SST-2", 8, seed=1)
    proc = run_cli("train", "--model", tiny_dir, "--task", "SST-2", "--data", tmp_path / "glue", "--out", tmp_path / "o",
                   "--method", "lora", "--bottleneck", 8, check=False)
    assert proc.returncode != 0
    assert "--bottleneck (a houlsby option)" in proc.stderr
