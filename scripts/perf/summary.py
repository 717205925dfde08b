#!/usr/bin/env python3
"""Side-by-side summary of scripts/perf/perf.sh: our Go benchmark lines (BenchmarkCUDAStep, BenchmarkCUDADecode,
BenchmarkCUDAEncode) against scripts/perf/diffusers_bench.py's lines, from the same card in the same run.

  summary.py <gpu name> <our bench logs...> -- <diffusers log>

Prints per-stage tables (ms, and diffusers/ours: > 1 means we are faster), images/s per batch for both sides with
the same formula, B / (encode(2B) + 20·step(B) + decode(B)), and last the issue's lines:
  dit_step_vs_diffusers, decode_vs_diffusers, encode_vs_diffusers, img_per_s_1600m_1024, img_per_s_600m_512, card.
"""

import re
import sys

STEPS = 20
GO = re.compile(r"^BenchmarkCUDA(Step|Decode|Encode)/(\S+?)(?:-\d+)?\s+\d+\s+.*?([\d.]+) ms/(step|decode|encode)")
PY = re.compile(r"^diffusers (dit_step|decode|encode) (\S+) batch=(\d+) ([\d.]+) ms")
DECODE_MODEL = {"512": "600m_512", "1024": "1600m_1024"}


def ours(paths):
    """(stage, model, batch, precision) → ms."""
    out = {}
    for p in paths:
        try:
            lines = open(p, errors="replace").read().splitlines()
        except OSError:
            continue
        tag = "-nolt" if "nolt" in p.rsplit("/", 1)[-1] else ""  # the SANAFARM_CUBLASLT=0 ablation
        for line in lines:
            m = GO.match(line)
            if not m:
                continue
            kind, name, ms = m.group(1), m.group(2), float(m.group(3))
            parts = name.split("/")
            if kind == "Step":  # <model>/<prec>/img=<n>
                out[("dit_step", parts[0], int(parts[2].split("=")[1]), parts[1] + tag)] = ms
            elif kind == "Decode":  # <side>/<prec>/img=<n>
                out[("decode", DECODE_MODEL.get(parts[0], parts[0]), int(parts[2].split("=")[1]), parts[1])] = ms
            else:  # <prec>/prompts=<n>
                out[("encode", "gemma2_2b", int(parts[1].split("=")[1]), parts[0])] = ms
    return out


def theirs(path):
    out = {}
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return out
    for line in lines:
        m = PY.match(line)
        if m:
            out[(m.group(1), m.group(2), int(m.group(3)))] = float(m.group(4))
    return out


def img_per_s(get, model, b):
    step, dec, enc = get("dit_step", model, b), get("decode", model, b), get("encode", "gemma2_2b", 2 * b)
    if None in (step, dec, enc):
        return None
    return b / ((enc + STEPS * step + dec) / 1e3)


def fmt(v, spec="8.2f"):
    return format(v, spec) if v is not None else "       -"


def main():
    argv = sys.argv[1:]
    gpu, rest = argv[0], argv[1:]
    sep = rest.index("--") if "--" in rest else len(rest)
    mine, base = ours(rest[:sep]), theirs(rest[sep + 1] if sep + 1 < len(rest) else "")
    # ours = the faster of the eager bf16 step and its CUDA-graph replay (dit.Step, --cuda-graphs)
    get_b = lambda s, m, b: min(  # noqa: E731
        (v for v in (mine.get((s, m, b, "bf16")), mine.get((s, m, b, "bf16+graph"))) if v is not None), default=None)
    get_d = lambda s, m, b: base.get((s, m, b))  # noqa: E731
    print(f"== side by side on {gpu}: ms per call (ours bf16, best of eager and graph / eager / graph / f32; diffusers bf16), ratio = diffusers/ours")
    print(f"{'stage':9} {'model':11} {'batch':>5} {'ours':>8} {'eager':>8} {'graph':>8} {'ours f32':>8} {'diffusers':>9} {'ratio':>6}")
    stages = [("dit_step", m) for m in ("600m_512", "1600m_1024")] + [("decode", m) for m in ("600m_512", "1600m_1024")]
    stages.append(("encode", "gemma2_2b"))
    for s, m in stages:
        for b in (1, 2, 4, 8, 16, 32):
            o, f, d = get_b(s, m, b), mine.get((s, m, b, "f32")), get_d(s, m, b)
            e, g = mine.get((s, m, b, "bf16")), mine.get((s, m, b, "bf16+graph"))
            if o is None and d is None:
                continue
            r = d / o if o and d else None
            print(f"{s:9} {m:11} {b:5d} {fmt(o)} {fmt(e)} {fmt(g)} {fmt(f)} {fmt(d, '9.2f')} {fmt(r, '6.2f')}")
    print("== images/s (20 steps, CFG, encode of prompts + negatives, decode), per images per batch")
    best = {}
    for m in ("600m_512", "1600m_1024"):
        for b in (1, 2, 4, 8, 16):
            o, d = img_per_s(get_b, m, b), img_per_s(get_d, m, b)
            if o is None and d is None:
                continue
            print(f"img_per_s {m:11} batch={b:<3d} ours {fmt(o)}  diffusers {fmt(d)}")
            if o is not None and o > best.get(m, (0, 0))[0]:
                best[m] = (o, b)
    ratio = lambda s, m, b: (get_d(s, m, b) / get_b(s, m, b)) if get_b(s, m, b) and get_d(s, m, b) else None  # noqa: E731
    print(f"dit_step_vs_diffusers {fmt(ratio('dit_step', '1600m_1024', 1), '.3f')} (1600m_1024, 1 image = batch 2 with CFG)")
    print(f"dit_step_vs_diffusers_600m {fmt(ratio('dit_step', '600m_512', 1), '.3f')} (600m_512, 1 image)")
    print(f"decode_vs_diffusers {fmt(ratio('decode', '1600m_1024', 1), '.3f')} (1024², 1 image)")
    print(f"encode_vs_diffusers {fmt(ratio('encode', 'gemma2_2b', 2), '.3f')} (2 prompts)")
    for m in ("1600m_1024", "600m_512"):
        v, b = best.get(m, (None, 0))
        print(f"img_per_s_{m} {fmt(v, '.3f')} (best batch {b})")
    gr = [(b, mine[("dit_step", "600m_512", b, "bf16")] / mine[("dit_step", "600m_512", b, "bf16+graph")])
          for b in (1, 4, 16) if ("dit_step", "600m_512", b, "bf16+graph") in mine and ("dit_step", "600m_512", b, "bf16") in mine]
    print("graph_vs_eager_600m " + (" ".join(f"batch={b}:{r:.3f}" for b, r in gr) or "-") + " (eager ms / graph ms)")
    lt = [(b, mine[("dit_step", "1600m_1024", b, "bf16-nolt")] / mine[("dit_step", "1600m_1024", b, "bf16")])
          for b in (1, 4) if ("dit_step", "1600m_1024", b, "bf16-nolt") in mine and ("dit_step", "1600m_1024", b, "bf16") in mine]
    print("cublaslt_vs_gemmex_1600m " + (" ".join(f"batch={b}:{r:.3f}" for b, r in lt) or "-") + " (GemmEx+bias ms / cuBLASLt ms)")
    print(f"card {gpu}")


if __name__ == "__main__":
    main()
