#!/usr/bin/env python3
"""serve_client.py: the client side of tests/test_serve.sh, against a running `celer
serve` (python3's standard library only). Each check prints "ok NAME" or "FAIL NAME:
why"; the last line is "N passed, N failed" and the exit status is 0 only when none
failed."""
import argparse
import http.client
import json
import socket
import subprocess
import threading
import time

args = None
results = {"passed": 0, "failed": 0}
lock = threading.Lock()


def check(name, cond, detail=""):
    with lock:
        if cond:
            results["passed"] += 1
            print(f"ok {name}", flush=True)
        else:
            results["failed"] += 1
            print(f"FAIL {name}: {detail}", flush=True)
    return cond


def request(method, path, body=None, key=True, raw=None, headers=None, timeout=120):
    """One request; returns (status, parsed JSON or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + (key if isinstance(key, str) else args.key)
    h.update(headers or {})
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


def stream(path, body, key=True, on_event=None):
    """A streamed request; returns (status, [parsed events], saw_done)."""
    conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=600)  # generous: a queued stream may wait long for its first byte on a slow (sanitized, shared) machine
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + args.key}
    conn.request("POST", path, body=json.dumps(dict(body, stream=True)), headers=h)
    resp = conn.getresponse()
    if resp.status != 200:
        text = resp.read().decode()
        conn.close()
        return resp.status, [text], False
    events, done = [], False
    while True:
        line = resp.readline()
        if not line:
            break
        line = line.decode("utf-8")
        if line == "\n":
            continue
        assert line.startswith("data: "), f"not an SSE data line: {line!r}"
        data = line[6:].strip()
        if data == "[DONE]":
            done = True
            break
        events.append(json.loads(data))
        if on_event:
            on_event(events[-1])
    conn.close()
    return 200, events, done


def chat_text(events):
    return "".join(e["choices"][0]["delta"].get("content", "") for e in events if e.get("choices"))


def metrics():
    status, text = request("GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_metric(name, want, seconds=10.0):
    end = time.time() + seconds
    while time.time() < end:
        m = metrics()
        if m.get(name) == want:
            return m
        time.sleep(0.05)
    return metrics()


USER = [{"role": "user", "content": "What is the capital of France?"}]


def test_basics():
    # /health: 503 with an error while the model loads (seen when loading is slow enough to
    # catch, as under AddressSanitizer), then 200.
    end, loading = time.time() + 120, []
    while time.time() < end:
        status, body = request("GET", "/health", key=False)
        if status != 503:
            break
        loading.append(body)
        time.sleep(0.05)
    check("health", status == 200 and body == {"status": "ok"}, f"{status} {body}")
    if loading:
        check("health 503 while loading", all(b["error"]["code"] == "loading" for b in loading), f"{loading[:2]}")
    else:
        print("   (the model had loaded before the first /health: no 503 seen)", flush=True)
    status, body = request("GET", "/v1/models")
    check("models", status == 200 and body["object"] == "list" and body["data"][0]["object"] == "model"
          and body["data"][0]["id"] == args.model.split("/")[-1], f"{status} {body}")
    status, body = request("POST", "/tokenize", {"content": "Hello world"})
    ok = status == 200 and len(body["tokens"]) >= 2
    check("tokenize", ok, f"{status} {body}")
    if ok:
        status, back = request("POST", "/detokenize", {"tokens": body["tokens"]})
        check("detokenize", status == 200 and back["content"] == "Hello world", f"{status} {back}")
    status, page = request("GET", "/", key=False)
    check("chat page", status == 200 and "<title>celer chat</title>" in page, f"{status}")


def test_chat_shapes():
    status, body = request("POST", "/v1/chat/completions", {"messages": USER, "max_tokens": 24, "temperature": 0})
    ok = (status == 200 and body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
          and body["choices"][0]["message"]["role"] == "assistant"
          and body["choices"][0]["finish_reason"] in ("stop", "length")
          and body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"])
    check("chat whole", ok, f"{status} {body}")
    whole = body["choices"][0]["message"]["content"] if ok else None
    status, events, done = stream("/v1/chat/completions", {"messages": USER, "max_tokens": 24, "temperature": 0,
                                                           "stream_options": {"include_usage": True}})
    ok = (status == 200 and done and events[0]["object"] == "chat.completion.chunk"
          and events[0]["choices"][0]["delta"].get("role") == "assistant"
          and events[-2]["choices"][0]["finish_reason"] in ("stop", "length")
          and events[-1]["choices"] == [] and events[-1]["usage"]["completion_tokens"] >= 1
          and all(e["id"] == events[0]["id"] for e in events))
    check("chat stream shape", ok, f"{status} done={done} {events[:2]} ... {events[-2:]}")
    check("chat stream equals whole", ok and chat_text(events) == whole, f"{chat_text(events)!r} vs {whole!r}")
    status, body = request("POST", "/v1/completions", {"prompt": "Hello", "max_tokens": 3, "temperature": 0, "logprobs": 2})
    lp = body["choices"][0]["logprobs"] if status == 200 else None
    check("completion logprobs", status == 200 and body["object"] == "text_completion" and len(lp["tokens"]) == 3
          and all(v <= 0 for v in lp["token_logprobs"]) and len(lp["top_logprobs"][0]) >= 1, f"{status} {body}")


def long_stream(result, max_tokens=200, on_event=None):
    """A long greedy completion stream (ignore_eos), for checks that others run meanwhile."""
    body = {"prompt": "Once upon a time", "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream_options": {"include_usage": True}}
    try:
        result["status"], result["events"], result["done"] = stream("/v1/completions", body, on_event=on_event)
    except Exception as e:  # reported by the caller
        result["error"] = repr(e)


def test_greedy_matches_run():
    # Two long streams keep the batch busy while the greedy request runs beside them.
    bg = [{}, {}]
    threads = [threading.Thread(target=long_stream, args=(r, 48)) for r in bg]
    for t in threads:
        t.start()
    time.sleep(0.3)
    prompt = "The capital of France is"
    status, body = request("POST", "/v1/completions", {"prompt": prompt, "max_tokens": 24, "temperature": 0})
    for t in threads:
        t.join()
    served = body["choices"][0]["text"] if status == 200 else None
    run = subprocess.run([args.celer, "run", "-m", args.model, "-p", prompt, "-n", "24", "--temp", "0", "-t", "2", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    check("greedy equals celer run", status == 200 and run.returncode == 0 and prompt + served == run.stdout,
          f"server {served!r} vs run {run.stdout!r} ({run.stderr[-300:]})")
    check("background streams", all(r.get("done") and r["events"][-1]["usage"]["completion_tokens"] == 48 for r in bg),
          f"{[(r.get('status'), r.get('done'), r.get('error')) for r in bg]}")


def test_concurrent(n=16, tokens=16):
    res = [{} for _ in range(n)]

    def one(i):
        try:
            body = {"messages": [{"role": "user", "content": f"Count from {i} to {i + 20}."}], "max_tokens": tokens,
                    "temperature": 0.7, "seed": i, "stream_options": {"include_usage": True}}
            res[i]["status"], res[i]["events"], res[i]["done"] = stream("/v1/chat/completions", body)
        except Exception as e:
            res[i]["error"] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [r.get("status") == 200 and r.get("done") and len(chat_text(r["events"])) > 0 for r in res]
    bad = [(r.get("status"), r.get("error"), r.get("done"), r.get("events", [])[-2:]) for r, good in zip(res, ok) if not good]
    check(f"{n} concurrent streams", all(ok), f"{sum(ok)}/{n} succeeded: {str(bad)[:1500]}")
    print(f"   {n} streams x {tokens} tokens in {time.time() - t0:.1f} s", flush=True)


def test_disconnect():
    before = metrics()
    sock = socket.create_connection(("127.0.0.1", args.port))
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 1000, "ignore_eos": True, "stream": True})
    sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {args.key}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    got = b""
    while got.count(b"data: ") < 3:
        got += sock.recv(4096)
    m = metrics()
    check("stream running", m["celer_requests_running"] >= 1 and m['celer_kv_cache_blocks{state="active"}'] >= 1, f"{m}")
    sock.close()
    m = wait_metric("celer_requests_running", 0)
    cancelled = m['celer_requests_finished_total{reason="cancelled"}'] - before['celer_requests_finished_total{reason="cancelled"}']
    check("disconnect cancels and frees KV", m["celer_requests_running"] == 0 and cancelled == 1
          and m['celer_kv_cache_blocks{state="active"}'] == 0, f"cancelled {cancelled}, {m}")


def test_bad_input_while_streaming():
    bg = {}
    t = threading.Thread(target=long_stream, args=(bg, 200))
    t.start()
    time.sleep(0.3)
    msg = [{"role": "user", "content": "hi"}]
    cases = [
        ("malformed json", "/v1/chat/completions", None, '{"messages": [', True, 400, "not valid JSON"),
        ("wrong type", "/v1/chat/completions", {"messages": msg, "temperature": "hot"}, None, True, 400, "'temperature' must be a number"),
        ("messages not array", "/v1/chat/completions", {"messages": "hi"}, None, True, 400, "must be an array"),
        ("negative max_tokens", "/v1/chat/completions", {"messages": msg, "max_tokens": -1}, None, True, 400, "max_tokens"),
        ("huge max_tokens", "/v1/chat/completions", {"messages": msg, "max_tokens": 10 ** 8}, None, True, 400, "100000000 more were asked for"),
        ("huger max_tokens", "/v1/completions", {"prompt": "x", "max_tokens": 10 ** 30}, None, True, 400, "max_tokens"),
        ("negative top_k", "/v1/chat/completions", {"messages": msg, "top_k": -7}, None, True, 400, "top_k"),
        ("n=2", "/v1/chat/completions", {"messages": msg, "n": 2}, None, True, 400, "n = 1"),
        ("huge logprobs", "/v1/completions", {"prompt": "x", "logprobs": 1000}, None, True, 400, "logprobs"),
        ("unknown model", "/v1/chat/completions", {"messages": msg, "model": "gpt-9"}, None, True, 404, "does not exist"),
        ("no api key", "/v1/chat/completions", {"messages": msg}, None, False, 401, "API key"),
        ("wrong api key", "/v1/models", None, None, "nope", 401, "API key"),
        ("unknown endpoint", "/v1/nothing", {"x": 1}, None, True, 404, "no such endpoint"),
        ("oversized body", "/v1/completions", None, '{"prompt": "' + "a" * 300000 + '"}', True, 413, "limit"),
        ("prompt longer than context", "/v1/completions", {"prompt": "hello " * 3000, "max_tokens": 1}, None, True, 400,
         "but the context holds 2048 per request"),
        ("empty messages", "/v1/chat/completions", {"messages": []}, None, True, 400, "empty"),
        ("bad role", "/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, None, True, 400, "role"),
        ("bad token id", "/detokenize", {"tokens": [-1]}, None, True, 400, "token id"),
    ]
    for name, path, body, raw, key, want, text in cases:
        method = "GET" if path == "/v1/models" else "POST"
        status, reply = request(method, path, body, key=key, raw=raw)
        ok = (status == want and isinstance(reply, dict) and "error" in reply
              and text in reply["error"]["message"] and "type" in reply["error"])
        check(f"bad input: {name} -> {want}", ok, f"{status} {reply if len(str(reply)) < 400 else str(reply)[:400]}")
    t.join()
    ok = bg.get("done") and bg["events"][-1]["usage"]["completion_tokens"] == 200
    check("stream unharmed by bad requests", ok, f"{bg.get('status')} {bg.get('error')} done={bg.get('done')}")


def test_prefix_reuse():
    history = [{"role": "system", "content": "You are a helpful assistant who answers in one sentence."},
               {"role": "user", "content": "Name a large city in Europe and say why it is known."}]
    status, one = request("POST", "/v1/chat/completions", {"messages": history, "max_tokens": 32, "temperature": 0})
    if not check("turn one", status == 200, f"{status} {one}"):
        return
    history += [one["choices"][0]["message"], {"role": "user", "content": "And one in Asia?"}]
    status, two = request("POST", "/v1/chat/completions", {"messages": history, "max_tokens": 8, "temperature": 0})
    cached = two["usage"]["prompt_tokens_details"]["cached_tokens"] if status == 200 else -1
    check("turn two reuses turn one's KV", status == 200 and cached >= one["usage"]["prompt_tokens"],
          f"cached {cached} of {two['usage']['prompt_tokens'] if status == 200 else '?'} (turn one's prompt: {one['usage']['prompt_tokens']})")


def test_never_reads():
    # A client asks for a long stream and never reads; others are served meanwhile.
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "ignore_eos": True, "stream": True,
                       "logprobs": 5})
    sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {args.key}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
    time.sleep(0.5)
    status, body = request("POST", "/v1/chat/completions", {"messages": USER, "max_tokens": 8, "temperature": 0}, timeout=60)
    check("served beside a client that never reads", status == 200, f"{status} {body}")
    sock.close()


def test_slow_sender():
    # Headers, then the body one byte at a time: answered once complete, others unaffected.
    body = json.dumps({"messages": USER, "max_tokens": 4, "temperature": 0}).encode()
    sock = socket.create_connection(("127.0.0.1", args.port))
    sock.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {args.key}\r\n"
                  f"Content-Type: application/json\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n").encode())
    status, other = request("GET", "/v1/models")
    for i in range(0, len(body), 16):
        sock.sendall(body[i:i + 16])
        time.sleep(0.01)
    reply = b""
    while True:
        got = sock.recv(65536)
        if not got:
            break
        reply += got
    sock.close()
    check("slow sender", status == 200 and reply.startswith(b"HTTP/1.1 200") and b"chat.completion" in reply, reply[:200])


def test_no_leak():
    m = wait_metric("celer_requests_running", 0)
    free, active = m['celer_kv_cache_blocks{state="free"}'], m['celer_kv_cache_blocks{state="active"}']
    cached, total = m['celer_kv_cache_blocks{state="cached"}'], m["celer_kv_cache_blocks_total"]
    check("0 KV blocks held at the end", m["celer_requests_running"] == 0 and m["celer_requests_waiting"] == 0
          and active == 0 and free + cached == total, f"free {free} active {active} cached {cached} total {total}")
    check("metrics histograms", m.get("celer_time_to_first_token_seconds_count", 0) > 0
          and m.get("celer_time_per_output_token_seconds_count", 0) > 0 and m.get("celer_generation_tokens_total", 0) > 0, "")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def load_round(n, tokens, n_drop, seed):
    """n streaming clients that read to the end and n_drop that hang up at a random point."""
    import random
    rng = random.Random(seed)
    res = [{} for _ in range(n)]

    def full(i):
        try:
            body = {"messages": [{"role": "user", "content": f"Tell me a story about the number {i}."}],
                    "max_tokens": tokens, "ignore_eos": True, "temperature": 0.8, "seed": seed * 1000 + i,
                    "stream_options": {"include_usage": True}}
            res[i]["status"], res[i]["events"], res[i]["done"] = stream("/v1/chat/completions", body)
        except Exception as e:
            res[i]["error"] = repr(e)

    def drop(after):
        try:
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=60)
            body = json.dumps({"prompt": "Once upon a time", "max_tokens": 500, "ignore_eos": True, "stream": True})
            sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {args.key}\r\n"
                          f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
            got = b""
            while got.count(b"data: ") < after:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                got += chunk
            sock.close()
        except OSError:
            pass

    threads = [threading.Thread(target=full, args=(i,)) for i in range(n)]
    threads += [threading.Thread(target=drop, args=(rng.randint(0, 20),)) for _ in range(n_drop)]
    rng.shuffle(threads)
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    good = [r.get("status") == 200 and r.get("done") and r["events"][-1]["usage"]["completion_tokens"] == tokens
            for r in res]
    bad = [(r.get("status"), r.get("error"), r.get("done")) for r, g in zip(res, good) if not g]
    return sum(good), bad, elapsed


def test_load():
    """64 concurrent streams, three rounds, with clients hanging up at random beside them:
    every full stream gets all its tokens, no KV block stays held, memory does not grow.
    The first round is the warm-up (allocator caches, connection threads and buffers reach
    their working size there); memory is compared between the ends of rounds 2 and 3."""
    n, tokens = 64, 32
    rss = []
    for rnd in (1, 2, 3):
        ok, bad, s = load_round(n, tokens, 16, rnd)
        check(f"load round {rnd}: {n} streams x {tokens} tokens, 16 random disconnects", ok == n, f"{ok}/{n}: {str(bad)[:800]}")
        print(f"   round {rnd}: {n * tokens / s:.0f} generated tokens/s over {s:.1f} s", flush=True)
        wait_metric("celer_requests_running", 0, 30)
        rss.append(rss_kib(args.pid) if args.pid else 0)
    if args.pid:
        print(f"   RSS after each round: {rss[0]}, {rss[1]}, {rss[2]} KiB", flush=True)
        check("memory stable between rounds 2 and 3", rss[2] <= rss[1] * 1.10 + 16384,
              f"RSS {rss[1]} KiB after round 2, {rss[2]} KiB after round 3 (round 1: {rss[0]} KiB)")
    m = wait_metric('celer_kv_cache_blocks{state="active"}', 0, 30)
    check("0 leaked KV blocks after the load", m['celer_kv_cache_blocks{state="active"}'] == 0 and m["celer_requests_waiting"] == 0
          and m['celer_kv_cache_blocks{state="free"}'] + m['celer_kv_cache_blocks{state="cached"}'] == m["celer_kv_cache_blocks_total"]
          and m['celer_requests_finished_total{reason="error"}'] == 0, f"{m}")


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--celer", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--pid", type=int, default=0, help="the server's process id, for its memory")
    p.add_argument("--load", action="store_true", help="only the 64-stream load test")
    args = p.parse_args()
    if args.load:
        test_basics()
        test_load()
        print(f"{results['passed']} passed, {results['failed']} failed", flush=True)
        return 0 if results["failed"] == 0 else 1
    for test in (test_basics, test_chat_shapes, test_greedy_matches_run, test_concurrent, test_disconnect,
                 test_bad_input_while_streaming, test_prefix_reuse, test_never_reads, test_slow_sender, test_no_leak):
        try:
            test()
        except Exception as e:
            check(test.__name__, False, f"raised {e!r}")
    print(f"{results['passed']} passed, {results['failed']} failed", flush=True)
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
