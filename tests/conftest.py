"""Shared fixtures: a real (tiny) demo collection, checkpoints and artifact bundle.

Everything is generated in a temporary folder from a seed: a small demo collection, untrained demo
models saved as real checkpoints, and a bundle built by the real ``build_bundle``. Tests that need a
*trained* model train their own (tests/test_train.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("ARTEXTRACT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="module")
def flush_denormals():
    """Untrained deep nets produce denormal floats that slow CPU kernels ~100x; inference flushes them."""
    import torch

    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests using it skip cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory) -> dict[str, Path]:
    """A 120-painting demo collection and a 40-painting reference collection at 64 px."""
    from artextract.sources.demo import make_demo, make_reference

    root = tmp_path_factory.mktemp("tinydemo")
    make_demo(root / "demo", n=120, size=64, seed=0, workers=1, progress=False)
    make_reference(root / "demo_reference", n=40, size=64, seed=1, workers=1, progress=False)
    return {"root": root, "collection": root / "demo", "reference": root / "demo_reference"}


def save_untrained(out: Path, arch: str, heads: dict[str, list[str]], *, input_size: int = 64, seed: int = 0):
    """Save a randomly initialised registered model as a real checkpoint (safetensors + card)."""
    import torch

    from artextract.nets.checkpoint import save_checkpoint
    from artextract.nets.registry import create_model, model_info

    torch.manual_seed(seed)
    model = create_model(arch, heads={k: len(v) for k, v in heads.items()})
    info = model_info(arch)
    card = {
        "arch": arch,
        "arch_kwargs": {},
        "heads": heads,
        "kind": "classifier" if heads else "encoder",
        "input_size": input_size,
        "mean": info["mean"],
        "std": info["std"],
    }
    return save_checkpoint(out, model, card)


@pytest.fixture(scope="session")
def tiny_checkpoints(tiny_demo, tmp_path_factory) -> dict[str, Path]:
    from artextract.catalog import label_vocab, read_catalog

    root = tmp_path_factory.mktemp("tinymodels")
    cat = read_catalog(tiny_demo["collection"])
    train = cat[cat["split"] == "train"]
    heads = {a: label_vocab(train, a) for a in ("style", "artist", "genre")}
    save_untrained(root / "classifier", "rla_resnet_demo", heads)
    save_untrained(root / "encoder", "resnet_demo", {}, seed=1)
    return {"classifier": root / "classifier", "encoder": root / "encoder"}


@pytest.fixture(scope="session")
def tiny_bundle(tiny_demo, tiny_checkpoints, tmp_path_factory) -> Path:
    """A complete artifact bundle built by the real pipeline over the tiny demo collection."""
    from artextract.build import BuildConfig, build_bundle

    out = tmp_path_factory.mktemp("tinyartifacts") / "demo"
    build_bundle(
        BuildConfig(
            collection=tiny_demo["collection"],
            classifier=tiny_checkpoints["classifier"],
            reference=tiny_demo["reference"],
            encoder=tiny_checkpoints["encoder"],
            evidence=tiny_checkpoints["encoder"],
            out=out,
            name="demo",
            progress=False,
        ),
        log=lambda _msg: None,
    )
    return out
