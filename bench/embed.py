"""Benchmark CPU embedding (issue 3, item 7): our inference path vs a naive torchvision ResNet-50.

In one run, on the same synthetic images and the same weights:

- **naive**: torchvision ``resnet50`` (fc removed), fp32, eager, NCHW, ``torch.no_grad`` - what a
  straightforward script does;
- **ours**: :class:`artextract.infer.Embedder` on our ``resnet50`` carrying those weights (BatchNorm
  folded into the convs, channels_last, ``inference_mode``; fp32, then bf16 autocast as ``auto`` picks
  it where the CPU has native bf16), plus ``rla_resnet50`` for reference;
- ours again with ``compile=True`` (torch.compile, inductor with frozen weights: what ``build`` uses for
  large collections; the one-off compile time is printed);
- model-only throughput (pre-made tensors) and end-to-end throughput (PIL image -> embedding);
- the machine's measured matrix-multiply peak (best of square GEMMs in every repeat, fp32 and bf16) and the fraction
  of it each row reaches (FLOPs per image counted by ``torch.utils.flop_counter``);
- the cosine agreement of our embeddings with the naive fp32 ones.

Random weights produce denormal floats that slow every CPU kernel ~100x and that trained weights do not
produce; denormals are flushed for every row, so the comparison reflects trained models. Throughput is
the best of ``--repeats`` interleaved runs (the machine may be shared).

Usage::

    .venv/bin/python bench/embed.py                  # 64 images at 224 px, 3 repeats
    .venv/bin/python bench/embed.py --images 128 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def synthetic_images(n: int, seed: int = 0) -> list:
    """Smooth random colour fields with strokes of noise, 320x256 to 256x320 (paintings-like sizes)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        w, h = (320, 256) if i % 2 else (256, 320)
        base = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        arr = np.asarray(base, dtype=np.int16) + rng.integers(-20, 21, (h, w, 3))
        out.append(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))
    return out


def matmul_peak(dtype: torch.dtype, sizes=(1024, 2048, 3072), reps: int = 4) -> float:
    """Best measured GEMM rate in GFLOP/s (2 n^3 per n x n product)."""
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        a @ b
        t = time.perf_counter()
        for _ in range(reps):
            a @ b
        best = max(best, reps * 2 * n**3 / (time.perf_counter() - t) / 1e9)
    return best


def flops_per_image(model: torch.nn.Module, size: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, size, size))
    return float(counter.get_total_flops())


def best_rate(fn: Callable[[], Any], n_images: int) -> tuple[float, Any]:
    t = time.perf_counter()
    out = fn()
    return n_images / (time.perf_counter() - t), out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=64, help="synthetic images per run (more = steadier)")
    ap.add_argument("--batch-size", type=int, default=32, help="images per forward pass, both paths")
    ap.add_argument("--size", type=int, default=224, help="input size (ResNet-50's ImageNet default)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs; the best of each is reported")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--skip-rla", action="store_true", help="skip the rla_resnet50 row")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile row (saves ~30 s)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    import torchvision
    from torchvision.transforms import v2

    from artextract.infer import Embedder, cpu_supports_bf16, onnx_available, resolve_precision
    from artextract.nets.checkpoint import init_from_imagenet
    from artextract.nets.registry import create_model, model_info

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    log(
        f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}, bf16 native: {cpu_supports_bf16()}"
    )

    # ---------------------------------------------------------------- same weights for both paths
    naive = torchvision.models.resnet50()
    with torch.no_grad():  # BN statistics of a trained-like scale, so activations stay realistic
        for m in naive.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_var.uniform_(0.5, 2.0)
                m.running_mean.uniform_(-0.1, 0.1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "resnet50.pth"
        torch.save(naive.state_dict(), path)
        ours_model = create_model("resnet50", heads={})
        report = init_from_imagenet(ours_model, path)
    assert report["fresh"] == [], report["fresh"]
    naive.fc = torch.nn.Identity()
    naive.eval()
    info = model_info("resnet50")
    card = {"input_size": args.size, "mean": info["mean"], "std": info["std"], "heads": {}, "crop_pct": 0.875}
    auto = resolve_precision("auto")
    ours = {
        "ours fp32": Embedder(ours_model, card, precision="fp32", batch_size=args.batch_size, compile=False),
        f"ours {auto} (auto)": Embedder(
            ours_model, card, precision=auto, batch_size=args.batch_size, compile=False
        ),
    }
    if onnx_available():
        ours["ours fp32, ONNX Runtime"] = Embedder(
            ours_model, card, runtime="onnx", batch_size=args.batch_size
        )
    if not args.no_compile:
        ours[f"ours {auto} compiled"] = Embedder(
            ours_model, card, precision=auto, batch_size=args.batch_size, compile=True
        )
    if not args.skip_rla:
        rla = create_model("rla_resnet50", heads={})
        with torch.no_grad():
            for m in rla.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_var.uniform_(0.5, 2.0)
        ours[f"ours rla_resnet50 {auto}"] = Embedder(
            rla, card, precision=auto, batch_size=args.batch_size, compile=False
        )

    images = synthetic_images(args.images)
    naive_tf = v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(round(args.size / 0.875), antialias=True),
            v2.CenterCrop(args.size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(info["mean"], info["std"]),
        ]
    )
    x = torch.stack([naive_tf(img) for img in images])  # the same tensors for every model-only row

    def run_naive_model() -> np.ndarray:
        outs = []
        with torch.no_grad():
            for s in range(0, len(x), args.batch_size):
                outs.append(naive(x[s : s + args.batch_size]))
        return torch.cat(outs).numpy()

    def run_naive_e2e() -> np.ndarray:
        outs = []
        with torch.no_grad():
            for s in range(0, len(images), args.batch_size):
                xb = torch.stack([naive_tf(img) for img in images[s : s + args.batch_size]])
                outs.append(naive(xb))
        return torch.cat(outs).numpy()

    rows: dict[str, dict[str, Any]] = {}
    configs: list[tuple[str, str, Callable[[], Any], str]] = [
        ("naive fp32 eager", "model", run_naive_model, "fp32")
    ]
    for name, emb in ours.items():
        configs.append((name, "model", lambda emb=emb: emb.embed_tensor(x).embeddings, emb.precision))
    configs.append(("naive fp32 eager", "end-to-end", run_naive_e2e, "fp32"))
    e2e = [f"ours {auto} (auto)"] + ([] if args.no_compile else [f"ours {auto} compiled"])
    for name in e2e:
        configs.append(
            (name, "end-to-end", lambda name=name: ours[name].embed_images(images).embeddings, auto)
        )

    compile_s = None
    for name, _mode, fn, _ in configs:  # warm-up: oneDNN primitive creation, torch.compile
        t = time.perf_counter()
        fn()
        if "compiled" in name and compile_s is None:
            compile_s = time.perf_counter() - t
            log(f"torch.compile warm-up took {compile_s:.1f} s (once per process)")
    embeddings: dict[tuple[str, str], np.ndarray] = {}
    peak = {"fp32": 0.0, "bf16": 0.0}
    for r in range(args.repeats):
        # the GEMM peak is measured in every repeat too (best kept), so a busy moment cannot deflate it
        peak = {
            "fp32": max(peak["fp32"], matmul_peak(torch.float32)),
            "bf16": max(peak["bf16"], matmul_peak(torch.bfloat16)),
        }
        log(
            f"repeat {r + 1}/{args.repeats}: matmul peak so far fp32 {peak['fp32']:.0f}, bf16 {peak['bf16']:.0f} GFLOP/s"
        )
        for name, mode, fn, prec in configs:
            rate, out = best_rate(fn, len(images))
            key = (name, mode)
            embeddings[key] = out
            row = rows.setdefault(
                f"{name}|{mode}", {"path": name, "mode": mode, "precision": prec, "img_s": 0.0}
            )
            row["img_s"] = max(row["img_s"], rate)
            log(f"repeat {r + 1}/{args.repeats}: {name:<28} {mode:<10} {rate:7.2f} img/s")

    fl = {"resnet50": flops_per_image(create_model("resnet50", heads={}).eval(), args.size)}
    if not args.skip_rla:
        fl["rla_resnet50"] = flops_per_image(create_model("rla_resnet50", heads={}).eval(), args.size)

    ref = embeddings[("naive fp32 eager", "model")]
    ref_n = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    base = rows["naive fp32 eager|model"]["img_s"]
    base_e2e = rows["naive fp32 eager|end-to-end"]["img_s"]
    for key, row in rows.items():
        name, mode = key.split("|")
        arch = "rla_resnet50" if "rla" in name else "resnet50"
        gflops = row["img_s"] * fl[arch] / 1e9
        row["speedup"] = row["img_s"] / (base if mode == "model" else base_e2e)
        row["gflop_s"] = gflops
        row["peak_frac"] = gflops / peak[row["precision"]]
        out = embeddings[(name, mode)]
        if arch == "resnet50":
            o = out / np.linalg.norm(out, axis=1, keepdims=True)
            row["cos_min"] = float((o * ref_n).sum(axis=1).min())

    print()
    print(
        f"CPU: {cpu_name()} | threads: {torch.get_num_threads()} | torch {torch.__version__} | "
        f"native bf16: {cpu_supports_bf16()}"
    )
    print(
        f"{args.images} images, {args.size} px, batch {args.batch_size}, best of {args.repeats}; "
        f"ResNet-50 {fl['resnet50'] / 1e9:.2f} GFLOP/img"
        + (f", RLA-ResNet-50 {fl['rla_resnet50'] / 1e9:.2f} GFLOP/img" if "rla_resnet50" in fl else "")
    )
    print(
        f"measured matmul peak: fp32 {peak['fp32']:.0f} GFLOP/s, bf16 {peak['bf16']:.0f} GFLOP/s"
        + (f"; torch.compile warm-up {compile_s:.0f} s (once per process)" if compile_s else "")
    )
    print()
    hdr = f"| {'path':<28} | {'mode':<10} | {'img/s':>7} | {'vs naive':>8} | {'GFLOP/s':>7} | {'% of peak':>9} | {'cos vs naive':>12} |"
    print(hdr)
    print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
    for row in rows.values():
        cos = f"{row['cos_min']:.5f}" if "cos_min" in row else "-"
        print(
            f"| {row['path']:<28} | {row['mode']:<10} | {row['img_s']:7.2f} | {row['speedup']:7.2f}x | "
            f"{row['gflop_s']:7.1f} | {100 * row['peak_frac']:8.1f}% | {cos:>12} |"
        )
    print(
        "\n'% of peak' is against the measured GEMM peak of the row's precision; cos vs naive is the minimum "
        "over images of the cosine between that row's embedding and the naive fp32 one."
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "peak_gflop_s": peak,
                    "compile_s": compile_s,
                    "flops_per_image": fl,
                    "rows": list(rows.values()),
                    "threads": torch.get_num_threads(),
                    "cpu": cpu_name(),
                    "host": platform.node(),
                    "pid": os.getpid(),
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
