#!/usr/bin/env python3
"""PyTorch/diffusers baseline timings for the three Sana stages, to compare our CUDA backend against.

Times, in bfloat16 with random weights at the released configurations (docs/sana.md §3 and §5,
model/gemma2/config.go DefaultConfig):
  dit_step  SanaTransformer2DModel, one CFG forward (batch 2·B, 300 caption tokens, half of them padding)
            600m_512   = Sana_600M_512px   (28 layers, 36 heads, latent 16×16)
            1600m_1024 = Sana_1600M_1024px (20 layers, 70 heads, latent 32×32)
  decode    AutoencoderDC (dc-ae-f32c32-sana-1.0) decoder: 16×16 latent → 512² (600m_512),
            32×32 latent → 1024² (1600m_1024)
  encode    transformers Gemma2Model (gemma-2-2b), 300 tokens per prompt, full forward (last_hidden_state,
            after the final norm: what Sana consumes)

Output, one line each, flushed at once (a run cut by a timeout keeps what it printed):
  diffusers device <name> torch <version>
  diffusers note <free text>
  diffusers <stage> <model> batch=<B> <median_ms> ms      (or "oom")
  diffusers img_per_s <model> batch=<B> <x>

img_per_s = B / (encode(2B) + 20·dit_step(B) + decode(B)): 20 steps, the step already carries the CFG rows,
and the encode covers the B prompts plus B empty negative prompts (2×encode(B) when 2B was not measured).

The diffusers sources are not installed on the GPU host: they travel with the checkout in the git-ignored
.diffusers/src (override with DIFFUSERS_SRC).

  python3 scripts/perf/diffusers_bench.py                    # all stages, batches 1,2,4,8,16, 10 iterations
  python3 scripts/perf/diffusers_bench.py --quick            # batches 1,2, 3 iterations
  python3 scripts/perf/diffusers_bench.py --stages dit_step --batches 1,4 --iters 20
  python3 scripts/perf/diffusers_bench.py --device cpu --tiny --quick   # code-path check without a GPU
"""

import argparse
import gc
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, os.environ.get("DIFFUSERS_SRC", str(REPO / ".diffusers" / "src")))

import torch  # noqa: E402

STAGES = ("dit_step", "decode", "encode")
STEPS = 20  # the production step count (docs/sana.md §4)
CAPTION_TOKENS = 300  # max_sequence_length of SanaPipeline (docs/sana.md §1.1)

# Transformer configurations of docs/sana.md §5; keys are SanaTransformer2DModel's constructor arguments.
DIT_COMMON = dict(
    in_channels=32, out_channels=32, attention_head_dim=32, caption_channels=2304, mlp_ratio=2.5,
    attention_bias=False, patch_size=1, norm_elementwise_affine=False, norm_eps=1e-6,
    interpolation_scale=None, guidance_embeds=False, qk_norm=None, timestep_scale=1.0,
)
DIT = {
    "600m_512": dict(DIT_COMMON, num_layers=28, num_attention_heads=36, num_cross_attention_heads=16,
                     cross_attention_head_dim=72, cross_attention_dim=1152, sample_size=16),
    "1600m_1024": dict(DIT_COMMON, num_layers=20, num_attention_heads=70, num_cross_attention_heads=20,
                       cross_attention_head_dim=112, cross_attention_dim=2240, sample_size=32),
}
# Tiny stand-ins with the same code paths, for --tiny (CPU check): 2 layers, width 64, small latents.
DIT_TINY = {
    name: dict(DIT_COMMON, num_layers=2, num_attention_heads=2, num_cross_attention_heads=2,
               cross_attention_head_dim=32, cross_attention_dim=64, caption_channels=64, sample_size=size)
    for name, size in (("600m_512", 4), ("1600m_1024", 8))
}

# dc-ae-f32c32-sana-1.0 vae/config.json (docs/sana.md §3).
DCAE = dict(
    in_channels=3, latent_channels=32, attention_head_dim=32,
    encoder_block_types=["ResBlock"] * 3 + ["EfficientViTBlock"] * 3,
    decoder_block_types=["ResBlock"] * 3 + ["EfficientViTBlock"] * 3,
    encoder_block_out_channels=[128, 256, 512, 512, 1024, 1024],
    decoder_block_out_channels=[128, 256, 512, 512, 1024, 1024],
    encoder_layers_per_block=[2, 2, 2, 3, 3, 3], decoder_layers_per_block=[3, 3, 3, 3, 3, 3],
    encoder_qkv_multiscales=[[], [], [], [5], [5], [5]], decoder_qkv_multiscales=[[], [], [], [5], [5], [5]],
    upsample_block_type="interpolate", downsample_block_type="Conv",
    decoder_norm_types="rms_norm", decoder_act_fns="silu", scaling_factor=0.41407,
)
DCAE_TINY = dict(
    DCAE, encoder_block_out_channels=[32, 32, 32, 64, 64, 64], decoder_block_out_channels=[32, 32, 32, 64, 64, 64],
    encoder_layers_per_block=[1] * 6, decoder_layers_per_block=[1] * 6,
)
# Latent side of each DiT model's resolution, for the decode stage (the image is 32× that).
DECODE_LATENT = {"600m_512": 16, "1600m_1024": 32}
DECODE_LATENT_TINY = {"600m_512": 2, "1600m_1024": 4}

# gemma-2-2b (model/gemma2/config.go DefaultConfig).
GEMMA = dict(
    vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
    num_attention_heads=8, num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh",
    max_position_embeddings=8192, rms_norm_eps=1e-6, query_pre_attn_scalar=256, sliding_window=4096,
    attn_logit_softcapping=50.0, final_logit_softcapping=30.0, attention_bias=False,
    pad_token_id=0, eos_token_id=1, bos_token_id=2,
)
GEMMA_TINY = dict(GEMMA, vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=2, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32)
ROPE_THETA = 10000.0


def say(line):
    print(f"diffusers {line}", flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", default="1,2,4,8,16", help="images per call (B); the DiT runs 2·B rows")
    p.add_argument("--iters", type=int, default=10, help="timed iterations per measurement (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed iterations before each measurement")
    p.add_argument("--budget", type=float, default=1.0,
                   help="seconds of timed work per measurement: fewer iterations (≥ 3) for slow batches")
    p.add_argument("--quick", action="store_true", help="batches 1,2 with 3 iterations (1 warm-up)")
    p.add_argument("--stages", default=",".join(STAGES), help="comma list of " + ",".join(STAGES))
    p.add_argument("--models", default="600m_512,1600m_1024", help="DiT/decode models: 600m_512,1600m_1024")
    p.add_argument("--gemma-attn", default="sdpa", choices=("sdpa", "eager"),
                   help="Gemma2 attn_implementation (transformers' sdpa path drops the logit softcap)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="tiny configs (2 layers, small widths) for a CPU check")
    a = p.parse_args()
    a.batches = sorted({int(b) for b in a.batches.split(",") if b})  # ascending: see sweep()
    a.stages = [s for s in a.stages.split(",") if s]
    a.models = [m for m in a.models.split(",") if m]
    if a.quick:
        a.batches, a.iters, a.warmup = [1, 2], 3, 1
    for s in a.stages:
        if s not in STAGES:
            p.error(f"unknown stage {s!r} (want {','.join(STAGES)})")
    for m in a.models:
        if m not in DIT:
            p.error(f"unknown model {m!r} (want {','.join(DIT)})")
    if not a.batches or min(a.batches) < 1 or a.iters < 1 or a.warmup < 0 or a.budget <= 0:
        p.error("batches must be ≥ 1, iters ≥ 1, warmup ≥ 0, budget > 0")
    return a


class Timer:
    """Median time of fn(): CUDA events on a GPU (launch overhead hidden by the queue, as in a real run),
    perf_counter elsewhere. Each measurement is capped at about `budget` seconds of timed work (never fewer
    than 3 iterations), so that the default sweep stays well inside the GPU host's time limit."""

    def __init__(self, device, iters, warmup, budget):
        self.cuda = torch.device(device).type == "cuda"
        self.iters, self.warmup, self.budget = iters, warmup, budget

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def median_ms(self, fn):
        once = 0.0
        for i in range(self.warmup):
            t0 = time.perf_counter()
            fn()
            self.sync()
            once = time.perf_counter() - t0
            if i > 0 and once * (self.warmup - i - 1) > self.budget / 2:
                break  # a big batch is warm after two calls; more would only eat the time limit
        iters = self.iters
        if once > 0:
            iters = min(iters, max(3, int(self.budget / once)))
        times = []
        for _ in range(iters):
            if self.cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn()
                times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(times)


def free(device):
    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def build(factory, device, dtype):
    """Builds a module directly on the device (default init, fp32 as from a checkpoint), then casts it."""
    with torch.device(device):
        model = factory()
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)


def caption_mask(rows, tokens, device):
    """0/1 mask with the second half of each row padding (right padding, as the tokenizer pads)."""
    mask = torch.zeros(rows, tokens, dtype=torch.int64, device=device)
    mask[:, : tokens // 2] = 1
    return mask


def bench_dit(args, timer, dtype, results):
    from diffusers import SanaTransformer2DModel

    configs = DIT_TINY if args.tiny else DIT
    for name in args.models:
        cfg = configs[name]
        model = build(lambda: SanaTransformer2DModel(**cfg), args.device, dtype)
        side = cfg["sample_size"]

        def run(b, model=model, cfg=cfg, side=side):
            rows = 2 * b  # CFG: [uncond, cond] in one forward
            dev = args.device
            x = torch.randn(rows, cfg["in_channels"], side, side, device=dev, dtype=dtype)
            c = torch.randn(rows, CAPTION_TOKENS, cfg["caption_channels"], device=dev, dtype=dtype)
            # The pipeline feeds the integer scheduler timestep times timestep_scale: a float32 tensor.
            t = torch.full((rows,), 999.0, device=dev, dtype=torch.float32)
            mask = caption_mask(rows, CAPTION_TOKENS, dev)
            return timer.median_ms(lambda: model(x, encoder_hidden_states=c, timestep=t,
                                                 encoder_attention_mask=mask, return_dict=False)[0])

        sweep(args, "dit_step", name, run, results)
        del model, run  # run's default argument holds the model too
        free(args.device)


def sweep(args, stage, name, run, results):
    """Prints run(B) (a median in ms; run builds its inputs once per batch) for each batch. A batch that
    runs out of memory prints "oom", and so does every batch after it: larger ones would too."""
    oom = False
    for b in args.batches:
        if not oom:
            try:
                with torch.inference_mode():
                    ms = run(b)
            except torch.cuda.OutOfMemoryError:
                oom = True
            free(args.device)
        if oom:
            say(f"{stage} {name} batch={b} oom")
            continue
        results[(stage, name, b)] = ms
        say(f"{stage} {name} batch={b} {ms:.3f} ms")


def bench_decode(args, timer, dtype, results):
    from diffusers import AutoencoderDC

    vae = build(lambda: AutoencoderDC(**(DCAE_TINY if args.tiny else DCAE)), args.device, dtype)
    vae.encoder = None  # decode never touches it; frees 0.3 GB
    sides = DECODE_LATENT_TINY if args.tiny else DECODE_LATENT
    for name in args.models:
        def run(b, side=sides[name]):
            z = torch.randn(b, 32, side, side, device=args.device, dtype=dtype)
            return timer.median_ms(lambda: vae.decode(z).sample)

        sweep(args, "decode", name, run, results)
    del vae, run
    free(args.device)


def gemma_config(tiny, attn):
    from transformers import Gemma2Config

    kw = GEMMA_TINY if tiny else GEMMA
    try:  # transformers 5: RoPE settings live in rope_parameters
        cfg = Gemma2Config(**kw, rope_parameters={"rope_type": "default", "rope_theta": ROPE_THETA})
    except TypeError:  # transformers 4
        cfg = Gemma2Config(**kw, rope_theta=ROPE_THETA)
    cfg._attn_implementation = attn
    return cfg


def bench_encode(args, timer, dtype, results):
    import transformers
    from transformers import Gemma2Model

    transformers.logging.set_verbosity_error()
    cfg = gemma_config(args.tiny, args.gemma_attn)
    model = build(lambda: Gemma2Model(cfg), args.device, dtype)
    say(f"note transformers {transformers.__version__} gemma2 attn_implementation="
        f"{model.config._attn_implementation} (requested {args.gemma_attn})")

    def run(b):
        ids = torch.randint(3, cfg.vocab_size, (b, CAPTION_TOKENS), device=args.device)
        mask = caption_mask(b, CAPTION_TOKENS, args.device)
        ids[mask == 0] = cfg.pad_token_id
        ids[:, 0] = cfg.bos_token_id
        fwd = lambda: model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state  # noqa: E731
        return timer.median_ms(fwd)

    # img_per_s wants the prompts and their negatives in one call: 2·B as well as B.
    saved = args.batches
    args.batches = sorted(set(saved) | {2 * b for b in saved})
    try:
        sweep(args, "encode", "gemma2_2b", run, results)
    finally:
        args.batches = saved
    del model
    free(args.device)


def report_throughput(args, results):
    for name in args.models:
        for b in args.batches:
            dit, dec = results.get(("dit_step", name, b)), results.get(("decode", name, b))
            enc = results.get(("encode", "gemma2_2b", 2 * b))
            if enc is None and ("encode", "gemma2_2b", b) in results:
                enc = 2 * results[("encode", "gemma2_2b", b)]
            if dit is None or dec is None or enc is None:
                continue
            say(f"img_per_s {name} batch={b} {b / ((enc + STEPS * dit + dec) / 1e3):.3f}")


def main():
    args = parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("diffusers_bench: no CUDA device (use --device cpu --tiny for a code-path check)")
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else args.device
    say(f"device {name} torch {torch.__version__}")
    try:
        import diffusers

        # diffusers warns on each .to(dtype) of a model built without from_pretrained; the output is parsed.
        diffusers.utils.logging.set_verbosity_error()
        say(f"note diffusers {diffusers.__version__} from {Path(diffusers.__file__).parent}")
    except Exception as e:  # noqa: BLE001 — the encode stage needs only transformers
        say(f"error import diffusers {type(e).__name__}: {e}")
    say(f"note tiny={args.tiny} iters={args.iters} warmup={args.warmup} budget={args.budget}s")
    dtype = torch.bfloat16
    timer = Timer(args.device, args.iters, args.warmup, args.budget)
    torch.manual_seed(0)
    results = {}
    benches = {"dit_step": bench_dit, "decode": bench_decode, "encode": bench_encode}
    # Models are built outside inference mode (their parameters must not be inference tensors); each
    # measurement runs inside it (sweep). The run happens once on a lent host: a stage that fails prints
    # why and the next one still runs.
    for stage in STAGES:
        if stage in args.stages:
            try:
                benches[stage](args, timer, dtype, results)
            except Exception as e:  # noqa: BLE001
                say(f"error {stage} {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                free(args.device)
    report_throughput(args, results)


if __name__ == "__main__":
    main()
