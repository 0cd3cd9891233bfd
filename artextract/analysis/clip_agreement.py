"""CLIP agreement: how similar two paintings look to an independent model (open_clip).

Retrieval is judged, as the reference submission did, by the image-image CLIP cosine similarity of a
query and each painting it retrieves, here over many queries. CLIP weights cannot be downloaded offline:
give a local weights file (``pretrained=PATH`` or ``ARTEXTRACT_CLIP_WEIGHTS``), or ``pretrained="random"``
for an untrained model (tests, smoke runs; its scores mean nothing).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ArtExtractError, OfflineError

DEFAULT_TAGS = {
    "ViT-B-32": "laion2b_s34b_b79k",
    "ViT-B-16": "laion2b_s34b_b88k",
    "ViT-L-14": "laion2b_s32b_b82k",
}
RANDOM = ("random", "none")


def _offline_hint(model_name: str, tag: str) -> str:
    return (
        f"CLIP weights for {model_name} ({tag}) are needed and could not be downloaded (offline?). "
        f"On a connected machine get open_clip_pytorch_model.bin (or .safetensors) from the Hugging Face repo "
        f"listed by open_clip.list_pretrained() for ({model_name!r}, {tag!r}), copy it here and give its "
        "path (artextract evaluate --clip-weights PATH, pretrained=PATH, or ARTEXTRACT_CLIP_WEIGHTS)"
    )


HUB_HOST = "huggingface.co"


def _hub_unreachable() -> bool:
    """True when the Hugging Face hub (or the mirror in ``HF_ENDPOINT``) certainly cannot be reached.

    Behind a proxy a direct connection says nothing, so then we let the download try.
    """
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return False
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or f"https://{HUB_HOST}")
    return not _reachable(endpoint.hostname or HUB_HOST, endpoint.port or 443)


def _reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def _cached_weights(open_clip: Any, model_name: str, tag: str) -> str | None:
    """The weights file of (model, tag) if the Hugging Face cache already holds it."""
    try:
        from huggingface_hub import try_to_load_from_cache

        repo = (open_clip.get_pretrained_cfg(model_name, tag) or {}).get("hf_hub", "").strip("/")
        for name in ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"):
            p = try_to_load_from_cache(repo, name) if repo else None
            if isinstance(p, str) and Path(p).is_file():
                return p
    except Exception:  # noqa: BLE001 - any cache layout surprise just means "not cached"
        return None
    return None


class _quiet_hub:
    """Silence the hub's per-retry warnings; our error says what went wrong in one line."""

    def __enter__(self) -> None:
        import logging

        self.saved = logging.root.manager.disable
        logging.disable(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        import logging

        logging.disable(self.saved)


def load_clip(model_name: str = "ViT-B-32", pretrained: str | Path | None = None) -> tuple[Any, Callable]:
    """Return ``(model, preprocess)`` in eval mode on CPU.

    ``pretrained``: a local weights file; an open_clip tag (e.g. ``"laion2b_s34b_b79k"``, downloaded or
    from the cache); ``"random"`` for random weights; ``None`` -> ``$ARTEXTRACT_CLIP_WEIGHTS`` if set, else
    the model's default tag. Raises :class:`OfflineError` when weights are needed and cannot be fetched.
    """
    import open_clip

    if model_name not in open_clip.list_models():
        raise ArtExtractError(
            f"unknown CLIP model {model_name!r}; valid: {', '.join(sorted(open_clip.list_models())[:12])}, ..."
        )
    if pretrained is None:
        pretrained = os.environ.get("ARTEXTRACT_CLIP_WEIGHTS") or DEFAULT_TAGS.get(model_name)
        if pretrained is None:
            tags = open_clip.list_pretrained_tags_by_model(model_name)
            pretrained = tags[0] if tags else "random"
    spec = str(pretrained)
    if spec.lower() in RANDOM:
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=None)
    elif Path(spec).suffix in (".bin", ".pt", ".pth", ".safetensors") or os.sep in spec:
        path = Path(spec)
        if not path.is_file():
            raise ArtExtractError(f"CLIP weights file not found: {path}")
        # open_clip loads local files with torch.load(weights_only=True) or safetensors: no code runs
        model, _, preprocess = open_clip.create_model_and_transforms(model_name, pretrained=str(path))
    else:
        known = open_clip.list_pretrained_tags_by_model(model_name)
        if spec not in known:
            raise ArtExtractError(
                f"unknown pretrained tag {spec!r} for {model_name}; valid: {', '.join(known) or 'none'}, "
                "a local file path, or 'random'"
            )
        cached = _cached_weights(open_clip, model_name, spec)
        if cached is None and _hub_unreachable():
            # fail in one line now rather than after a minute of hub retries
            raise OfflineError(_offline_hint(model_name, spec))
        try:
            with _quiet_hub():
                model, _, preprocess = open_clip.create_model_and_transforms(
                    model_name, pretrained=cached or spec
                )
        except (OSError, RuntimeError, ValueError) as exc:  # connection, hub and cache errors
            raise OfflineError(_offline_hint(model_name, spec)) from exc
    model.eval()
    return model, preprocess


@torch.inference_mode()
def clip_embed(
    model: Any, preprocess: Callable, images: Sequence[Image.Image], *, batch_size: int = 32
) -> np.ndarray:
    """L2-normalised CLIP image embeddings ``[N, D]`` (float32)."""
    out = []
    for s in range(0, len(images), batch_size):
        x = torch.stack([preprocess(img.convert("RGB")) for img in images[s : s + batch_size]])
        feats = model.encode_image(x).float()
        out.append(torch.nn.functional.normalize(feats, dim=-1).numpy())
    dim = out[0].shape[1] if out else 0
    return np.concatenate(out) if out else np.zeros((0, dim), np.float32)


def clip_image_similarity(
    model: Any,
    preprocess: Callable,
    pairs_a: Sequence[Image.Image],
    pairs_b: Sequence[Image.Image],
    *,
    batch_size: int = 32,
) -> np.ndarray:
    """Cosine similarity of CLIP image embeddings for each pair ``(pairs_a[i], pairs_b[i])``: ``[N]``."""
    if len(pairs_a) != len(pairs_b):
        raise ValueError(f"pairs_a has {len(pairs_a)} images but pairs_b has {len(pairs_b)}")
    a = clip_embed(model, preprocess, pairs_a, batch_size=batch_size)
    b = clip_embed(model, preprocess, pairs_b, batch_size=batch_size)
    return (a * b).sum(axis=1).astype(np.float32)


def retrieval_agreement(
    query_emb: np.ndarray, gallery_emb: np.ndarray, neighbours: np.ndarray
) -> dict[str, float]:
    """Mean CLIP similarity of each query to its retrieved neighbours vs to random gallery items.

    ``query_emb [Q, D]`` and ``gallery_emb [G, D]`` come from :func:`clip_embed`; ``neighbours [Q, k]``
    are gallery indices retrieved by our model. ``lift`` > 0 means CLIP agrees the neighbours look alike.
    """
    sims = np.einsum("qd,qkd->qk", query_emb, gallery_emb[neighbours])
    baseline = float((query_emb @ gallery_emb.T).mean())
    mean = float(sims.mean())
    return {
        "mean_neighbour_sim": mean,
        "mean_random_sim": baseline,
        "lift": mean - baseline,
        "queries": int(len(query_emb)),
        "k": int(neighbours.shape[1]),
    }
