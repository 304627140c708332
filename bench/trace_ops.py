#!/usr/bin/env python3
"""Sums a Kineto trace (encoder_bench --trace) per operator: self time (the op's time less the ops it called),
total time and calls, largest self time first, as a Markdown table.

  python3 bench/trace_ops.py trace.json [--top 30]
"""
import argparse
import collections
import json


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    with open(args.trace) as f:
        all_events = [e for e in json.load(f)["traceEvents"] if e.get("ph") == "X"]
    events = [e for e in all_events if e.get("cat") == "cpu_op"]
    phases = collections.Counter()  # encoder_bench's RECORD_USER_SCOPE("phase: ...") spans
    for e in all_events:
        if e.get("cat") == "user_annotation" and e["name"].startswith("phase: "):
            phases[e["name"][len("phase: "):]] += e["dur"]
    self_us, total_us, calls = collections.Counter(), collections.Counter(), collections.Counter()
    by_thread = collections.defaultdict(list)
    for e in events:
        by_thread[e["tid"]].append(e)
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # enclosing ops: (end, name)
        for e in thread_events:
            while stack and stack[-1][0] <= e["ts"]:
                stack.pop()
            if stack:
                self_us[stack[-1][1]] -= e["dur"]
            self_us[e["name"]] += e["dur"]
            total_us[e["name"]] += e["dur"]
            calls[e["name"]] += 1
            stack.append((e["ts"] + e["dur"], e["name"]))
    wall = sum(v for v in self_us.values())
    print(f"self time over all ops: {wall / 1e3:.1f} ms")
    if phases:
        print("phases (wall ms): " + ", ".join(f"{name} {us / 1e3:.1f}" for name, us in phases.items()))
    print("| op | self ms | self % | total ms | calls |\n|---|---:|---:|---:|---:|")
    for name, us in self_us.most_common(args.top):
        print(f"| {name} | {us / 1e3:.1f} | {100 * us / wall:.1f} | {total_us[name] / 1e3:.1f} | {calls[name]} |")


if __name__ == "__main__":
    main()
