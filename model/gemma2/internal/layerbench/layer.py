"""A one-layer Gemma2Model in plain PyTorch, timed on request.

Protocol (line based, so the Go harness can interleave runs in one process
pair): reads "run K" from stdin, encodes K times, prints the median seconds
of one encode. Same computation as model/gemma2's Encode on a 1-layer model
(transformers' Gemma2Model with eager attention): embedding × √hidden,
one Gemma2DecoderLayer (sandwich Gemma RMSNorms, GQA attention with
rotate-half RoPE, score scale, tanh soft-cap, causal + sliding-window +
padding mask, fp32 softmax; GeGLU MLP), final norm. The causal mask and the
RoPE tables are built inside each call, as transformers does. float32, no
autograd, random weights.

argv: threads batch tokens valid_tokens hidden heads kv_heads head_dim
      intermediate vocab window softcap
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def grms(x, w, eps=1e-6):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1 + w)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def rope_tables(T, hd, theta=10000.0):
    inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
    f = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
    e = torch.cat((f, f), dim=-1)
    return e.cos(), e.sin()


def build_mask(am, T, window):
    """Additive [B, 1, T, T] mask: causal, sliding window, key padding."""
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None]
    ok = (j <= i) & (i - j < window)
    ok = ok[None, None] & am[:, None, None, :].bool()
    m = torch.zeros(ok.shape)
    return m.masked_fill(~ok, torch.finfo(torch.float32).min)


def main():
    threads, B, T, valid, H, nh, nkv, hd, I, V, window = (int(a) for a in sys.argv[1:12])
    cap = float(sys.argv[12])
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    def W(o, i):
        return torch.randn(o, i) / i ** 0.5

    emb = 0.15 * torch.randn(V, H)
    Wq, Wk, Wv, Wo = W(nh * hd, H), W(nkv * hd, H), W(nkv * hd, H), W(H, nh * hd)
    Wg, Wu, Wd = W(I, H), W(I, H), W(H, I)
    n_in, n_pa, n_pf, n_ff, n_out = (0.2 * torch.randn(H) for _ in range(5))
    ids = torch.randint(0, V, (B, T))
    am = torch.zeros(B, T, dtype=torch.long)
    am[:, :valid] = 1
    scale = hd ** -0.5

    def encode():
        h = F.embedding(ids, emb) * torch.tensor(H ** 0.5)
        mask = build_mask(am, T, window)
        cos, sin = rope_tables(T, hd)
        r = h
        x = grms(h, n_in)
        q = F.linear(x, Wq).view(B, T, nh, hd).transpose(1, 2)
        k = F.linear(x, Wk).view(B, T, nkv, hd).transpose(1, 2)
        v = F.linear(x, Wv).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        s = (q @ k.transpose(2, 3)) * scale
        s = torch.tanh(s / cap) * cap + mask
        p = torch.softmax(s, dim=-1, dtype=torch.float32)
        o = (p @ v).transpose(1, 2).reshape(B, T, nh * hd)
        h = r + grms(F.linear(o, Wo), n_pa)
        r = h
        x = grms(h, n_pf)
        x = F.linear(F.gelu(F.linear(x, Wg), approximate="tanh") * F.linear(x, Wu), Wd)
        h = r + grms(x, n_ff)
        return grms(h, n_out)

    with torch.no_grad():
        encode()  # warm up
        print("ready", torch.__version__, torch.get_num_threads(), flush=True)
        for line in sys.stdin:
            k = int(line.split()[1])
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                encode()
                times.append(time.perf_counter() - t0)
            print(statistics.median(times), flush=True)


if __name__ == "__main__":
    main()
