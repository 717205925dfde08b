"""One Sana transformer block in plain PyTorch, timed on request.

Protocol (line based, so the Go harness can interleave runs in one process
pair): reads "run K" from stdin, runs the block K times, prints the median
seconds of one block. Same shapes and math as model/dit (diffusers'
SanaTransformerBlock with linear self-attention, masked cross-attention and
Mix-FFN), float32, no autograd.
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def main():
    threads, B, h, w, D, heads, ch, T = (int(a) for a in sys.argv[1:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    N, hd, cd, Hf = h * w, D // heads, D // ch, int(2.5 * D)

    def W(o, i):
        return torch.randn(o, i) / i ** 0.5

    def b(n):
        return 0.2 * torch.randn(n)

    sst = 0.2 * torch.randn(6, D)
    Wq, Wk, Wv, Wo1, bo1 = W(D, D), W(D, D), W(D, D), W(D, D), b(D)
    Wq2, bq2, Wo2, bo2 = W(D, D), b(D), W(D, D), b(D)
    Wi, bi = W(2 * Hf, D).view(2 * Hf, D, 1, 1), b(2 * Hf)
    Wd, bd = (torch.randn(2 * Hf, 1, 3, 3) / 3), b(2 * Hf)
    Wp = W(D, Hf).view(D, Hf, 1, 1)
    x0 = torch.randn(B, N, D)
    tmod = torch.randn(B, 6 * D)
    k2 = torch.randn(B, ch, T, cd)
    v2 = torch.randn(B, ch, T, cd)
    mask = torch.ones(B, T)
    mask[:, T // 2:] = 0
    bias = ((1 - mask) * -10000.0)[:, None, None, :]

    def block(x):
        mod = (sst[None] + tmod.reshape(B, 6, D))
        sh1, sc1, g1, sh2, sc2, g2 = mod.chunk(6, dim=1)
        a = F.layer_norm(x, (D,), eps=1e-6) * (1 + sc1) + sh1
        q = F.relu(F.linear(a, Wq)).view(B, N, heads, hd).permute(0, 2, 3, 1)
        k = F.relu(F.linear(a, Wk)).view(B, N, heads, hd).permute(0, 2, 1, 3)
        v = F.linear(a, Wv).view(B, N, heads, hd).permute(0, 2, 3, 1)
        v = F.pad(v, (0, 0, 0, 1), mode="constant", value=1.0)
        o = (v @ k) @ q
        o = o[:, :, :-1] / (o[:, :, -1:] + 1e-15)
        o = o.permute(0, 3, 1, 2).reshape(B, N, D)
        x = x + g1 * F.linear(o, Wo1, bo1)
        q2 = F.linear(x, Wq2, bq2).view(B, N, ch, cd).transpose(1, 2)
        p = torch.softmax(q2 @ k2.transpose(-1, -2) / cd ** 0.5 + bias, dim=-1)
        o2 = (p @ v2).transpose(1, 2).reshape(B, N, D)
        x = x + F.linear(o2, Wo2, bo2)
        f = F.layer_norm(x, (D,), eps=1e-6) * (1 + sc2) + sh2
        f = f.unflatten(1, (h, w)).permute(0, 3, 1, 2)
        u = F.silu(F.conv2d(f, Wi, bi))
        u = F.conv2d(u, Wd, bd, padding=1, groups=2 * Hf)
        val, gate = u.chunk(2, dim=1)
        ff = F.conv2d(val * F.silu(gate), Wp)
        ff = ff.flatten(2, 3).permute(0, 2, 1)
        return x + g2 * ff

    with torch.no_grad():
        block(x0)  # warm up
        print("ready", torch.__version__, torch.get_num_threads(), flush=True)
        for line in sys.stdin:
            k = int(line.split()[1])
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                block(x0)
                times.append(time.perf_counter() - t0)
            print(statistics.median(times), flush=True)


if __name__ == "__main__":
    main()
