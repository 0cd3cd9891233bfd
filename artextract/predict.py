"""Predictions for single images: what ``artextract classify``/``similar`` and the app's Similar page use.

The heavy lifting (batching, bf16, channels_last) lives in :mod:`artextract.infer`; this module turns
its arrays into labelled answers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .infer import Embedder


def load_embedder(checkpoint: str | Path, *, precision: str = "auto", batch_size: int = 32) -> Embedder:
    """Load a released checkpoint (safetensors + card, never pickle) into an inference wrapper."""
    from .nets.checkpoint import load_checkpoint

    model, card = load_checkpoint(checkpoint)
    return Embedder(model, card, precision=precision, batch_size=batch_size)


def top_k_labels(probs: dict[str, np.ndarray], classes: dict[str, list[str]], k: int = 3):
    """Per row, per head: the ``k`` most probable labels with their probabilities."""
    out: list[dict[str, list[tuple[str, float]]]] = []
    n = len(next(iter(probs.values()))) if probs else 0
    for i in range(n):
        row = {}
        for attr, p in probs.items():
            order = np.argsort(-p[i])[:k]
            row[attr] = [(classes[attr][j], float(p[i][j])) for j in order]
        out.append(row)
    return out


def classify_images(embedder: Embedder, images: list[Image.Image], k: int = 3):
    """Top-``k`` style/artist/genre (whatever heads the checkpoint has) for each image."""
    result = embedder.embed_images(images)
    return top_k_labels(result.probs, embedder.card["heads"], k)


def classify_image(embedder: Embedder, image: Image.Image, k: int = 3) -> dict[str, list[tuple[str, float]]]:
    return classify_images(embedder, [image], k)[0]


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), eps)


def embed_query(embedder: Embedder, image: Image.Image) -> np.ndarray:
    """L2-normalised embedding of one image, ready for a cosine index query."""
    return l2_normalize(embedder.embed_images([image]).embeddings[0])
