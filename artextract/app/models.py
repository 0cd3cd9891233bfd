"""The models the app runs itself (no streamlit): the bundle's classifier and encoder for an uploaded
painting, and Grad-CAM for the inspector. Loaded once per process and checkpoint version, and called one
at a time: the embedders are shared by every session, and 2 cores are few."""

from __future__ import annotations

import contextlib
import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..bundle import Bundle
from ..errors import ArtExtractError, BundleError
from .data import bundle_cached, bundle_key, pretty_label

#: One model call at a time: the embedders are shared by every session (and 2 cores are few).
_INFERENCE_LOCK = threading.Lock()
#: One model load at a time. Two runs can ask for a model not yet loaded at once: two sessions, or one
#: session whose rerun starts while the run before is still loading (Streamlit's fast reruns). Without
#: it both would load, and two ONNX exports at once fail inside torch ("GLOBALS.in_onnx_export must be
#: False"); with it the second waits and gets the first's model from the cache.
_LOAD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=4)
def _embedder(checkpoint_dir: str, stamp: int) -> Any:
    from ..predict import load_embedder

    return load_embedder(checkpoint_dir)


def _stamp(d: Any) -> int:
    weights = d / "model.safetensors"
    return weights.stat().st_mtime_ns if weights.exists() else 0


def embedder(b: Bundle, role: str) -> Any:
    """The cached inference wrapper of the bundle's ``classifier`` or ``encoder`` checkpoint."""
    d = b.checkpoint_dir(role)
    with _LOAD_LOCK:
        return _embedder(str(d), _stamp(d))


#: the warm-ups started, one per checkpoint version (folder, weights' mtime), whether they loaded or
#: failed: a failing checkpoint is not tried again on every rerun (the page's own call reports it)
_WARMED: dict[tuple[str, int], threading.Thread] = {}
_WARM_LOCK = threading.Lock()  # for _WARMED only: a page never waits here for a model to load


def warm_up(b: Bundle) -> threading.Thread | None:
    """Load the bundle's classifier and encoder in a background thread, once per process and checkpoint
    version, and run one picture through each, so that a page about to need them (Similar, while the
    curator picks a file) does not make the curator wait for that after the upload. A failure is left
    for the page's own call to report. Returns the thread (None when one was started for these
    checkpoints already, or the bundle names none)."""
    try:
        dirs = {b.checkpoint_dir(role) for role in ("classifier", "encoder")}
    except BundleError:
        return None
    with _WARM_LOCK:
        todo = [k for k in sorted((str(d), _stamp(d)) for d in dirs) if k not in _WARMED]
        if not todo:
            return None

        def load() -> None:
            from PIL import Image

            for k in todo:
                with contextlib.suppress(Exception):  # the page's own call reports what went wrong
                    with _LOAD_LOCK:
                        e = _embedder(*k)
                    # one picture through it: the first run pays for ONNX Runtime's set-up and for the
                    # resize's imports (1.9 s on 2 cores), which the curator's upload then does not
                    with _INFERENCE_LOCK:
                        e.embed_images([Image.new("RGB", (e.input_size, e.input_size), (128, 128, 128))])

        t = threading.Thread(target=load, name="artextract-warm-up", daemon=True)
        for k in todo:
            _WARMED[k] = t
    t.start()
    return t


@functools.lru_cache(maxsize=4)
def _gate(checkpoint_dir: str, stamp: int) -> Any:
    from ..analysis.open_set import load_gate
    from ..nets.card import read_card

    return load_gate(checkpoint_dir, read_card(checkpoint_dir))


def open_set_gate(b: Bundle) -> tuple[Any, str | None]:
    """(the open-set gate stored beside the bundle's classifier, or None; a one-line problem, or None).

    A gate that is unreadable or fitted for other weights is not used, and the problem says why: the
    pages show it once and go on with the plain top-3 labels."""
    stamp = gate_stamp(b)
    if not stamp:
        return None, None
    try:
        with _LOAD_LOCK:
            return _gate(str(b.checkpoint_dir("classifier")), stamp), None
    except ArtExtractError as exc:
        return None, str(exc)


def gate_stamp(b: Bundle) -> int:
    """A number that changes when the open-set gate beside the bundle's classifier, or the checkpoint it
    is checked against, changes on disk (0: no gate). Every cache of the gate's answers is keyed on it."""
    from ..analysis.open_set import GATE_CARD, GATE_WEIGHTS

    try:
        d = b.checkpoint_dir("classifier")
    except BundleError:
        return 0
    gate = [d / GATE_WEIGHTS, d / GATE_CARD]
    if not any(p.exists() for p in gate):
        return 0
    return hash(
        tuple(
            p.stat().st_mtime_ns if p.exists() else -1
            for p in [*gate, d / "card.json", d / "model.safetensors"]
        )
    )


def row_gated(b: Bundle, row: int) -> dict[str, dict[str, float]]:
    """The open-set gate's answer for one painting of the bundle (``{}`` without a usable gate)."""
    gate, _ = open_set_gate(b)
    p = bundle_p_known(b, bundle_key(b), gate_stamp(b))
    if gate is None or p is None or not 0 <= row < len(p):
        return {}
    return {gate.attribute: {"p_known": float(p[row]), "threshold": float(gate.threshold)}}


@bundle_cached(8)
def bundle_p_known(_b: Bundle, key: str, stamp: int) -> np.ndarray | None:
    """P(by one of the gated head's classes) for every painting of the bundle (its classifier embedding);
    None without a usable gate. ``stamp``: :func:`gate_stamp`, so a refitted gate is not mixed with the
    scores of the old one."""
    gate, _ = open_set_gate(_b)
    if gate is None:
        return None
    try:
        return gate.p_known(np.load(_b.root / "embeddings.npy", mmap_mode="r"))
    except (ArtExtractError, OSError, ValueError):
        return None


def open_set_summary(b: Bundle) -> str | None:
    """One line for Home: what the open-set check does on this collection, where its catalog names the
    artists (how many paintings by the head's classes it lets through, how many by others it stops)."""
    return _open_set_summary(b, bundle_key(b), gate_stamp(b))


@bundle_cached(8)
def _open_set_summary(b: Bundle, key: str, stamp: int) -> str | None:
    from ..analysis.open_set import gate_figures, known_truth

    gate, problem = open_set_gate(b)
    if problem:
        return f"Open-set check not used: {problem}"
    p = bundle_p_known(b, key, stamp)
    if gate is None or p is None:
        return None
    known, usable = known_truth(b.items, gate.attribute, gate.classes)
    # the check was fitted on WikiArt's train split: paintings catalogued train are not counted
    held_out = (b.items["split"].astype(str) != "train").to_numpy() if "split" in b.items else True
    usable = usable & held_out
    f = gate_figures(np.asarray(p)[usable], known[usable], gate.threshold)
    if not f["n_known"] or not f["n_other"]:
        return None
    a, n = gate.attribute, len(gate.classes)
    where = "here (train split left out)" if (~np.asarray(held_out)).any() else "here"
    return (
        f"Open-set check ({a}): of the {f['n_known']:,} paintings {where} by one of the {n} {a}s the classifier "
        f"knows, it lets {f['known_let_through']:.0%} through to a name; of the {f['n_other']:,} by other "
        f'{a}s, it stops {f["other_stopped"]:.0%} (they read "none of the {n} {a}s it knows").'
    )


def classify_and_search(
    b: Bundle, img: Any, k: int
) -> tuple[dict[str, list[tuple[str, float]]], pd.DataFrame, dict[str, dict[str, float]]]:
    """The Similar page's answer for one image: top-3 labels per head (the bundle's classifier), the
    ``k`` nearest reference paintings (its encoder), and, for a head with an open-set gate,
    ``{attribute: {"p_known": P(by one of its classes), "threshold", "n_classes"}}``. One forward pass when both are the same
    checkpoint."""
    labels, emb, gated = classify_and_embed(b, img)
    return labels, b.reference.search(emb, k), gated


def classify_and_embed(
    b: Bundle, img: Any
) -> tuple[dict[str, list[tuple[str, float]]], np.ndarray, dict[str, dict[str, float]]]:
    """One image's top-3 labels per head, its L2-normalised encoder embedding (what the reference is
    searched with) and the open-set gate's answer (see :func:`classify_and_search`)."""
    from ..predict import l2_normalize, top_k_labels

    if b.reference is None:
        raise BundleError("this bundle has no reference collection; rebuild it with one to search")
    clf, enc = embedder(b, "classifier"), embedder(b, "encoder")
    gate, _ = open_set_gate(b)
    with _INFERENCE_LOCK:
        res = clf.embed_images([img])
        labels = top_k_labels(res.probs, clf.card["heads"])[0]
        gated = {}
        if gate is not None and gate.attribute in labels:
            gated[gate.attribute] = {
                "p_known": float(gate.p_known(res.embeddings[:1])[0]),
                "threshold": float(gate.threshold),
                "n_classes": len(gate.classes),
            }
        emb = res.embeddings[0] if enc is clf else enc.embed_images([img]).embeddings[0]
    return labels, l2_normalize(np.asarray(emb, dtype=np.float32)), gated


#: The longest side of the copy of a query the Similar page shows (Streamlit would shrink a larger one on
#: every run: re-encoding a 12-megapixel photograph takes longer than classifying it).
QUERY_SHOWN_PX = 1200


@dataclass(frozen=True)
class QueryAnswer:
    """What the Similar page shows for one query picture, worked out once (see :func:`answer_query`)."""

    shown: bytes  # a JPEG of the picture, at most QUERY_SHOWN_PX on its longer side
    labels: dict[str, list[tuple[str, float]]]
    embedding: np.ndarray  # the encoder's, L2-normalised: what the reference is searched with
    gated: dict[str, dict[str, float]]
    same: tuple[Any, ...]  # pairs.SamePicture: the reference paintings it is the same picture as
    same_problem: str | None  # why that check could not run (the search still stands)


_ANSWERS: OrderedDict[tuple[Any, ...], QueryAnswer] = OrderedDict()
_ANSWERS_LOCK = threading.Lock()
#: Queries remembered per process: each answer holds a small JPEG and one embedding, not the picture.
ANSWERS_KEPT = 16


def _answer_key(b: Bundle, query_id: str) -> tuple[Any, ...]:
    stamps = tuple(_stamp(b.checkpoint_dir(role)) for role in ("classifier", "encoder"))
    return (bundle_key(b), gate_stamp(b), *stamps, query_id)


def remembered_answer(b: Bundle, query_id: str) -> QueryAnswer | None:
    """The answer :func:`answer_query` gave for ``query_id`` on this bundle and these checkpoints, if it
    is still remembered: a rerun of the Similar page (another neighbour count, a click in the grid)
    neither decodes nor classifies the picture again."""
    try:
        k = _answer_key(b, query_id)
    except BundleError:
        return None
    with _ANSWERS_LOCK:
        ans = _ANSWERS.get(k)
        if ans is not None:
            _ANSWERS.move_to_end(k)
        return ans


def answer_query(b: Bundle, query_id: str, img: Any) -> QueryAnswer:
    """Classify and embed ``img`` (a decoded RGB picture), check whether it is the same picture as a
    reference painting, and remember the answer under ``query_id`` (``upload:<digest of its bytes>`` or
    ``painting:<row>``). Raises what :func:`classify_and_embed` raises; nothing is remembered then, nor
    when the same-picture check could not run (the next run tries it again)."""
    import io

    from .pairs import upload_same_picture

    k = _answer_key(
        b, query_id
    )  # before classifying: new weights meanwhile make a new key, not a stale answer
    labels, emb, gated = classify_and_embed(b, img)
    same: tuple[Any, ...] = ()
    problem = None
    try:
        same = tuple(upload_same_picture(b, img))
    except ArtExtractError as exc:  # an unreadable layout file: the search still stands
        problem = str(exc)
    shown = img.copy()
    shown.thumbnail((QUERY_SHOWN_PX, QUERY_SHOWN_PX))
    buf = io.BytesIO()
    shown.save(buf, "JPEG", quality=90)
    ans = QueryAnswer(buf.getvalue(), labels, emb, gated, same, problem)
    if problem:
        return ans
    with _ANSWERS_LOCK:
        _ANSWERS[k] = ans
        _ANSWERS.move_to_end(k)
        while len(_ANSWERS) > ANSWERS_KEPT:
            _ANSWERS.popitem(last=False)
    return ans


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
