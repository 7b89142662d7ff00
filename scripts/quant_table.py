#!/usr/bin/env python3
"""quant_table.py: the table and plot of scripts/quant-vs-llamacpp.sh.

Reads DIR/*.kld.log (llama-perplexity --kl-divergence output) next to each GGUF, prints a
tab-separated table (file, bits per weight by file size, mean KLD with its error, median
and 99th percentile KLD, PPL ratio, same-top-token rate), and writes DIR/kld-vs-size.svg:
mean KLD against bits per weight, celer's plans against llama.cpp's mixes and uniform
types. Standard library only.

Usage: scripts/quant_table.py DIR [N_PARAMS]   (N_PARAMS default: read from ref-f32.gguf)
"""
import glob
import math
import os
import re
import struct
import sys


def gguf_n_params(path):
    """Number of elements of all tensors of a GGUF file (header walk, no dependencies)."""
    with open(path, "rb") as f:
        data = f.read(64 << 20)
    if data[:4] != b"GGUF":
        raise ValueError(path + ": not a GGUF file")
    off = 8
    n_tensors, n_kv = struct.unpack_from("<QQ", data, off)
    off += 16
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def skip_value(t, off):
        if t == 8:
            (n,) = struct.unpack_from("<Q", data, off)
            return off + 8 + n
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, off)
            off += 12
            for _ in range(n):
                off = skip_value(et, off)
            return off
        return off + sizes[t]

    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", data, off)
        off += 8 + klen
        (t,) = struct.unpack_from("<I", data, off)
        off = skip_value(t, off + 4)
    total = 0
    for _ in range(n_tensors):
        (nlen,) = struct.unpack_from("<Q", data, off)
        off += 8 + nlen
        (nd,) = struct.unpack_from("<I", data, off)
        dims = struct.unpack_from("<%dQ" % nd, data, off + 4)
        off += 4 + 8 * nd + 4 + 8
        total += math.prod(dims)
    return total


def parse(log):
    text = open(log, errors="replace").read()
    out = {}
    pats = {
        "kld": r"Mean\s+KLD:\s+([-\d.]+)\s+±\s+([-\d.]+)",
        "median": r"Median\s+KLD:\s+([-\d.]+)",
        "p99": r"99\.0%\s+KLD:\s+([-\d.]+)",
        "ratio": r"Mean\s+PPL\(Q\)/PPL\(base\)\s*:\s+([-\d.]+)",
        "ppl": r"Mean\s+PPL\(Q\)\s*:\s+([-\d.]+)",
        "top": r"Same top p:\s+([-\d.]+)\s+±\s+([-\d.]+)",
    }
    for k, p in pats.items():
        m = re.search(p, text)
        if m:
            out[k] = float(m.group(1))
            if k in ("kld", "top"):
                out[k + "_err"] = float(m.group(2))
    return out if "kld" in out else None


def kind(name):
    if name.startswith("celer"):
        return "celer"
    t = name[len("llama-"):]
    if t.startswith("pure-") or t in ("Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL"):
        return "llama-uniform"
    return "llama-mix"


def main():
    d = sys.argv[1]
    n_params = int(sys.argv[2]) if len(sys.argv) > 2 else gguf_n_params(os.path.join(d, "ref-f32.gguf"))
    rows = []
    for g in glob.glob(os.path.join(d, "*.gguf")):
        name = os.path.basename(g)[:-5]
        if name.startswith("ref"):
            continue
        log = os.path.join(d, name + ".kld.log")
        if not os.path.exists(log):
            continue
        r = parse(log)
        if not r:
            continue
        r["name"] = name
        r["bpw"] = os.path.getsize(g) * 8 / n_params
        r["kind"] = kind(name)
        rows.append(r)
    rows.sort(key=lambda r: r["bpw"])
    print("file\tkind\tbpw\tmean_kld\tkld_err\tmedian_kld\tkld_p99\tppl_ratio\tsame_top_pct")
    for r in rows:
        print("%s\t%s\t%.3f\t%.6f\t%.6f\t%.6f\t%.6f\t%.5f\t%.2f" % (
            r["name"], r["kind"], r["bpw"], r["kld"], r.get("kld_err", 0), r.get("median", float("nan")),
            r.get("p99", float("nan")), r.get("ratio", float("nan")), r.get("top", float("nan"))))
    svg(rows, os.path.join(d, "kld-vs-size.svg"))


def svg(rows, path):
    if not rows:
        return
    W, H, L, R, T, B = 760, 420, 70, 170, 30, 50
    xs = [r["bpw"] for r in rows]
    ys = [math.log10(max(r["kld"], 1e-6)) for r in rows]
    x0, x1 = math.floor(min(xs) * 2) / 2, math.ceil(max(xs) * 2) / 2
    y0, y1 = math.floor(min(ys) * 4) / 4, math.ceil(max(ys) * 4) / 4
    if y1 - y0 < 0.5:
        y1 = y0 + 0.5
    px = lambda x: L + (W - L - R) * (x - x0) / (x1 - x0)
    py = lambda y: T + (H - T - B) * (1 - (y - y0) / (y1 - y0))
    colors = {"celer": "#d62728", "llama-mix": "#1f77b4", "llama-uniform": "#7f7f7f"}
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">' % (W, H),
           '<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#ccc"/>' % (L, T, W - L - R, H - T - B),
           '<text x="%d" y="18" font-size="13">Mean KL divergence against the reference vs file size</text>' % L]
    x = x0
    while x <= x1 + 1e-9:
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%.1f</text>' % (px(x), H - B + 16, x))
        x += 0.5
    y = y0
    while y <= y1 + 1e-9:
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.2g</text>' % (L - 4, py(y) + 4, 10 ** y))
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/>' % (L, W - R, py(y), py(y)))
        y += 0.25
    out.append('<text x="%d" y="%d" text-anchor="middle">bits per weight (file size * 8 / parameters)</text>' % (L + (W - L - R) // 2, H - 12))
    out.append('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">mean KLD (log scale)</text>' % (T + (H - T - B) // 2, T + (H - T - B) // 2))
    for k, c in colors.items():
        pts = [(px(r["bpw"]), py(math.log10(max(r["kld"], 1e-6))), r["name"]) for r in rows if r["kind"] == k]
        if k == "celer" and len(pts) > 1:
            out.append('<polyline fill="none" stroke="%s" points="%s"/>' % (c, " ".join("%.1f,%.1f" % (a, b) for a, b, _ in pts)))
        for a, b, n in pts:
            shape = '<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s</title></circle>' if k != "llama-mix" else \
                '<rect x="%.1f" y="%.1f" width="8" height="8" fill="%s"><title>%s</title></rect>'
            if k == "llama-mix":
                out.append(shape % (a - 4, b - 4, c, n))
                out.append('<text x="%.1f" y="%.1f" font-size="9" fill="%s">%s</text>' % (a + 6, b - 4, c, n[len("llama-"):]))
            else:
                out.append(shape % (a, b, c, n))
    for i, (k, c) in enumerate(colors.items()):
        label = {"celer": "celer plan", "llama-mix": "llama.cpp mix (imatrix)", "llama-uniform": "llama.cpp uniform type"}[k]
        out.append('<circle cx="%d" cy="%d" r="4" fill="%s"/><text x="%d" y="%d">%s</text>' % (W - R + 14, T + 10 + 16 * i, c, W - R + 24, T + 14 + 16 * i, label))
    out.append("</svg>")
    open(path, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
