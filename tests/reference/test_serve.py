"""`adapterbias serve` with a real HTTP client against a server this test starts on 127.0.0.1 (port 0): every
endpoint, every error class, task load/unload during traffic, graceful shutdown with requests in flight, and a
bounded load test (64 concurrent clients, several tasks, thousands of requests: every answer equals the
single-task `predict` of its input; the server's memory stays flat).

The tasks are the tiny adapters of test_multi_task_cli.py (several methods on one tiny random BERT)."""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import adapterbias_bin, run_cli, write_jsonl
from test_multi_task_cli import sentences, setup  # noqa: F401 (the fixture)

TOLERANCE = 1e-5
TASKS = ("ab", "lora", "bitfit", "houlsby")


class Server:
    """`adapterbias serve` on a free port; stderr drained in the background."""

    def __init__(self, model, adapters, *flags):
        args = [adapterbias_bin(), "serve", "--model", str(model), "--port", "0", "--precision", "fp32", "--threads", "1"]
        for name in adapters:
            args += ["--adapter", f"{name}={adapters[name]}"]
        self.proc = subprocess.Popen(args + [str(f) for f in flags], stderr=subprocess.PIPE, text=True)
        self.log = []
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.log.append(line)
                if "listening on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(60)
        match = next((re.search(r"listening on (http://\S+)", line) for line in self.log if "listening on" in line), None)
        assert match, "".join(self.log)
        self.url = match.group(1)

    def post(self, path, body, **kwargs):
        return requests.post(self.url + path, json=body, timeout=60, **kwargs)

    def get(self, path):
        return requests.get(self.url + path, timeout=60)

    def rss_bytes(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(30)


@pytest.fixture(scope="module")
def served(setup):  # noqa: F811
    model, adapters, root = setup
    folder = root / "adapter-dir"
    folder.mkdir(exist_ok=True)
    shutil.copy(adapters["shared"], folder / "shared.safetensors")
    server = Server(model, {name: adapters[name] for name in TASKS}, "--adapter-dir", folder, "--api-key", "secret",
                    "--max-client-batch-size", 8, "--max-request-bytes", 20000, "--http-threads", 96)
    yield server, model, adapters, root
    assert server.stop() == 0


@pytest.fixture(scope="module")
def expected(setup):  # noqa: F811
    """Each task's single-task `predict` (logits) on the pool of inputs the tests send."""
    model, adapters, root = setup
    pool = [{"text": t} for t in sentences()[:24]] + [{"text": a, "text_pair": b} for a, b in zip(sentences()[24:32], sentences()[32:40])]
    path = write_jsonl(root / "pool.jsonl", pool)
    out = {}
    for name in TASKS + ("shared",):
        lines = run_cli("predict", "--model", model, "--adapter", adapters[name], "--input", path, "--logits").stdout.splitlines()
        out[name] = [json.loads(line) for line in lines]
    return pool, out


def as_input(row):
    return [row["text"], row["text_pair"]] if "text_pair" in row else row["text"]


def expect_error(response, status, error_type, *fragments):
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "error_type"}, body
    assert body["error_type"] == error_type, body
    for fragment in fragments:
        assert fragment in body["error"], body
    return body


def test_predict_equals_single_task_predict(served, expected):
    server, *_ = served
    pool, want = expected
    for name in TASKS:
        got = server.post("/predict", {"task": name, "inputs": [as_input(r) for r in pool[:8]], "raw_scores": True,
                                       "all_scores": True})
        assert got.status_code == 200, got.text
        for answer, reference in zip(got.json(), want[name][:8]):
            assert answer["label"] == reference["label"]
            logits = [answer["scores"][label] for label in ("0", "1")]
            assert max(abs(a - b) for a, b in zip(logits, reference["logits"])) < TOLERANCE
        pairs = server.post("/predict", {"task": name, "inputs": [as_input(r) for r in pool[24:32]]}).json()
        for answer, reference in zip(pairs, want[name][24:32]):
            assert answer["label"] == reference["label"]
            assert abs(answer["score"] - reference["probabilities"][reference["label"]]) < TOLERANCE
    one = server.post("/predict", {"task": "ab", "inputs": pool[0]["text"]}).json()
    assert set(one) == {"label", "score"}  # one string in, one object out


def test_tokenize_equals_hf_tokenizers(served):
    from tokenizers import Tokenizer
    server, model, *_ = served
    reference = Tokenizer.from_file(str(model / "tokenizer.json"))
    reference.no_padding()  # MiniLM's tokenizer.json pads to 128 and truncates
    reference.no_truncation()
    texts = sentences()[:5]
    got = server.post("/tokenize", {"inputs": texts + [[texts[0], texts[1]]]})
    assert got.status_code == 200, got.text
    body = got.json()
    for tokens, text in zip(body, texts):
        assert [t["id"] for t in tokens] == reference.encode(text).ids
        assert tokens[0]["special"] and tokens[0]["start"] is None
        spans = [(t["start"], t["stop"]) for t in tokens[1:-1]]
        assert spans == [tuple(o) for o in reference.encode(text).offsets[1:-1]]  # character offsets, as tokenizers'
    assert [t["id"] for t in body[-1]] == reference.encode(texts[0], texts[1]).ids
    plain = server.post("/tokenize", {"inputs": texts[0], "add_special_tokens": False}).json()
    assert [t["id"] for t in plain[0]] == reference.encode(texts[0], add_special_tokens=False).ids


def test_embed_equals_transformers(served):
    """Without a task, /embed_all is transformers' last_hidden_state and /embed its mean (normalised by default);
    under a task's adapter they change, and /embed_all still averages to /embed."""
    import torch
    from transformers import AutoTokenizer, BertModel
    server, model, *_ = served
    texts = sentences()[:4]
    reference = BertModel.from_pretrained(model).eval()
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokens = server.post("/embed_all", {"inputs": texts})
    assert tokens.status_code == 200, tokens.text
    plain = server.post("/embed", {"inputs": texts, "normalize": False}).json()
    unit = server.post("/embed", {"inputs": texts}).json()
    for text, got, mean, normed in zip(texts, tokens.json(), plain, unit):
        with torch.no_grad():
            want = reference(**tokenizer(text, return_tensors="pt")).last_hidden_state[0]
        assert torch.tensor(got).shape == want.shape
        assert (torch.tensor(got) - want).abs().max().item() < TOLERANCE
        assert (torch.tensor(mean) - want.mean(0)).abs().max().item() < TOLERANCE
        assert abs(torch.tensor(normed).norm().item() - 1.0) < 1e-5
    cls = server.post("/embed", {"inputs": texts[0], "pooling": "cls", "normalize": False}).json()
    assert (torch.tensor(cls[0]) - torch.tensor(tokens.json()[0][0])).abs().max().item() < TOLERANCE
    adapted = server.post("/embed_all", {"inputs": texts[:1], "task": "houlsby"}).json()[0]
    adapted_mean = server.post("/embed", {"inputs": texts[:1], "task": "houlsby", "normalize": False}).json()[0]
    assert (torch.tensor(adapted).mean(0) - torch.tensor(adapted_mean)).abs().max().item() < TOLERANCE
    assert (torch.tensor(adapted) - torch.tensor(tokens.json()[0])).abs().max().item() > 1e-3
    expect_error(server.post("/embed", {"inputs": "x", "pooling": "max"}), 400, "validation", "pooling")
    expect_error(server.post("/embed", {"inputs": "x", "task": "nope"}), 404, "not_found")


def test_health_info_tasks_metrics(served):
    server, *_ = served
    assert server.get("/health").json()["status"] == "ok"
    info = server.get("/info").json()
    assert info["hidden_size"] == 32 and info["num_hidden_layers"] == 2 and info["version"]
    assert info["limits"]["max_client_batch_size"] == 8
    tasks = {t["name"]: t for t in server.get("/tasks").json()["tasks"]}
    assert set(TASKS) <= set(tasks)
    assert tasks["lora"]["method"] == "lora" and tasks["ab"]["labels"] == ["0", "1"]
    assert tasks["ab"]["bytes"] > 0 and tasks["ab"]["parameters"] > 0 and "accuracy" in json.dumps(tasks["ab"]["metrics"])
    server.post("/predict", {"task": "bitfit", "inputs": ["x", "y"]})
    metrics = server.get("/metrics").text
    assert re.search(r'adapterbias_requests_total\{endpoint="/predict",status="200"\} \d+', metrics)
    assert re.search(r'adapterbias_task_inputs_total\{task="bitfit"\} \d+', metrics)
    assert 'adapterbias_request_duration_seconds_bucket{endpoint="/predict",le="+Inf"}' in metrics
    assert "adapterbias_batch_tokens_count" in metrics and "adapterbias_queue_depth 0" in metrics


def test_error_classes(served):
    server, *_ = served
    url = server.url
    expect_error(requests.post(url + "/predict", data="{not json", timeout=30), 400, "validation", "not JSON")
    expect_error(server.post("/predict", ["a list"]), 400, "validation", "JSON object")
    expect_error(server.post("/predict", {"inputs": "x"}), 400, "validation", '"task"')
    expect_error(server.post("/predict", {"task": 3, "inputs": "x"}), 400, "validation", '"task"')
    expect_error(server.post("/predict", {"task": "ab", "inputs": "x", "temperature": 1}), 400, "validation", '"temperature"')
    expect_error(server.post("/predict", {"task": "ab", "inputs": [1]}), 400, "validation", "inputs[0]")
    expect_error(server.post("/predict", {"task": "ab", "inputs": []}), 400, "validation", "empty")
    expect_error(server.post("/predict", {"task": "ab", "inputs": "x", "truncate": "yes"}), 400, "validation", '"truncate"')
    expect_error(server.post("/predict", {"task": "nope", "inputs": "x"}), 404, "not_found", "no task 'nope'", "ab")
    expect_error(server.post("/predict", {"task": "ab", "inputs": ["x"] * 9}), 413, "payload_too_large", "9 inputs")
    expect_error(server.post("/predict", {"task": "ab", "inputs": "x" * 30000}), 413, "payload_too_large")
    long = " ".join(["word"] * 300)
    expect_error(server.post("/predict", {"task": "ab", "inputs": long}), 422, "validation", "truncate")
    assert server.post("/predict", {"task": "ab", "inputs": long, "truncate": True}).status_code == 200
    expect_error(server.get("/nowhere"), 404, "not_found", "/nowhere")


def test_task_management(served, expected):
    server, model, adapters, root = served
    pool, want = expected
    key = {"Authorization": "Bearer secret"}
    body = {"name": "extra", "file": "shared.safetensors"}
    expect_error(server.post("/tasks", body), 401, "unauthorized")
    expect_error(server.post("/tasks", body, headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    for bad in ("../shared.safetensors", "/etc/passwd", "sub/../../x"):
        expect_error(server.post("/tasks", {"name": "x", "file": bad}, headers=key), 400, "validation", "adapter folder")
    expect_error(server.post("/tasks", {"name": "x", "file": "missing.safetensors"}, headers=key), 404, "not_found")
    escape = root / "adapter-dir" / "escape.safetensors"
    if not escape.exists():
        escape.symlink_to(adapters["ab"])
    expect_error(server.post("/tasks", {"name": "x", "file": "escape.safetensors"}, headers=key), 400, "validation", "out of")
    (root / "adapter-dir" / "junk.safetensors").write_bytes(b"not an adapter")
    expect_error(server.post("/tasks", {"name": "x", "file": "junk.safetensors"}, headers=key), 422, "unprocessable")
    expect_error(server.post("/tasks", {"name": "ab", "file": "shared.safetensors"}, headers=key), 409, "conflict")
    expect_error(server.post("/tasks", {"name": "a b", "file": "shared.safetensors"}, headers=key), 400, "validation")

    added = server.post("/tasks", body, headers=key)
    assert added.status_code == 201, added.text
    assert added.json()["name"] == "extra" and added.json()["method_options"] == {"share_alpha": True}
    answers = server.post("/predict", {"task": "extra", "inputs": [as_input(r) for r in pool[:8]]}).json()
    assert [a["label"] for a in answers] == [r["label"] for r in want["shared"][:8]]
    expect_error(requests.delete(server.url + "/tasks/extra", timeout=30), 401, "unauthorized")
    assert requests.delete(server.url + "/tasks/extra", headers=key, timeout=30).json() == {"removed": "extra"}
    expect_error(server.post("/predict", {"task": "extra", "inputs": "x"}), 404, "not_found")
    expect_error(requests.delete(server.url + "/tasks/extra", headers=key, timeout=30), 404, "not_found")


def check_answer(answer, reference):
    assert answer["label"] == reference["label"], (answer, reference)
    assert abs(answer["score"] - reference["probabilities"][reference["label"]]) < 1e-4


def test_load_with_task_changes_during_traffic(served, expected):
    """64 clients x 40 requests of 1-3 inputs over four tasks, while another task is loaded and unloaded again
    and again: every answer is its input's single-task prediction; RSS does not grow."""
    server, *_ = served
    pool, want = expected
    key = {"Authorization": "Bearer secret"}
    stop_changes = threading.Event()
    changes = []

    def churn():
        while not stop_changes.is_set():
            changes.append(server.post("/tasks", {"name": "churn", "file": "shared.safetensors"}, headers=key).status_code)
            changes.append(requests.delete(server.url + "/tasks/churn", headers=key, timeout=60).status_code)

    def client(seed):
        rng = random.Random(seed)
        session = requests.Session()
        for _ in range(40):
            task = rng.choice(TASKS)
            picks = [rng.randrange(len(pool)) for _ in range(rng.randint(1, 3))]
            response = session.post(server.url + "/predict", json={"task": task, "inputs": [as_input(pool[i]) for i in picks]},
                                    timeout=120)
            assert response.status_code == 200, response.text
            for answer, i in zip(response.json(), picks):
                check_answer(answer, want[task][i])
        return 40

    with ThreadPoolExecutor(64) as warmup:
        assert sum(warmup.map(client, range(64, 96))) == 32 * 40
    rss_before = server.rss_bytes()
    churner = threading.Thread(target=churn)
    churner.start()
    start = time.perf_counter()
    with ThreadPoolExecutor(64) as clients:
        answered = sum(clients.map(client, range(64)))
    seconds = time.perf_counter() - start
    stop_changes.set()
    churner.join()
    assert answered == 64 * 40
    assert changes and set(changes) <= {200, 201}, changes
    growth = server.rss_bytes() - rss_before
    print(f"load: {answered} requests in {seconds:.1f} s ({answered / seconds:.0f}/s), {len(changes)} task changes, "
          f"RSS growth {growth / 2**20:.1f} MiB")
    assert growth < 64 * 2**20, growth


def test_overload_gives_429(setup, expected):  # noqa: F811
    model, adapters, _ = setup
    pool, _ = expected
    server = Server(model, {"ab": adapters["ab"]}, "--max-concurrent-requests", 2, "--max-wait-ms", 300)
    try:
        with ThreadPoolExecutor(12) as clients:
            responses = list(clients.map(lambda i: server.post("/predict", {"task": "ab", "inputs": pool[i]["text"]}), range(12)))
        statuses = [r.status_code for r in responses]
        assert 200 in statuses and 429 in statuses, statuses
        for r in responses:
            if r.status_code == 429:
                expect_error(r, 429, "overloaded")
                assert r.headers["Retry-After"] == "1"
    finally:
        assert server.stop() == 0


def test_graceful_shutdown_answers_requests_in_flight(setup, expected):  # noqa: F811
    model, adapters, _ = setup
    pool, want = expected
    server = Server(model, {"ab": adapters["ab"]}, "--max-wait-ms", 1500, "--max-batch-requests", 1000)
    with ThreadPoolExecutor(16) as clients:
        futures = [clients.submit(server.post, "/predict", {"task": "ab", "inputs": pool[i]["text"]}) for i in range(16)]
        deadline = time.time() + 20
        while "adapterbias_queue_depth 16" not in server.get("/metrics").text:
            assert time.time() < deadline, "the requests never queued"
            time.sleep(0.02)
        server.proc.send_signal(signal.SIGTERM)
        for i, future in enumerate(futures):
            response = future.result(timeout=30)
            assert response.status_code == 200, response.text
            check_answer(response.json(), want["ab"][i])
    assert server.proc.wait(30) == 0
    assert any("finishing accepted requests" in line for line in server.log)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/health", timeout=5)
