"""The released checkpoints on CPU, end to end from JPEG: our inference path vs a naive fp32 eager one.

In one run, on the same real JPEGs (the committed public-domain sample) and the same weights:

- **BYOL encoder** (``models/byol_mobilenetv2-wikiart``, a plain MobileNetV2): naive = torchvision's
  ``mobilenet_v2`` carrying the released weights (classifier removed), fp32, eager, NCHW, ``no_grad``,
  PIL decode + the trainer's own evaluation transform per image (what the released figures were
  measured with);
- **RLA-MobileNetV2 classifier** (``models/rla_mobilenetv2-wikiart``; torchvision has no RLA model):
  naive = the released module itself run the same naive way (features and the three heads);
- **ensemble classifier** (``models/ensemble-wikiart``, what the app serves: the RLA classifier and a plain
  MobileNetV2, logits averaged): naive = the ensemble module run the same naive way;
- **ours default** = :class:`artextract.infer.Embedder` as ``build`` and the app make it: BatchNorm folded,
  exported in memory to ONNX Runtime, fp32 (where ``onnxruntime`` is installed; torch otherwise), JPEG
  draft decoding, decoding in threads one batch ahead, through ``embed_paths``;
- **ours torch** (auto precision, and fp32) = the same on torch: channels_last, ``inference_mode``, bf16
  autocast where the CPU has native bf16; and each with ``torch.compile`` (compiled in the warm-up, not
  timed).

Printed per model: images/s end to end (best of ``--repeats`` interleaved runs; the machine is noisy),
the ratio to the naive row measured in the same run, and the minimum over images of the cosine between
our embedding and the naive fp32 one.

    .venv/bin/python bench/released.py                 # 128 JPEGs, 3 repeats
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--collection", type=Path, default=ROOT / "data/sample/collection")
    ap.add_argument("--classifier", type=Path, default=ROOT / "models/rla_mobilenetv2-wikiart")
    ap.add_argument("--encoder", type=Path, default=ROOT / "models/byol_mobilenetv2-wikiart")
    ap.add_argument(
        "--ensemble", type=Path, default=ROOT / "models/ensemble-wikiart", help="'' to leave it out"
    )
    args = ap.parse_args(argv)

    import torchvision
    from PIL import Image

    from artextract.catalog import image_path, read_catalog
    from artextract.images import shrink
    from artextract.infer import Embedder, cpu_supports_bf16, load_size_of, resolve_precision
    from artextract.nets.checkpoint import load_checkpoint
    from artextract.train.data import classifier_transforms, to_uint8_tensor

    torch.set_flush_denormal(True)
    cat = read_catalog(args.collection).head(args.images)
    paths = [image_path(args.collection, p) for p in cat["image"]]
    auto = resolve_precision("auto")
    print(f"{len(paths)} JPEGs from {args.collection.name}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, native bf16: {cpu_supports_bf16()}, torch's auto precision: {auto}")  # fmt: skip

    def naive_runner(forward, card):
        """The reference: the trainer's own evaluation transform (shrink to its load_size, then torchvision's
        resize and centre crop), per image, on the fp32 eager module."""
        size, crop = int(card["input_size"]), float(card.get("crop_pct", 1.0))
        load = load_size_of(card)
        _, eval_tf = classifier_transforms(size, card["mean"], card["std"], crop_pct=crop)

        def tf(img):  # noqa: ANN001, ANN202
            return eval_tf(to_uint8_tensor(shrink(img, load) if load else img))

        def run() -> np.ndarray:
            outs = []
            with torch.no_grad():
                for s in range(0, len(paths), args.batch_size):
                    xb = torch.stack(
                        [tf(Image.open(p).convert("RGB")) for p in paths[s : s + args.batch_size]]
                    )
                    outs.append(forward(xb))
            return torch.cat(outs).numpy()

        return run

    models = {}
    enc, enc_card = load_checkpoint(args.encoder)
    tv = torchvision.models.mobilenet_v2()
    tv.features.load_state_dict({k[len("features.") :]: v for k, v in enc.state_dict().items()})
    tv.classifier = torch.nn.Identity()
    tv.eval()

    def ours(model, card) -> dict[str, Embedder]:
        """Our paths: the default (what build and the app run), torch at auto precision and fp32, and both
        with torch.compile (compiled once, in the warm-up)."""
        kw = {"batch_size": args.batch_size}
        default = Embedder(model, card, **kw)
        torch_kw = {"runtime": "torch", "compile_min_images": 0, **kw}
        return {
            f"ours default ({'ONNX Runtime fp32' if default.runtime == 'onnx' else 'torch ' + auto})": default,
            f"ours torch {auto}": Embedder(model, card, **torch_kw),
            "ours torch fp32": Embedder(model, card, precision="fp32", **torch_kw),
            f"ours torch {auto} + compile": Embedder(model, card, compile=True, **torch_kw),
            "ours torch fp32 + compile": Embedder(model, card, precision="fp32", compile=True, **torch_kw),
        }

    models["BYOL MobileNetV2 encoder"] = (naive_runner(tv, enc_card), ours(enc, enc_card))

    def classifier(path: Path) -> tuple:
        """(naive runner, our paths) of a classifier checkpoint: features plus every head's softmax."""
        model, card = load_checkpoint(path)
        model.eval()

        def forward(x: torch.Tensor) -> torch.Tensor:
            feats = model.forward_features(x)
            for logits in model.forward_head(feats).values():
                logits.softmax(1)
            return feats

        return naive_runner(forward, card), ours(model, card)

    models["RLA-MobileNetV2 classifier"] = classifier(args.classifier)
    if str(args.ensemble) and args.ensemble.is_dir():  # what the app serves: two networks, logits averaged
        models["ensemble classifier (served)"] = classifier(args.ensemble)

    def best(fn) -> tuple[float, np.ndarray]:
        t = time.perf_counter()
        out = fn()
        return len(paths) / (time.perf_counter() - t), out

    rates: dict[tuple[str, str], float] = {}
    outs: dict[tuple[str, str], np.ndarray] = {}
    for naive, mine in models.values():  # warm-up (oneDNN primitives, thread pools, compilation)
        naive()
        for e in mine.values():
            e.embed_paths(paths, progress=False)
    paths_of = ["naive fp32 eager"]
    for r in range(args.repeats):
        for name, (naive, mine) in models.items():
            runs = {"naive fp32 eager": naive}
            runs.update(
                {k: (lambda e=e: e.embed_paths(paths, progress=False).embeddings) for k, e in mine.items()}
            )
            for path, fn in runs.items():
                if path not in paths_of:
                    paths_of.append(path)
                rate, out = best(fn)
                rates[(name, path)] = max(rates.get((name, path), 0.0), rate)
                outs[(name, path)] = out
                print(
                    f"[bench] repeat {r + 1}/{args.repeats}: {name:<28} {path:<24} {rate:7.1f} img/s",
                    file=sys.stderr,
                )

    print()
    print("| model | path | img/s end to end | vs naive | min cosine vs naive fp32 |")
    print("|---|---|---:|---:|---:|")
    for name in models:
        ref = outs[(name, "naive fp32 eager")]
        ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
        base = rates[(name, "naive fp32 eager")]
        for path in dict.fromkeys(paths_of):
            o = outs[(name, path)]
            cos = float(((o / np.linalg.norm(o, axis=1, keepdims=True)) * ref).sum(1).min())
            print(
                f"| {name} | {path} | {rates[(name, path)]:.1f} | {rates[(name, path)] / base:.2f}x | {cos:.5f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
