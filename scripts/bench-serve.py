#!/usr/bin/env python3
"""bench-serve.py: serving benchmark for any OpenAI-compatible server (celer serve,
llama.cpp's llama-server, vLLM, ...), python3's standard library only.

Load: N concurrent streaming clients (--concurrency) each sending requests back to back,
or requests arriving at a Poisson rate (--rate, requests/s); --num-prompts requests in
all. Prompts: fixed length (--input-len tokens of varied words) or drawn from a text file
(--dataset, e.g. WikiText's wiki.valid.raw: paragraphs cut to --input-len words). Every
request asks for --output-len tokens with ignore_eos, so lengths are what was asked.

Reports vLLM's metrics: request throughput, output and total token throughput, TTFT
(arrival to first content), TPOT = (E2E - TTFT) / (tokens - 1) per request, ITL (gaps
between content chunks), E2E latency; mean, median and p99 of each.

--chat-turns K instead runs one K-turn conversation (greedy, each turn's history sent
again) and reports each turn's TTFT, the measure of prompt-prefix reuse.

Examples:
  scripts/bench-serve.py --port 8080 --concurrency 16 --num-prompts 64 --input-len 128 --output-len 64
  scripts/bench-serve.py --port 8080 --rate 4 --num-prompts 100 --dataset ../shared/data/wiki.valid.raw
  scripts/bench-serve.py --port 8080 --chat-turns 10
"""
import argparse
import http.client
import json
import random
import statistics
import threading
import time


def percentile(xs, q):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def make_prompts(args, rng):
    words = ("the of and to in is was for on that with as by at from his her it an were are which this be "
             "river city music history science garden ocean mountain winter summer light stone market bridge "
             "engine story letter window forest island village battle theory paper silver").split()
    if args.dataset:
        with open(args.dataset, encoding="utf-8", errors="replace") as f:
            paragraphs = [p.split() for p in f.read().split("\n") if len(p.split()) >= args.input_len // 2]
        rng.shuffle(paragraphs)
        return [" ".join(paragraphs[i % len(paragraphs)][:args.input_len]) for i in range(args.num_prompts)]
    # roughly one token per word for these common words
    return [" ".join(rng.choice(words) for _ in range(args.input_len)) for _ in range(args.num_prompts)]


def one_request(args, prompt, out):
    """A streamed completion; fills out with timings (seconds since send) and counts."""
    body = {"prompt": prompt, "max_tokens": args.output_len, "temperature": args.temperature, "stream": True,
            "ignore_eos": True, "stream_options": {"include_usage": True}}
    if args.model:
        body["model"] = args.model
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    t0 = time.perf_counter()
    out["chunks"] = []
    try:
        conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
        conn.request("POST", "/v1/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            out["error"] = f"HTTP {resp.status}: {resp.read()[:200]!r}"
            return
        while True:
            line = resp.readline()
            if not line:
                break
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            ev = json.loads(data)
            if ev.get("usage"):
                out["usage"] = ev["usage"]
            if ev.get("choices") and ev["choices"][0].get("text"):
                out["chunks"].append(time.perf_counter() - t0)
        conn.close()
        out["e2e"] = time.perf_counter() - t0
    except (OSError, http.client.HTTPException, ValueError) as e:
        out["error"] = repr(e)


def run_load(args):
    rng = random.Random(args.seed)
    prompts = make_prompts(args, rng)
    results = [{} for _ in prompts]
    next_index = [0]
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(prompts):
                return
            one_request(args, prompts[i], results[i])

    start = time.perf_counter()
    threads = []
    if args.rate > 0:  # Poisson arrivals: exponential gaps
        for i, p in enumerate(prompts):
            t = threading.Thread(target=one_request, args=(args, p, results[i]))
            t.start()
            threads.append(t)
            time.sleep(rng.expovariate(args.rate))
    else:
        threads = [threading.Thread(target=worker) for _ in range(args.concurrency)]
        for t in threads:
            t.start()
    for t in threads:
        t.join()
    duration = time.perf_counter() - start
    report(args, results, duration)


def report(args, results, duration):
    ok = [r for r in results if "e2e" in r and r["chunks"]]
    failed = [r.get("error", "no tokens") for r in results if r not in ok]
    ttft = [r["chunks"][0] for r in ok]
    e2e = [r["e2e"] for r in ok]
    n_out = [r["usage"]["completion_tokens"] if r.get("usage") else len(r["chunks"]) for r in ok]
    n_in = [r["usage"]["prompt_tokens"] for r in ok if r.get("usage")]
    tpot = [(r["e2e"] - r["chunks"][0]) / (n - 1) for r, n in zip(ok, n_out) if n > 1]
    itl = [b - a for r in ok for a, b in zip(r["chunks"], r["chunks"][1:])]
    load = f"rate {args.rate}/s" if args.rate > 0 else f"concurrency {args.concurrency}"
    print(f"server {args.host}:{args.port}, {load}, {len(results)} requests, input ~{args.input_len} "
          f"{'words' if not args.dataset else 'words of ' + args.dataset}, output {args.output_len} tokens")
    print(f"successful requests:      {len(ok)}")
    print(f"failed requests:          {len(failed)}" + (f"  (first: {failed[0]})" if failed else ""))
    print(f"duration (s):             {duration:.2f}")
    print(f"prompt tokens:            {sum(n_in)}")
    print(f"generated tokens:         {sum(n_out)}")
    print(f"request throughput (/s):  {len(ok) / duration:.2f}")
    print(f"output throughput (tok/s): {sum(n_out) / duration:.1f}")
    print(f"total throughput (tok/s): {(sum(n_out) + sum(n_in)) / duration:.1f}")
    for name, xs in (("TTFT", ttft), ("TPOT", tpot), ("ITL", itl), ("E2E", e2e)):
        if xs:
            print(f"{name:5s} ms: mean {1e3 * statistics.mean(xs):8.1f}  median {1e3 * statistics.median(xs):8.1f}"
                  f"  p99 {1e3 * percentile(xs, 99):8.1f}")
    if args.json:
        summary = {"requests": len(results), "ok": len(ok), "failed": len(failed), "duration_s": duration,
                   "output_tok_s": sum(n_out) / duration, "request_s": len(ok) / duration}
        for name, xs in (("ttft", ttft), ("tpot", tpot), ("itl", itl), ("e2e", e2e)):
            if xs:
                summary[name] = {"mean": statistics.mean(xs), "median": statistics.median(xs), "p99": percentile(xs, 99)}
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


def run_chat(args):
    """A K-turn greedy conversation; each turn's TTFT (the history grows every turn)."""
    topics = ["rivers", "bridges", "forests", "islands", "markets", "winter", "music", "stone", "letters", "engines",
              "gardens", "oceans"]
    messages = [{"role": "system", "content": "You are a helpful assistant."}]
    headers = {"Content-Type": "application/json"}
    if args.api_key:
        headers["Authorization"] = "Bearer " + args.api_key
    ttfts = []
    for turn in range(args.chat_turns):
        messages.append({"role": "user", "content": f"Tell me something interesting about {topics[turn % len(topics)]}."})
        body = {"messages": messages, "max_tokens": args.output_len, "temperature": 0, "stream": True,
                "stream_options": {"include_usage": True}}
        if args.model:
            body["model"] = args.model
        conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
        t0 = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        if resp.status != 200:
            raise SystemExit(f"turn {turn + 1}: HTTP {resp.status}: {resp.read()[:300]!r}")
        first, text, usage = None, "", {}
        while True:
            line = resp.readline()
            if not line or line.strip() == b"data: [DONE]":
                break
            if not line.startswith(b"data: "):
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                usage = ev["usage"]
            delta = ev["choices"][0].get("delta", {}) if ev.get("choices") else {}
            if delta.get("content"):
                first = first or time.perf_counter() - t0
                text += delta["content"]
        conn.close()
        ttfts.append(first if first else float("nan"))
        cached = usage.get("prompt_tokens_details", {}).get("cached_tokens", "?") if usage else "?"
        print(f"turn {turn + 1:2d}: prompt {usage.get('prompt_tokens', '?'):>5} tokens ({cached} cached), "
              f"TTFT {1e3 * ttfts[-1]:7.1f} ms")
        messages.append({"role": "assistant", "content": text})
    if len(ttfts) >= 2:
        print(f"turn-two TTFT / turn-one TTFT: {ttfts[1] / ttfts[0]:.2f}; "
              f"last / first: {ttfts[-1] / ttfts[0]:.2f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--api-key", default="")
    p.add_argument("--model", default="", help="model name to send (default: none)")
    p.add_argument("--concurrency", type=int, default=16, help="clients sending back to back (default: 16)")
    p.add_argument("--rate", type=float, default=0.0, help="Poisson arrivals per second instead of --concurrency")
    p.add_argument("--num-prompts", type=int, default=64)
    p.add_argument("--input-len", type=int, default=128, help="prompt length in words (default: 128)")
    p.add_argument("--output-len", type=int, default=64, help="tokens generated per request (default: 64)")
    p.add_argument("--dataset", default="", help="text file to draw prompts from (one paragraph a line)")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--chat-turns", type=int, default=0, help="run one conversation of this many turns instead")
    p.add_argument("--json", default="", help="also write the summary to this file")
    args = p.parse_args()
    if args.chat_turns > 0:
        run_chat(args)
    else:
        run_load(args)


if __name__ == "__main__":
    main()
