#!/usr/bin/env python3
"""HTTP throughput and latency of `adapterbias serve` on MiniLM: requests/s and p50/p99 latency at 1, 16 and 64
concurrent connections, one task and 16 tasks mixed uniformly at random, with wrk (Debian's `wrk`) on loopback.

  python3 bench/serve_bench.py --data /work/shared/data/glue --threads 2
  python3 bench/serve_bench.py --quick          # 3 s per cell, 1 and 16 connections

Each request is POST /predict {"task", "inputs": one SST-2 dev sentence} (the sentences in turn, the task at
random per request for the mixed rows); the server runs fp32 with --threads (its engine thread's intra-op threads)
and its defaults for batching (--max-wait-ms 2, --max-batch-tokens 16384). The 16 tasks are copies of one
adapter trained for 20 steps under 16 names. wrk runs on the same 2-core machine, so client and server share it."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402
import multi_task_bench  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LUA = """
local sentences = %s
local tasks = %s
local i = 0
request = function()
  i = i + 1
  local task = tasks[math.random(#tasks)]
  local body = '{"task": "' .. task .. '", "inputs": ' .. sentences[(i %% #sentences) + 1] .. '}'
  return wrk.format("POST", "/predict", {["Content-Type"] = "application/json"}, body)
end
"""


def lua_list(items):
    return "{" + ", ".join("[==[" + s + "]==]" for s in items) + "}"


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))

    def latency(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)\b", text)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return rps, latency(50), latency(99), int(errors.group(1)) if errors else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(REPO, "build", "src", "adapterbias"))
    p.add_argument("--data", default=os.path.join(REPO, "..", "shared", "data", "glue"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", default="1,16,64")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    if args.quick:
        args.seconds, args.connections = 3, "1,16"
    if not shutil.which("wrk"):
        sys.exit("serve_bench: needs wrk (apt-get install wrk)")
    sentences = [json.dumps(r["text"]) for r in _peers.read_glue(args.data, "sst-2", "dev")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        adapter = multi_task_bench.make_adapter(args, tmp)
        cmd = [args.bin, "serve", "--model", "minilm", "--port", "0", "--precision", "fp32", "--threads", str(args.threads)]
        for k in range(16):
            cmd += ["--adapter", f"t{k}={adapter}"]
        server = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        url = None
        for line in server.stderr:
            m = re.search(r"listening on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            sys.exit("serve_bench: the server did not start")
        try:
            for label, tasks in (("1 task", ["t0"]), ("16 tasks mixed", [f"t{k}" for k in range(16)])):
                script = os.path.join(tmp, "predict.lua")
                with open(script, "w", encoding="utf-8") as f:
                    f.write(LUA % (lua_list(sentences), lua_list(tasks)))
                for c in map(int, args.connections.split(",")):
                    out = subprocess.run(["wrk", "-t", str(min(c, 2)), "-c", str(c), "-d", f"{args.seconds}s", "--latency",
                                          "-s", script, url], capture_output=True, text=True, check=True).stdout
                    rps, p50, p99, errors = parse_wrk(out)
                    rows.append([label, str(c), f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", str(errors)])
                    time.sleep(1)
        finally:
            server.terminate()
            server.wait(60)
    print(_peers.machine_line(args.threads))
    print(f"POST /predict, one SST-2 dev sentence per request, MiniLM fp32, wrk {args.seconds} s per row on loopback")
    print()
    print(_peers.markdown_table(["tasks", "connections", "requests/s", "p50 ms", "p99 ms", "non-2xx"], rows, right_from=1))


if __name__ == "__main__":
    main()
