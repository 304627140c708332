"""adapterbias: AdapterBias transfer learning of BERT/RoBERTa encoders, in-process over the C++ core.

    import adapterbias as ab
    backbone = ab.Backbone.load("minilm")
    result = ab.train(backbone, task="sst-2", data="glue/", out="runs/sst2", epochs=1, lr=1e-3)
    model = ab.load_adapter(backbone, result.adapter_path)
    model.predict(["a gripping, funny film", "a tedious mess"])

Everything runs in the same C++ library as the `adapterbias` command line (same adapters, same predictions,
same metrics); tensors cross as torch.Tensor without copies. Long calls release the GIL.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch  # loads LibTorch before the extension, which links the same libraries

from ._build_info import torch_version as _built_for_torch
from ._build_info import version as __version__

if torch.__version__ != _built_for_torch:
    raise ImportError(
        f"adapterbias {__version__} was built for torch {_built_for_torch}, but torch {torch.__version__} is "
        f"installed; reinstall adapterbias (pip install --no-build-isolation .) or torch=={_built_for_torch}")

from . import _core  # noqa: E402
from .errors import (DistributedError, DivergedError, Error, FormatError, InputError,  # noqa: E402
                     MismatchError)

__all__ = ["Backbone", "Tokenizer", "TaskModel", "TrainResult", "train", "load_adapter", "set_num_threads",
           "get_num_threads", "Error", "InputError", "FormatError", "MismatchError", "DivergedError",
           "DistributedError", "__version__"]

logger = logging.getLogger("adapterbias")

Texts = Union[str, Sequence[str]]


def _on_log(kind: str, line: str) -> None:
    if kind == "warning":
        logger.warning(line)
    else:
        logger.debug(line)


def _locate_package(package: str) -> Optional[str]:
    # Packaged model names ("minilm") live in Python packages: found through this interpreter's imports.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


_core.set_log_handler(_on_log)
_core.set_package_locator(_locate_package)
# The handlers hold Python callables: drop them before the interpreter goes.
atexit.register(_core.set_package_locator, None)
atexit.register(_core.set_log_handler, None)


def set_num_threads(threads: int) -> None:
    """LibTorch's intra-op CPU threads for everything that follows (as the CLI's --threads)."""
    _core.set_num_threads(threads)


def get_num_threads() -> int:
    return _core.get_num_threads()


def _path(value: Union[str, os.PathLike, None]) -> Optional[str]:
    return None if value is None else os.fspath(value)


class Tokenizer:
    """A checkpoint's tokenizer, identical to Hugging Face `tokenizers` and to `adapterbias tokenize`."""

    def __init__(self, core: "_core.Tokenizer"):
        self._core = core

    @classmethod
    def from_pretrained(cls, name_or_path: Union[str, os.PathLike]) -> "Tokenizer":
        """From a checkpoint folder (tokenizer.json, or vocab.txt / vocab.json + merges.txt) or "minilm"."""
        return cls(_core.Tokenizer.from_pretrained(os.fspath(name_or_path)))

    @property
    def pad_token_id(self) -> int:
        return self._core.pad_token_id

    @property
    def vocab_size(self) -> int:
        return self._core.vocab_size

    def token_to_id(self, token: str) -> Optional[int]:
        return self._core.token_to_id(token)

    def encode(self, text: str, text_pair: Optional[str] = None, *, max_length: int = 0,
               add_special_tokens: bool = True) -> Dict[str, list]:
        """input_ids, token_type_ids, attention_mask, tokens and offsets (code points) of one input, as lists.

        max_length > 0 truncates (longest_first) to that many tokens, special tokens included."""
        return self._core.encode(text, text_pair, max_length, add_special_tokens)

    def encode_batch(self, texts: Sequence[str], text_pairs: Optional[Sequence[str]] = None, *,
                     max_length: int = 0, add_special_tokens: bool = True,
                     return_tensors: Optional[str] = None) -> Union[List[Dict[str, list]], Dict[str, torch.Tensor]]:
        """Many inputs on all cores: a list of encode() dicts, or with return_tensors="pt" (N, T) int64 tensors
        input_ids (padded with pad_token_id), token_type_ids and attention_mask."""
        return self._core.encode_batch(texts, text_pairs, max_length, add_special_tokens, return_tensors)

    def __repr__(self) -> str:
        return f"Tokenizer({self._core.dir!r})"


class Backbone:
    """A frozen pretrained encoder (BERT/RoBERTa checkpoint folder, or "minilm"), shared by task models.

    The loaded weights never change: every task model and every training works on its own copy."""

    def __init__(self, core: "_core.Backbone"):
        self._core = core

    @classmethod
    def load(cls, name_or_path: Union[str, os.PathLike] = "minilm", *, device: str = "cpu",
             precision: str = "auto") -> "Backbone":
        """Loads config.json and the weights. device: cpu, cuda, cuda:N. precision: fp32, bf16 (mixed: bf16
        matmuls, fp32 LayerNorms and trained tensors) or auto (bf16 where the CPU or GPU has it), as in the CLI."""
        return cls(_core.Backbone.load(os.fspath(name_or_path), device, precision))

    @property
    def config(self) -> Dict[str, Any]:
        """config.json as the model reads it (sizes, activation, dropout, eps)."""
        return self._core.config

    @property
    def dir(self) -> str:
        return self._core.dir

    @property
    def fingerprint(self) -> str:
        """The weights' identity that adapters record (CRC-32 over names, shapes and fp32 bytes)."""
        return self._core.fingerprint

    @property
    def device(self) -> str:
        return self._core.device

    @property
    def precision(self) -> str:
        return self._core.precision

    @property
    def num_parameters(self) -> int:
        return self._core.num_parameters

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self._core.tokenizer)

    def parameters(self) -> Dict[str, torch.Tensor]:
        """The backbone's weights by name: the model's own tensors (no copy; do not modify them)."""
        return self._core.parameters()

    def embed(self, texts: Texts, text_pairs: Optional[Texts] = None, *, pooling: str = "mean",
              max_length: int = 512, batch_size: int = 32) -> torch.Tensor:
        """Sentence embeddings (N, H) float32 on the CPU, in input order. pooling: "mean" (over real tokens, as
        sentence-transformers), "cls" (first token's hidden state) or "pooler" (BertModel's pooler_output)."""
        return self._core.embed(texts, text_pairs, pooling, max_length, batch_size)

    def __repr__(self) -> str:
        c = self.config
        return (f"Backbone({self.dir!r}, {c['model_type']} L={c['num_hidden_layers']} H={c['hidden_size']}, "
                f"{self.device} {self.precision})")


class TaskModel:
    """A task adapter (a file written by `train`) loaded on its own copy of a backbone."""

    def __init__(self, core: "_core.TaskModel", backbone: Backbone):
        self._core = core
        self.backbone = backbone

    @property
    def path(self) -> str:
        return self._core.path

    @property
    def info(self) -> Dict[str, Any]:
        """The adapter's metadata: method and options, task, labels, max length, backbone, metrics, training."""
        return self._core.info

    @property
    def task(self) -> str:
        return self._core.task

    @property
    def labels(self) -> List[str]:
        return self._core.labels

    @property
    def regression(self) -> bool:
        return self._core.regression

    @property
    def method(self) -> str:
        return self._core.method

    def tensors(self) -> Dict[str, torch.Tensor]:
        """The adapter's trained tensors by name, as the model uses them: the tensors themselves (no copy), so
        changing one changes the model's outputs."""
        return self._core.tensors()

    def logits(self, texts: Texts, text_pairs: Optional[Texts] = None, *, batch_size: int = 64,
               max_length: int = 0) -> torch.Tensor:
        """Logits (N, num_labels) float32 (regression: (N, 1)), in input order. max_length 0: the adapter's."""
        return self._core.logits(texts, text_pairs, batch_size, max_length)

    def predict(self, texts: Texts, text_pairs: Optional[Texts] = None, *, batch_size: int = 64,
                max_length: int = 0, logits: bool = False) -> List[Dict[str, Any]]:
        """One dict per input, as `adapterbias predict` prints: {"label", "label_id", "probabilities"} or, for
        regression, {"score"}; logits=True adds "logits"."""
        return self._core.predict(texts, text_pairs, batch_size, max_length, logits)

    def evaluate(self, split: str = "dev", *, data: Union[str, os.PathLike, None] = None,
                 task: Optional[str] = None, dev: Union[str, os.PathLike, None] = None,
                 train: Union[str, os.PathLike, None] = None, text_column: Optional[str] = None,
                 text_pair_column: Optional[str] = None, label_column: Optional[str] = None,
                 skip_bad_rows: bool = False, batch_size: int = 64, max_length: int = 0) -> Dict[str, Any]:
        """The task's official metrics on a labeled split, the document `adapterbias eval` prints: a GLUE folder
        (data=, the adapter's task unless task= names another) or your own file (dev= with the column names)."""
        kwargs = dict(data=_path(data), task=task, dev=_path(dev), train=_path(train), text_column=text_column,
                      text_pair_column=text_pair_column, label_column=label_column, skip_bad_rows=skip_bad_rows)
        return self._core.evaluate(split, batch_size, max_length, **{k: v for k, v in kwargs.items() if v is not None})

    def explain(self, texts: Texts, text_pairs: Optional[Texts] = None, *, batch_size: int = 32,
                max_length: int = 0) -> Dict[str, Any]:
        """AdapterBias's shift per token and layer, the document `adapterbias explain --format json` writes:
        {"v_norm", "layers", "inputs": [{"prediction", "tokens": [{"token", "alpha", "shift", ...}], "words"}]}.
        InputError for adapters of other methods."""
        return self._core.explain(texts, text_pairs, batch_size, max_length)

    def merge(self, out: Union[str, os.PathLike], overwrite: bool = False) -> Dict[str, Any]:
        """Folds the adapter into a copy of the backbone and writes a Hugging Face checkpoint folder (as
        `adapterbias merge`); this model stays as it is. Files already in `out` are replaced only with
        `overwrite=True`."""
        return self._core.merge(os.fspath(out), overwrite)

    def __repr__(self) -> str:
        return f"TaskModel({self.path!r}, task={self.task!r}, method={self.method!r})"


def load_adapter(backbone: Backbone, path: Union[str, os.PathLike]) -> TaskModel:
    """Loads an adapter file on a copy of `backbone`; MismatchError when it was trained on another backbone."""
    return TaskModel(_core.TaskModel.load(backbone._core, os.fspath(path)), backbone)


@dataclass
class TrainResult:
    """What train() returns: the files it wrote and the run's measurements (`summary`: the CLI's JSON)."""

    adapter_path: str
    last_path: str
    best_step: int
    steps: int
    dev_metric: str
    dev_score: Optional[float]
    metrics: Dict[str, float]
    seconds: float
    tokens_per_second: float
    trainable_parameters: int
    adapter_bytes: int
    summary: Dict[str, Any] = field(repr=False)


# The CLI's method flags, as the method configs name them (peft/method_options.h).
_METHOD_FLAGS = {"share_alpha": "share_alpha", "bottleneck": "bottleneck", "lora_r": "r", "lora_alpha": "alpha",
                 "l0": "l0", "l0_init": "init_log_alpha", "l0_gate_lr_scale": "gate_lr_scale"}


def _train_defaults() -> Dict[str, Any]:
    import inspect
    return {name: p.default for name, p in inspect.signature(train).parameters.items()
            if p.default is not inspect.Parameter.empty}


class _TqdmProgress:
    """A tqdm bar per epoch and a line per evaluation, from the trainer's events."""

    def __init__(self, tqdm):
        self._tqdm = tqdm
        self._bar = None
        self._tokens = 0

    def __call__(self, event: Dict[str, Any]) -> None:
        kind = event["event"]
        if kind == "epoch_started":
            self._bar = self._tqdm(total=event["steps"], desc=f"epoch {event['epoch']}", unit="step")
            self._tokens = 0
        elif kind == "step" and self._bar is not None:
            self._tokens += event["tokens"]
            elapsed = self._bar.format_dict.get("elapsed") or 0
            self._bar.set_postfix(loss=f"{event['loss']:.4f}",
                                  tok_s=f"{self._tokens / elapsed:.0f}" if elapsed else "-", refresh=False)
            self._bar.update(1)
        elif kind == "epoch_finished" and self._bar is not None:
            self._bar.close()
            self._bar = None
        elif kind == "evaluated":
            metrics = ", ".join(f"{k}={v:.4f}" for k, v in event["metrics"].items())
            self._tqdm.write(f"epoch {event['epoch']} step {event['step']}: train loss {event['train_loss']:.4f}, "
                             f"dev {metrics}{' (best)' if event['best'] else ''}")


def train(backbone: Backbone, *, out: Union[str, os.PathLike, None] = None, task: Optional[str] = None,
          data: Union[str, os.PathLike, None] = None, train: Union[str, os.PathLike, None] = None,
          dev: Union[str, os.PathLike, None] = None, test: Union[str, os.PathLike, None] = None,
          text_column: str = "text", text_pair_column: Optional[str] = None, label_column: str = "label",
          id_column: Optional[str] = None, regression: bool = False, skip_bad_rows: bool = False,
          method: str = "adapterbias", method_options: Optional[Dict[str, Any]] = None,
          epochs: int = 3, batch_size: int = 32, lr: float = 1e-4, max_length: int = 128, seed: int = 42,
          warmup: float = 0.0, weight_decay: float = 0.01, max_grad_norm: float = 0.0, eval_every: int = 0,
          max_steps: int = 0, shuffle: bool = True, layout: str = "packed", early_stopping: int = 0,
          save_every: int = 0, dropout: Optional[float] = None, max_train_examples: Optional[int] = None,
          init_adapter: Union[str, os.PathLike, None] = None, dev_fraction: float = 0.0, overwrite: bool = False,
          resume: Union[str, os.PathLike, None] = None,
          progress: Union[bool, Callable[[Dict[str, Any]], None], None] = True,
          **method_flags: Any) -> TrainResult:
    """Trains a task adapter on a copy of `backbone`, exactly as `adapterbias train` with the same options does
    (the same seed and data give the same adapter file). Writes out/adapter.safetensors (best by dev metric),
    out/last.safetensors, out/metrics.jsonl and out/checkpoint/.

    Data: a GLUE task (task= and data=, the GLUE folder) or your own CSV/TSV/JSONL files (train=, dev=, with
    text_column= ...). Method: method= and its options, either as method_options={...} (the method's config
    fields) or as the CLI's flag names: share_alpha=True, bottleneck=, lora_r=, lora_alpha=, l0=, l0_init=,
    l0_gate_lr_scale=. progress: True (a tqdm bar when tqdm is installed), False, or a callable receiving each
    event dict ({"event": "epoch_started" | "step" | "epoch_finished" | "evaluating" | "evaluated" |
    "checkpoint", ...}). Ctrl-C writes a checkpoint, then raises KeyboardInterrupt; train(backbone,
    resume=out) continues that run with the options it was started with (give no others)."""
    options = dict(method_options or {})
    for name, value in method_flags.items():
        if name not in _METHOD_FLAGS:
            raise TypeError(f"train() got an unexpected keyword argument '{name}'")
        if value is not None and value is not False:
            options[_METHOD_FLAGS[name]] = value
    config = dict(out=_path(out), task=task, data=_path(data), train=_path(train), dev=_path(dev), test=_path(test),
                  text_column=text_column, text_pair_column=text_pair_column, label_column=label_column,
                  id_column=id_column, regression=regression, skip_bad_rows=skip_bad_rows, method=method,
                  method_options=options, epochs=epochs, batch_size=batch_size, lr=lr, max_length=max_length,
                  seed=seed, warmup=warmup, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
                  eval_every=eval_every, max_steps=max_steps, shuffle=shuffle, layout=layout,
                  early_stopping=early_stopping, save_every=save_every, dropout=dropout,
                  max_train_examples=max_train_examples, init_adapter=_path(init_adapter),
                  dev_fraction=dev_fraction, overwrite=overwrite)
    callback = None
    if callable(progress):
        callback = progress
    elif progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            callback = _TqdmProgress(tqdm)
    if resume is not None:
        given = {k for k, v in config.items() if v is not None and v != _TRAIN_DEFAULTS.get(k)}
        if given:
            raise TypeError(f"train(resume=...) continues a run with the options it was started with; "
                            f"do not give {', '.join(sorted(given))}")
        config = {"resume": _path(resume)}
    summary = _core.train(backbone._core, {k: v for k, v in config.items() if v is not None}, callback)
    return TrainResult(adapter_path=summary["adapter"], last_path=summary["last_adapter"],
                       best_step=summary["best_step"], steps=summary["steps"], dev_metric=summary["dev_metric"],
                       dev_score=summary["dev_primary"],
                       metrics={k[4:]: v for k, v in summary.items() if k.startswith("dev_")
                                and k not in ("dev_metric", "dev_primary", "dev_examples")},
                       seconds=summary["train_seconds"], tokens_per_second=summary["train_tokens_per_s"],
                       trainable_parameters=summary["trainable_parameters"], adapter_bytes=summary["adapter_bytes"],
                       summary=summary)


_TRAIN_DEFAULTS = {**_train_defaults(), "method_options": {}}
