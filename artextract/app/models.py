"""The models the app runs itself (no streamlit): the bundle's classifier and encoder for an uploaded
painting, and Grad-CAM for the inspector. Loaded once per process and checkpoint version, and called one
at a time: the embedders are shared by every session, and 2 cores are few."""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import pandas as pd

from ..bundle import Bundle
from ..errors import BundleError
from .data import bundle_cached, pretty_label

#: One model call at a time: the embedders are shared by every session (and 2 cores are few).
_INFERENCE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _embedder(checkpoint_dir: str, stamp: int) -> Any:
    from ..predict import load_embedder

    return load_embedder(checkpoint_dir)


def embedder(b: Bundle, role: str) -> Any:
    """The cached inference wrapper of the bundle's ``classifier`` or ``encoder`` checkpoint."""
    d = b.checkpoint_dir(role)
    weights = d / "model.safetensors"
    stamp = weights.stat().st_mtime_ns if weights.exists() else 0
    return _embedder(str(d), stamp)


def classify_and_search(
    b: Bundle, img: Any, k: int
) -> tuple[dict[str, list[tuple[str, float]]], pd.DataFrame]:
    """The Similar page's answer for one image: top-3 labels per head (the bundle's classifier) and the
    ``k`` nearest reference paintings (its encoder). One forward pass when both are the same checkpoint."""
    from ..predict import l2_normalize, top_k_labels

    ref = b.reference
    if ref is None:
        raise BundleError("this bundle has no reference collection; rebuild it with one to search")
    clf, enc = embedder(b, "classifier"), embedder(b, "encoder")
    with _INFERENCE_LOCK:
        res = clf.embed_images([img])
        labels = top_k_labels(res.probs, clf.card["heads"])[0]
        emb = res.embeddings[0] if enc is clf else enc.embed_images([img]).embeddings[0]
        return labels, ref.search(l2_normalize(emb), k)


def cam_attribute(b: Bundle) -> str:
    """The head the inspector explains: style where the classifier has one."""
    return "style" if "style" in b.attributes else b.attributes[0]


@bundle_cached(64)
def class_activation_maps(_b: Bundle, key: str, row: int, attr: str) -> list[tuple[str, Any]]:
    """``[(caption, overlay image)]``: Grad-CAM for the predicted class of ``attr`` and, when it is
    another class the classifier knows, for the catalog's. Raises BadImageError for an unreadable image."""
    from ..explain import grad_cam, overlay
    from ..images import load_image

    img = load_image(_b.image_path(int(row)))
    classes = _b.classes[attr]
    p = np.asarray(_b.probs(attr)[int(row)], dtype=np.float64)
    pred = int(p.argmax())
    asked = [(pred, f"predicted {pretty_label(classes[pred])} ({p[pred]:.2f})")]
    catalog = str(_b.items.iloc[int(row)].get(attr, "") or "")
    if catalog in classes and classes.index(catalog) != pred:
        c = classes.index(catalog)
        asked.append((c, f"catalog {pretty_label(catalog)} ({p[c]:.2f})"))
    model = embedder(_b, "classifier")
    with _INFERENCE_LOCK:
        cams = grad_cam(model, img, attr, [c for c, _ in asked])
        return [(caption, overlay(model, img, cams[c])) for c, caption in asked]
