"""The Sana DC-AE f32c32 decoder in plain PyTorch, timed on request.

Protocol (line based, so the Go harness can interleave runs in one process
pair): reads "run K" from stdin, decodes K times, prints the median seconds
of one decode. Same shapes and op sequence as diffusers' AutoencoderDC
decoder with the Sana vae config (interpolate upsampling, RMSNorm, SiLU,
EfficientViT stages with 5×5 multiscale linear attention), random weights,
float32, no autograd.

argv: threads batch latent_h latent_w latent_channels head_dim
      channels(comma list) layers(comma list) vit_from_stage
"""
import statistics
import sys
import time

import torch
import torch.nn.functional as F

EPS = 1e-5


def W(*shape):
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    return torch.randn(*shape) / fan_in ** 0.5


def b(n):
    return 0.2 * torch.randn(n)


def norm_params(c):
    return 1 + 0.2 * torch.randn(c), b(c)


def rms(x, p):
    """diffusers RMSNorm over channels, applied channels-last."""
    w, bb = p
    x = x.movedim(1, -1)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w + bb
    return x.movedim(-1, 1)


def res_params(C):
    return dict(w1=W(C, C, 3, 3), b1=b(C), w2=W(C, C, 3, 3), norm=norm_params(C))


def res_block(x, p):
    y = F.silu(F.conv2d(x, p["w1"], p["b1"], padding=1))
    y = F.conv2d(y, p["w2"], padding=1)
    return x + rms(y, p["norm"])


def vit_params(C, Dh):
    return dict(
        q=W(C, C), k=W(C, C), v=W(C, C),
        ms_in=W(3 * C, 1, 5, 5), ms_out=W(3 * C, Dh, 1, 1),
        out=W(C, 2 * C), norm_out=norm_params(C),
        inv=W(8 * C, C, 1, 1), inv_b=b(8 * C),
        dw=W(8 * C, 1, 3, 3), dw_b=b(8 * C),
        point=W(C, 4 * C, 1, 1), ff_norm=norm_params(C))


def ms_linear_attention(x, p, Dh):
    """SanaMultiscaleLinearAttention (with its residual)."""
    B, C, H, Wd = x.shape
    xc = x.movedim(1, -1)
    qkv = torch.cat([F.linear(xc, p["q"]), F.linear(xc, p["k"]), F.linear(xc, p["v"])], dim=3)
    qkv = qkv.movedim(-1, 1)
    ms = F.conv2d(qkv, p["ms_in"], padding=2, groups=3 * C)
    ms = F.conv2d(ms, p["ms_out"], groups=3 * C // Dh)
    a = torch.cat([qkv, ms], dim=1).float()
    a = a.reshape(B, -1, 3 * Dh, H * Wd)
    q, k, v = a.chunk(3, dim=2)
    q, k = F.relu(q), F.relu(k)
    if H * Wd > Dh:
        v = F.pad(v, (0, 0, 0, 1), mode="constant", value=1)
        o = (v @ k.transpose(-1, -2)) @ q
        o = o[:, :, :-1] / (o[:, :, -1:] + 1e-15)
    else:
        s = q.transpose(-1, -2) @ k
        s = s / (s.sum(-1, keepdim=True) + 1e-15)
        o = v @ s.transpose(-1, -2)
    o = o.reshape(B, -1, H, Wd)
    o = F.linear(o.movedim(1, -1), p["out"]).movedim(-1, 1)
    return x + rms(o, p["norm_out"])


def glumb_conv(x, p):
    C = x.shape[1]
    u = F.silu(F.conv2d(x, p["inv"], p["inv_b"]))
    u = F.conv2d(u, p["dw"], p["dw_b"], padding=1, groups=8 * C)
    val, gate = u.chunk(2, dim=1)
    y = F.conv2d(val * F.silu(gate), p["point"])
    return x + rms(y, p["ff_norm"])


def up_block(x, p, cout):
    """DCUpBlock2d, interpolate, with shortcut."""
    y = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), p[0], p[1], padding=1)
    short = F.pixel_shuffle(x.repeat_interleave(4 * cout // x.shape[1], dim=1), 2)
    return y + short


def build(Cl, Dh, ch, layers, vit_from):
    n = len(ch)
    stages = []
    for i in range(n):
        up = (W(ch[i], ch[i + 1], 3, 3), b(ch[i])) if i < n - 1 else None
        vit = i >= vit_from
        blocks = [vit_params(ch[i], Dh) if vit else res_params(ch[i]) for _ in range(layers[i])]
        stages.append((up, vit, blocks))
    return dict(conv_in=(W(ch[-1], Cl, 3, 3), b(ch[-1])), stages=stages,
                norm_out=norm_params(ch[0]), conv_out=(W(3, ch[0], 3, 3), b(3)))


def decode(z, m, Dh, ch):
    x = F.conv2d(z, *m["conv_in"], padding=1)
    x = x + z.repeat_interleave(ch[-1] // z.shape[1], dim=1)
    for i in reversed(range(len(ch))):
        up, vit, blocks = m["stages"][i]
        if up is not None:
            x = up_block(x, up, ch[i])
        for p in blocks:
            if vit:
                x = glumb_conv(ms_linear_attention(x, p, Dh), p)
            else:
                x = res_block(x, p)
    x = F.relu(rms(x, m["norm_out"]))
    return F.conv2d(x, *m["conv_out"], padding=1)


def main():
    threads, B, h, w, Cl, Dh = (int(a) for a in sys.argv[1:7])
    ch = [int(c) for c in sys.argv[7].split(",")]
    layers = [int(c) for c in sys.argv[8].split(",")]
    vit_from = int(sys.argv[9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = build(Cl, Dh, ch, layers, vit_from)
    z = torch.randn(B, Cl, h, w)
    with torch.no_grad():
        decode(z, m, Dh, ch)  # warm up
        print("ready", torch.__version__, torch.get_num_threads(), flush=True)
        for line in sys.stdin:
            k = int(line.split()[1])
            times = []
            for _ in range(k):
                t0 = time.perf_counter()
                decode(z, m, Dh, ch)
                times.append(time.perf_counter() - t0)
            print(statistics.median(times), flush=True)


if __name__ == "__main__":
    main()
