#!/usr/bin/env python3
"""gpu_check_table.py: the results table of scripts/gpu-check.sh, in Markdown, from the
files its steps left in the results directory: gpu-info.json (the device probe), and per
model KEY.meta (label, type, file, size, status), KEY.bench.json (pp and tg with
repetitions), KEY.long.json (a long prompt: its pp, time to first token, the answer),
KEY.llama.json (llama-bench on the same file, optional), KEY.gpumem (nvidia-smi samples,
MiB, optional). A missing or failed measurement shows as "-", and the status column
says why. Standard library only. Tested through tests/test_gpu_check.sh."""
import argparse
import datetime
import json
import os


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            meta[key] = value
    return meta


def find_row(rows, n_prompt, n_gen):
    for r in rows or []:
        if r.get("n_prompt") == n_prompt and r.get("n_gen") == n_gen and not str(r.get("test", "")).startswith(("ttft", "e2e")):
            return r
    return None


def fmt(value, digits=1):
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(ours, theirs):
    return "-" if not ours or not theirs else f"{ours / theirs:.2f}"


def cpu_reference(results, keys):
    """The memory bandwidth bench probed on the CPU (it runs with the first model only)."""
    for k in keys:
        for row in load_json(os.path.join(results, k + ".bench.json")) or []:
            if row.get("mem_bw_gbps"):
                return row["mem_bw_gbps"]
    return None


def model_row(args, results, key, probe, steps):
    meta = read_meta(os.path.join(results, key + ".meta"))
    bench = load_json(os.path.join(results, key + ".bench.json"))
    long = load_json(os.path.join(results, key + ".long.json"))
    llama = load_json(os.path.join(results, key + ".llama.json"))
    pp = find_row(bench, args.prompt, 0)
    tg = find_row(bench, 0, args.gen)
    pp_long = find_row(long, args.long_prompt, 0)
    tg_ts = tg and tg.get("avg_ts")
    reference = (probe or {}).get("copy_gbps") or args.cpu_reference
    share = None
    if tg and tg.get("achieved_gbps") and reference:
        share = 100.0 * tg["achieved_gbps"] / reference
    ttft = (long[0].get("ttft_ms") if long else None)
    answer = (long[0].get("e2e_s") if long else None)
    memory = "-"
    samples = []
    try:
        with open(os.path.join(results, key + ".gpumem")) as f:
            samples = [float(x) for x in f.read().split() if x.replace(".", "", 1).isdigit()]
    except OSError:
        pass
    if samples:
        memory = f"{max(samples) / 1024:.1f} GPU"
    else:
        rss = [r.get("peak_rss_bytes") for r in (bench or []) + (long or []) if r.get("peak_rss_bytes")]
        if rss:
            memory = f"{max(rss) / 2**30:.2f} RSS"
    l_pp = find_row(llama, args.prompt, 0)
    l_tg = find_row(llama, 0, args.gen)
    l_long = find_row(llama, args.long_prompt, 0)
    failed = [s for s in steps if s[0].endswith("-" + key) and not s[1].startswith("ok")]
    status = meta.get("status", "?")
    if failed:
        status = "; ".join(f"{name}: {text}" for name, text in failed)
    elif status == "done":
        status = "ok"
    size = meta.get("size")
    size_gb = f"{int(size) / 1e9:.2f}" if size else "-"
    cells = [meta.get("label", key), meta.get("type", ""), size_gb, fmt(tg_ts), fmt(share, 0), fmt(pp and pp.get("avg_ts")),
             fmt(pp_long and pp_long.get("avg_ts")), fmt(ttft), fmt(answer, 2), memory]
    if args.with_llama:
        cells += [fmt(l_tg and l_tg.get("avg_ts")), ratio(tg_ts, l_tg and l_tg.get("avg_ts")),
                  fmt(l_pp and l_pp.get("avg_ts")), ratio(pp and pp.get("avg_ts"), l_pp and l_pp.get("avg_ts")),
                  fmt(l_long and l_long.get("avg_ts")),
                  ratio(pp_long and pp_long.get("avg_ts"), l_long and l_long.get("avg_ts"))]
    cells.append(status.replace("|", "/"))
    return cells


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--steps", required=True)
    ap.add_argument("--mode", default="gpu")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--gen", type=int, default=128)
    ap.add_argument("--long-prompt", type=int, default=2048)
    ap.add_argument("--answer", type=int, default=2000)
    args = ap.parse_args()

    steps = []
    if os.path.exists(args.steps):
        with open(args.steps) as f:
            for line in f:
                name, _, text = line.rstrip("\n").partition(": ")
                if name:
                    steps.append((name, text))
    probe = load_json(os.path.join(args.results, "gpu-info.json"))
    keys = sorted((f[:-5] for f in os.listdir(args.results) if f.endswith(".meta")),
                  key=lambda k: os.path.getmtime(os.path.join(args.results, k + ".meta")))
    args.cpu_reference = cpu_reference(args.results, keys)
    args.with_llama = any(os.path.exists(os.path.join(args.results, k + ".llama.json")) for k in keys)

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# celer GPU check ({args.mode} mode)\n")
    if probe and probe.get("name"):
        print(f"- device: {probe['name']} (compute capability {probe.get('compute_capability')}, "
              f"{probe.get('sm_count')} SMs, {probe.get('total_bytes', 0) / 2**30:.1f} GiB)")
        print(f"- measured: device-to-device copy {probe.get('copy_gbps', 0):.0f} GB/s (read + write), "
              f"bf16 matmul {probe.get('bf16_tflops', 0):.1f} TFLOP/s (cuBLAS {probe.get('gemm_n')}^3); "
              f"peak from clock x bus {probe.get('peak_gbps', 0):.0f} GB/s")
    else:
        cpu = None
        for k in keys:
            rows = load_json(os.path.join(args.results, k + ".bench.json"))
            if rows:
                cpu = rows[0].get("cpu_info")
                break
        print(f"- device: no CUDA device probed (`celer gpu-info` failed or did not run){'; CPU: ' + cpu if cpu else ''}")
    print(f"- commit: {args.commit}; date: {now}")
    print(f"- tg{args.gen} share: bytes a decoded token reads (weights + KV cache) x tokens/s, over the copy "
          "bandwidth measured by `celer gpu-info` (on the CPU: bench's STREAM triad)")
    print(f"- TTFT: a {args.long_prompt}-token prompt and one decoded token; answer: the same prompt, then "
          f"{args.answer} decoded tokens; memory: GiB, peak GPU use (nvidia-smi) or host RSS\n")
    head = ["model", "type", "file GB", f"tg{args.gen} t/s", "% copy BW", f"pp{args.prompt} t/s",
            f"pp{args.long_prompt} t/s", f"TTFT {args.long_prompt} ms", f"{args.answer}-token answer s", "memory GiB"]
    if args.with_llama:
        head += [f"llama.cpp tg{args.gen}", "x", f"llama.cpp pp{args.prompt}", "x", f"llama.cpp pp{args.long_prompt}", "x"]
    head.append("status")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i in (0, 1, len(head) - 1) else "---:" for i in range(len(head))) + "|")
    for k in keys:
        print("| " + " | ".join(model_row(args, args.results, k, probe, steps)) + " |")
    if args.with_llama:
        print("\nx: celer's tokens/s over llama.cpp's (llama-bench on the same file; above 1: celer is faster).")
    print("\n## Steps\n")
    for name, text in steps:
        print(f"- {name}: {text}")
    failed = [s for s in steps if s[1].startswith("FAILED")]
    print(f"\n{len(steps) - len(failed)} steps passed or skipped, {len(failed)} failed")


if __name__ == "__main__":
    main()
