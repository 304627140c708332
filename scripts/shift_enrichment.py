#!/usr/bin/env python3
"""Which tokens does AdapterBias shift most? Three tests of the claim that the shift is largest on task-relevant
tokens, and where in depth it happens (docs/shift-enrichment.md).

1. SST-2: are the most-shifted words sentiment words? `adapterbias analyze` ranks the dev words seen at least
   --min-count times by mean shift (max over a word's pieces of the shift summed over layers); the share of an
   independent lexicon (VADER's vader_lexicon.txt, PyPI vaderSentiment) among the top k is compared with
   frequency-matched random words (each top-k word replaced by a random ranked word of the same count bin,
   without replacement). Enrichment ratio and permutation p-value (1 + #null >= observed) / (1 + N).
2. Sentence pairs (MRPC, STS-B): are words that appear in only one sentence of the pair shifted more than the
   words both sentences share? Per word occurrence (alphabetic words, lowercased; `explain` gives each word's
   per-layer shifts and its sentence), the difference of mean shifts unique - shared within count bins of the
   word's dev frequency, averaged over bins weighted by occurrences; null: the unique/shared labels permuted
   within each bin.
3. RTE: are negation and quantifier words (a fixed list, below) shifted more than other words of the same
   frequency? The same statistic with labels "in the list" / "not".
Plus the per-layer profile of each adapter's shift: mean over content tokens per layer, and each layer's share.

    python3 scripts/shift_enrichment.py --model minilm --data ../shared/data/glue --out docs/ \
        --adapter sst-2=A1 --adapter mrpc=A2 --adapter rte=A3 [...] [--reading docs/shift-enrichment/reading.md]

writes docs/shift-enrichment.md and docs/shift-enrichment/ (analyze's SST-2 output, each task's explain
output summarised in results.json)."""
import argparse
import csv
import json
import os
import random
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors import safe_open

REPO = Path(__file__).resolve().parents[1]


def vader_lexicon():
    """The VADER lexicon: word (lowercase) -> mean valence (-4 .. 4), and the file it came from."""
    try:
        import vaderSentiment
    except ImportError:
        sys.exit("error: needs the vaderSentiment package: pip install vadersentiment")
    path = Path(vaderSentiment.__file__).parent / "vader_lexicon.txt"
    words = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2 and fields[0].strip():
            words[fields[0].strip().lower()] = float(fields[1])
    return words, path


def read_words(path, min_count):
    rows = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            word, count, mean_shift, _ = line.rstrip("\n").split("\t")
            if int(count) >= min_count:
                rows.append((word, int(count), float(mean_shift)))
    rows.sort(key=lambda r: (-r[2], -r[1], r[0]))
    return rows


def count_bins(rows, n_bins):
    """Bin index per word: quantile bins of log count (ties kept together)."""
    counts = sorted(r[1] for r in rows)
    edges = sorted({counts[min(len(counts) - 1, (len(counts) * i) // n_bins)] for i in range(1, n_bins)})
    return [sum(c >= e for e in edges) for _, c, _ in rows]


def enrichment(rows, lexicon, k, bins, permutations, rng):
    top = rows[:k]
    observed = sum(w in lexicon for w, _, _ in top) / k
    by_bin = {}
    for i, b in enumerate(bins):
        by_bin.setdefault(b, []).append(i)
    need = {}
    for i in range(k):
        need[bins[i]] = need.get(bins[i], 0) + 1
    in_lexicon = [w in lexicon for w, _, _ in rows]
    null = []
    for _ in range(permutations):
        hits = 0
        for b, n in need.items():
            hits += sum(in_lexicon[i] for i in rng.sample(by_bin[b], n))
        null.append(hits / k)
    mean_null = sum(null) / len(null)
    p = (1 + sum(s >= observed for s in null)) / (1 + permutations)
    return {"k": k, "observed_share": observed, "null_mean_share": mean_null,
            "ratio": observed / mean_null if mean_null > 0 else float("inf"), "p_value": p,
            "null_95th": sorted(null)[int(0.95 * (len(null) - 1))],
            "lexicon_words_in_top": [w for w, _, _ in top if w in lexicon],
            "negative_in_top": sum(lexicon.get(w, 0) < 0 for w, _, _ in top)}


# Negation and quantifier words for the RTE test: closed-class words that decide entailment, fixed before any
# shift was seen.
NEGATION = {"not", "no", "never", "n't", "none", "nobody", "nothing", "neither", "nor", "nowhere", "without",
            "cannot", "hardly", "barely"}
QUANTIFIERS = {"all", "every", "each", "some", "any", "many", "few", "most", "several", "both", "only", "more",
               "less", "fewer", "much", "least", "half", "majority", "minority", "either"}
PAIR_COLUMNS = {"mrpc": ("MRPC", "#1 String", "#2 String"), "sts-b": ("STS-B", "sentence1", "sentence2"),
                "rte": ("RTE", "sentence1", "sentence2")}
SINGLE_COLUMNS = {"sst-2": ("SST-2", "sentence"), "cola": ("CoLA", 3)}


def dev_inputs(data, task):
    """The dev split's texts as explain --input rows ({"text", "text_pair"})."""
    folder, *columns = PAIR_COLUMNS.get(task) or SINGLE_COLUMNS[task]
    with open(Path(data) / folder / "dev.tsv", newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        if task == "cola":  # no header; the sentence is the 4th column
            return [{"text": r[3]} for r in reader]
        header = next(reader)
        index = [header.index(c) for c in columns]
        return [dict(zip(("text", "text_pair"), (r[i] for i in index))) for r in reader]


def explain(args, task, adapter, folder):
    """Runs `adapterbias explain` over the task's dev split; its JSON (per input: words with sentence and shifts)."""
    folder.mkdir(parents=True, exist_ok=True)
    inputs = folder / f"{task}-dev.jsonl"
    inputs.write_text("".join(json.dumps(r) + "\n" for r in dev_inputs(args.data, task)))
    out = folder / f"{task}-explain.json"
    command = [args.bin, "explain", "--model", args.model, "--adapter", adapter, "--input", str(inputs),
               "--format", "json", "--out", str(out), "--overwrite", "--threads", str(args.threads)]
    print("+", shlex.join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    data = json.loads(out.read_text())
    out.unlink()  # tens of MB; results.json keeps what the page shows
    inputs.unlink()
    return data


def word_occurrences(explained):
    """(word, sentence, input index, total shift, per-layer shifts) of every alphabetic word."""
    out = []
    for i, item in enumerate(explained["inputs"]):
        for w in item["words"]:
            text = w["word"].lower()
            if any(c.isalpha() for c in text):
                out.append((text, w["sequence"], i, w["shift_total"], w["shift"]))
    return out


def binned_difference(values, labels, bins):
    """Mean over count bins (weighted by occurrences) of mean(values | label) - mean(values | not label); bins
    without both kinds are left out. values (n) or (n, L)."""
    total, weight = 0.0, 0
    for b in np.unique(bins):
        pick = bins == b
        yes, no = pick & labels, pick & ~labels
        if yes.any() and no.any():
            total = total + pick.sum() * (values[yes].mean(0) - values[no].mean(0))
            weight += pick.sum()
    return total / weight


def permutation_test(values, labels, bins, permutations, rng):
    """Observed binned difference, the null's mean, and the one-sided p-value, labels permuted within bins."""
    observed = binned_difference(values, labels, bins)
    null = np.empty(permutations)
    shuffled = labels.copy()
    groups = [np.flatnonzero(bins == b) for b in np.unique(bins)]
    for k in range(permutations):
        for g in groups:
            shuffled[g] = labels[g][rng.permutation(len(g))]
        null[k] = binned_difference(values, shuffled, bins)
    return {"difference": float(observed), "null_mean": float(null.mean()),
            "null_95th": float(np.quantile(null, 0.95)),
            "p_value": float((1 + (null >= observed).sum()) / (1 + permutations)),
            "p_value_smaller": float((1 + (null <= observed).sum()) / (1 + permutations))}


def frequency_bins(words, n_bins):
    """Quantile bins of each occurrence's word count over the split (ties kept together)."""
    counts = {}
    for w in words:
        counts[w] = counts.get(w, 0) + 1
    c = np.array([counts[w] for w in words], dtype=float)
    edges = np.unique(np.quantile(c, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.searchsorted(edges, c, side="right")


def labelled_test(occurrences, labels, args, rng):
    words = [o[0] for o in occurrences]
    totals = np.array([o[3] for o in occurrences])
    layers = np.array([o[4] for o in occurrences])
    bins = frequency_bins(words, args.bins)
    result = permutation_test(totals, labels, bins, args.permutations, rng)
    result["per_layer_difference"] = [float(x) for x in binned_difference(layers, labels, bins)]
    result["mean_labelled"], result["mean_other"] = float(totals[labels].mean()), float(totals[~labels].mean())
    result["labelled"], result["other"] = int(labels.sum()), int((~labels).sum())
    return result


def pair_test(explained, args, rng):
    """Test 2: words in one sentence only against words both sentences of the pair have."""
    occurrences = word_occurrences(explained)
    sets = {}
    for w, seq, i, _, _ in occurrences:
        sets.setdefault((i, seq), set()).add(w)
    unique = np.array([w not in sets.get((i, 1 - seq), set()) for w, seq, i, _, _ in occurrences])
    return labelled_test(occurrences, unique, args, rng)


def list_test(explained, words, args, rng):
    """Test 3: words of a fixed list against other words of the same frequency."""
    occurrences = word_occurrences(explained)
    labels = np.array([o[0] in words for o in occurrences])
    result = labelled_test(occurrences, labels, args, rng)
    by_word = {}
    for o, hit in zip(occurrences, labels):
        if hit:
            by_word.setdefault(o[0], []).append(o[3])
    result["words"] = {w: {"count": len(v), "mean_shift": float(np.mean(v))} for w, v in sorted(by_word.items())}
    return result


def layer_profile(explained):
    """Mean shift per layer over the content tokens (special tokens excluded) and each layer's share."""
    shifts = np.array([t["shift"] for item in explained["inputs"] for t in item["tokens"] if t["sequence"] >= 0])
    mean = shifts.mean(0)
    return {"mean_shift": [float(x) for x in mean], "share": [float(x) for x in mean / mean.sum()],
            "v_norm": explained["v_norm"], "tokens": int(len(shifts))}


def p_text(p, permutations):
    return f"{p:.1e} (the smallest possible)" if p <= 1 / (1 + permutations) else f"{p:.4g}"


def sst2_section(args, adapter, analysis, rng_seed):
    command = [args.bin, "analyze", "--model", args.model, "--adapter", adapter, "--task", "sst-2",
               "--data", args.data, "--split", "dev", "--out", str(analysis), "--min-count", str(args.min_count),
               "--threads", str(args.threads), "--overwrite"]
    print("+", shlex.join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    summary = json.loads((analysis / "summary.json").read_text())
    lexicon, _ = vader_lexicon()
    rows = read_words(analysis / "words.tsv", args.min_count)
    bins = count_bins(rows, args.bins)
    rng = random.Random(rng_seed)
    results = [enrichment(rows, lexicon, k, bins, args.permutations, rng) for k in args.k if k <= len(rows)]
    base_share = sum(w in lexicon for w, _, _ in rows) / len(rows)
    report = {"examples": summary["examples"], "content_tokens": summary["content_tokens"],
              "min_count": args.min_count, "ranked_words": len(rows), "lexicon": "VADER vader_lexicon.txt",
              "lexicon_size": len(lexicon), "base_share": base_share, "results": results}
    lines = [
        "## 1. SST-2: are the most-shifted words sentiment words?", "",
        f"SST-2 dev: {summary['examples']} sentences, {summary['content_tokens']} tokens. Words are ranked by their "
        f"mean shift over occurrences, among the {len(rows)} words seen at least {args.min_count} times. Lexicon: "
        f"VADER's `vader_lexicon.txt` ({len(lexicon)} entries, PyPI vaderSentiment), made without SST-2 or this "
        f"model; {base_share:.1%} of the ranked words are in it. Null: each top-k word replaced by a random ranked "
        f"word of the same count bin ({args.bins} quantile bins), without replacement.", "",
        "| k | lexicon share in top k | frequency-matched random share (mean) | enrichment ratio | p-value | "
        "lexicon words positive / negative |", "|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['k']} | {r['observed_share']:.1%} | {r['null_mean_share']:.1%} | {r['ratio']:.2f} | "
                     f"{p_text(r['p_value'], args.permutations)} | "
                     f"{len(r['lexicon_words_in_top']) - r['negative_in_top']} / {r['negative_in_top']} |")
    lines += ["", "Top 20 words by mean shift:", "", "| rank | word | count | mean shift | in lexicon (VADER valence) |",
              "|---:|---|---:|---:|:---:|"]
    for i, (w, c, sh) in enumerate(rows[:20], 1):
        valence = f"yes ({lexicon[w]:+.1f})" if w in lexicon else ""
        lines.append(f"| {i} | `{w}` | {c} | {sh:.3f} | {valence} |")
    lines += ["", "Full ranking: `shift-enrichment/words.tsv`; per-layer statistics and shift against confidence: "
              "`shift-enrichment/summary.json` and `report.html`.", ""]
    return lines, report


def labelled_rows(name, r, args):
    return (f"| {name} | {r['labelled']:,} / {r['other']:,} | {r['mean_labelled']:.4f} | {r['mean_other']:.4f} | "
            f"{r['difference']:+.4f} | {r['null_95th']:+.4f} | {p_text(r['p_value'], args.permutations)} | "
            f"{p_text(r['p_value_smaller'], args.permutations)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint folder or packaged name (minilm)")
    parser.add_argument("--adapter", action="append", required=True, metavar="TASK=FILE",
                        help="an AdapterBias adapter of sst-2, mrpc, sts-b, rte or cola (repeatable)")
    parser.add_argument("--data", required=True, help="GLUE root")
    parser.add_argument("--out", required=True, help="folder for shift-enrichment.md")
    parser.add_argument("--note", default="", help="a sentence on where the adapters come from, for the page")
    parser.add_argument("--reading", help="a Markdown file with the interpretation of these numbers, written by a "
                                          "person after reading them; appended as the page's last section")
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--k", type=int, nargs="+", default=[20, 50, 100])
    parser.add_argument("--bins", type=int, default=5, help="count bins for frequency matching")
    parser.add_argument("--permutations", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bin", default=os.environ.get("ADAPTERBIAS_BIN", str(REPO / "build" / "src" / "adapterbias")))
    args = parser.parse_args()
    adapters = dict(a.split("=", 1) for a in args.adapter)
    unknown = set(adapters) - set(PAIR_COLUMNS) - set(SINGLE_COLUMNS)
    if unknown:
        sys.exit(f"error: --adapter for unknown task(s) {sorted(unknown)}")

    out = Path(args.out)
    folder = out / "shift-enrichment"
    rng = np.random.default_rng(args.seed)
    results = {"adapters": adapters, "bins": args.bins, "permutations": args.permutations, "seed": args.seed}
    script_cmd = "python3 scripts/shift_enrichment.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = ["# Which tokens does AdapterBias shift most?", "", "Generated by", "", "```", script_cmd, "```", "",
             "The claim under test (the project's statement of the method: alpha is largest on task-relevant "
             "tokens) with numbers, on adapters trained for each task. A token's shift in layer l is "
             "|alpha<sub>l,t</sub>| ||v<sub>l</sub>|| (`explain.md`); a word's is the largest over its pieces, "
             "summed over layers unless a layer is named. p-values are one-sided permutation p-values "
             f"(1 + #null >= observed) / (1 + {args.permutations:,}), seed {args.seed}; frequency matching uses "
             f"{args.bins} quantile bins of each word's count in the split.", ""]
    if args.note:
        lines += [args.note, ""]
    # What each adapter reached: shifts of an adapter that barely learnt its task say little.
    lines += ["| task | adapter | its dev metric (stored in the adapter) |", "|---|---|---|"]
    for task, path in adapters.items():
        with safe_open(path, "pt") as f:
            metrics = json.loads(f.metadata()["adapterbias"])["metrics"]
        shown_metrics = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
        lines.append(f"| {task.upper()} | `{path}` | {shown_metrics} |")
        results.setdefault("adapter_metrics", {})[task] = metrics
    lines.append("")
    profiles = {}
    if "sst-2" in adapters:
        section, results["sst-2"] = sst2_section(args, adapters["sst-2"], folder, args.seed)
        lines += section
    pair_tasks = [t for t in ("mrpc", "sts-b", "rte") if t in adapters]
    explained = {}
    for task in adapters:
        explained[task] = explain(args, task, adapters[task], folder)
        profiles[task] = layer_profile(explained[task])
    if pair_tasks:
        lines += ["## 2. Sentence pairs: words in one sentence only against words both share", "",
                  "For MRPC and STS-B the deciding evidence is what one sentence says and the other does not. Each "
                  "alphabetic word occurrence of a dev pair is *unique* when the other sentence of its pair does not "
                  "contain the word (lowercased), else *shared*. Statistic: within each frequency bin the mean shift "
                  "of unique minus shared occurrences, averaged over bins by occurrences; null: the labels permuted "
                  "within each bin (occurrences of one pair are not independent, so read p as approximate).", "",
                  "| task | unique / shared occurrences | mean shift unique | mean shift shared | binned difference "
                  "| null 95th percentile | p (unique larger) | p (shared larger) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for task in pair_tasks:
            results[f"{task}-pairs"] = pair_test(explained[task], args, rng)
            lines.append(labelled_rows(task.upper(), results[f"{task}-pairs"], args))
        lines += ["", "Binned difference per layer (unique - shared):", "",
                  "| task | " + " | ".join(f"layer {l}" for l in range(len(results[f'{pair_tasks[0]}-pairs']['per_layer_difference'])))
                  + " |", "|---|" + "---:|" * len(results[f"{pair_tasks[0]}-pairs"]["per_layer_difference"])]
        for task in pair_tasks:
            lines.append(f"| {task.upper()} | " + " | ".join(f"{x:+.4f}" for x in results[f"{task}-pairs"]["per_layer_difference"]) + " |")
        lines.append("")
    if "rte" in adapters:
        lists = {"negation": NEGATION, "quantifiers": QUANTIFIERS, "negation and quantifiers": NEGATION | QUANTIFIERS}
        lines += ["## 3. RTE: negation and quantifier words", "",
                  f"Negation: {', '.join(sorted(NEGATION))}. Quantifiers: {', '.join(sorted(QUANTIFIERS))}. (Fixed "
                  "before any shift was looked at.) Statistic as in 2, with labels in the list / not.", "",
                  "| words | in list / other occurrences | mean shift in list | mean shift other | binned difference "
                  "| null 95th percentile | p (list larger) | p (list smaller) |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, words in lists.items():
            results[f"rte-{name}"] = list_test(explained["rte"], words, args, rng)
            lines.append(labelled_rows(name, results[f"rte-{name}"], args))
        seen = results["rte-negation and quantifiers"]["words"]
        lines += ["", "List words in RTE dev: " + ", ".join(
            f"`{w}` {v['count']}x {v['mean_shift']:.3f}" for w, v in sorted(seen.items(), key=lambda kv: -kv[1]["mean_shift"])) + ".", ""]
    results["layer_profiles"] = profiles
    n_layers = len(next(iter(profiles.values()))["mean_shift"])
    lines += ["## 4. Where in depth: the shift per layer", "",
              "Mean shift per layer over the dev set's content tokens, and in brackets that layer's share of the "
              "sum over layers; ||v<sub>l</sub>|| below each task.", "",
              "| task | " + " | ".join(f"layer {l}" for l in range(n_layers)) + " |", "|---|" + "---:|" * n_layers]
    for task, prof in profiles.items():
        lines.append(f"| {task.upper()} | " + " | ".join(f"{m:.3f} ({s:.0%})" for m, s in zip(prof["mean_shift"], prof["share"])) + " |")
        lines.append(f"| {task.upper()} ‖v‖ | " + " | ".join(f"{v:.3f}" for v in prof["v_norm"]) + " |")
    lines.append("")
    if args.reading:
        lines += ["## Reading", "", Path(args.reading).read_text(encoding="utf-8").strip(), ""]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "shift-enrichment.md").write_text("\n".join(lines))
    print(f"wrote {out / 'shift-enrichment.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
