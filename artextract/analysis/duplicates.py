"""Near duplicates: the same work catalogued twice, versions and copies.

What makes two records the same work is the picture itself, framing and all, not its style: the
classifier's embedding puts every Pointillist beach near every other and finds only 3 of 30 planted
copies among its 50 most similar pairs (``scripts/planted_duplicates.py``). So a pair is scored on the
*layout* of the two images: each image gets greyscale 16x16 thumbnails of its whole frame and of its
central 90% and 80% (a copy cropped by up to ~20% lines up with one of them), mean-removed and
L2-normalised, which makes the score blind to re-encoding, resolution, brightness and contrast, and
nearly blind to a slight recolouring. The score of a pair is the best correlation over the 3 x 3 crop
combinations.

Candidates come from a k-nearest-neighbour self-join on the 90% thumbnails (exact up to
:data:`artextract.analysis.outliers.EXACT_MAX` paintings, hnswlib above, so it stays near-linear in N);
each painting proposes its ``k`` nearest others, every candidate is re-scored over the crops, and pairs at
or above ``min_sim`` are listed, most similar first. Between the collection and a reference collection,
each collection painting queries the reference's thumbnails the same way.

:func:`pair_difference` says how two images of a pair differ (crop, resolution, colour), for the curator
who decides "duplicate" or "distinct".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

#: Central crops described per image (share cut from every side).
CROPS = (0.0, 0.05, 0.10)
#: Thumbnail side in pixels.
SIDE = 16
#: Pairs below this score are not kept in the bundle (the page's slider starts higher).
MIN_SIM = 0.80
#: Neighbours proposed per painting.
K = 5


def central_crop(img, c: float):
    """``img`` with the share ``c`` of its width and height cut from every side (at least one pixel left)."""
    w, h = img.size
    return img.crop(
        (int(c * w), int(c * h), max(int(c * w) + 1, int((1 - c) * w)), max(int(c * h) + 1, int((1 - c) * h)))
    )


def layout_descriptor(img) -> np.ndarray:
    """``[len(CROPS), SIDE*SIDE]`` float32: one mean-removed, unit-norm grey thumbnail per central crop."""
    from PIL import Image

    g = img.convert("L")
    out = np.zeros((len(CROPS), SIDE * SIDE), np.float32)
    for i, c in enumerate(CROPS):
        t = np.asarray(central_crop(g, c).resize((SIDE, SIDE), Image.Resampling.BOX), np.float32).ravel()
        t -= t.mean()
        n = float(np.linalg.norm(t))
        out[i] = t / n if n > 1e-6 else 0.0  # a flat image matches nothing
    return out


def describe_paths(
    paths: Sequence[Path], *, progress: Callable[[int, int], None] | None = None, workers: int | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Layout descriptors of image files (decoded in a thread pool): ``([N, C, D], failed {row: reason})``.

    An unreadable image gets zeros (it pairs with nothing) and its reason."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ..errors import ArtExtractError
    from ..images import load_image

    out = np.zeros((len(paths), len(CROPS), SIDE * SIDE), np.float32)
    failed: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            out[i] = layout_descriptor(load_image(paths[i]))
        except ArtExtractError as exc:
            failed[i] = str(exc)
        except Exception as exc:  # one odd file never stops a build
            failed[i] = f"{paths[i]}: {type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        step = 256
        for s in range(0, len(paths), step):
            list(pool.map(one, range(s, min(s + step, len(paths)))))
            if progress is not None:
                progress(min(s + step, len(paths)), len(paths))
    return out, failed


def _rescore(da: np.ndarray, db: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Best correlation over the crop combinations of pairs ``da[p]``, ``db[p]`` (``[P, C, D]`` each)."""
    out = np.empty(len(da), np.float32)
    for s in range(0, len(da), chunk):
        m = np.einsum("pcd,ped->pce", da[s : s + chunk], db[s : s + chunk])
        out[s : s + chunk] = m.reshape(len(m), -1).max(1)
    return out


def _empty(cols: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {cols[0]: np.zeros(0, np.int64), cols[1]: np.zeros(0, np.int64), "sim": np.zeros(0, np.float32)}
    )


def duplicate_pairs(desc: np.ndarray, *, k: int = K, min_sim: float = MIN_SIM, seed: int = 0) -> pd.DataFrame:
    """Pairs ``(a, b, sim)`` with ``a < b`` (rows of ``desc``, from :func:`layout_descriptor`) and
    ``sim >= min_sim``, most similar first."""
    from .outliers import knn_graph

    n = len(desc)
    if n < 2:
        return _empty(("a", "b"))
    ids, _ = knn_graph(np.ascontiguousarray(desc[:, 1]), min(k, n - 1), seed=seed)
    a = np.repeat(np.arange(n, dtype=np.int64), ids.shape[1])
    b = ids.ravel().astype(np.int64)
    ok = (b >= 0) & (b != a)
    lo, hi = np.minimum(a, b)[ok], np.maximum(a, b)[ok]
    cand = np.unique(np.stack([lo, hi], 1), axis=0)
    if not len(cand):
        return _empty(("a", "b"))
    sim = _rescore(desc[cand[:, 0]], desc[cand[:, 1]])
    keep = sim >= min_sim
    df = pd.DataFrame({"a": cand[keep, 0], "b": cand[keep, 1], "sim": sim[keep]})
    return df.sort_values(["sim", "a", "b"], ascending=[False, True, True], kind="stable").reset_index(
        drop=True
    )


def reference_pairs(
    desc: np.ndarray, ref_desc: np.ndarray, *, k: int = 3, min_sim: float = MIN_SIM, seed: int = 0
) -> pd.DataFrame:
    """Pairs ``(a, ref, sim)``: collection row ``a`` and reference row ``ref``, most similar first."""
    from .index import VectorIndex, exact_knn
    from .outliers import EXACT_MAX

    if not len(desc) or not len(ref_desc):
        return _empty(("a", "ref"))
    k = min(k, len(ref_desc))
    q, base = np.ascontiguousarray(desc[:, 1]), np.ascontiguousarray(ref_desc[:, 1])
    if len(ref_desc) <= EXACT_MAX:
        ids, _ = exact_knn(base, q, k)
    else:
        ids, _ = VectorIndex.build(base, seed=seed).query(q, k)
    a = np.repeat(np.arange(len(desc), dtype=np.int64), k)
    r = ids.ravel().astype(np.int64)
    ok = r >= 0
    a, r = a[ok], r[ok]
    sim = _rescore(desc[a], ref_desc[r])
    keep = sim >= min_sim
    df = pd.DataFrame({"a": a[keep], "ref": r[keep], "sim": sim[keep]})
    return df.sort_values(["sim", "a", "ref"], ascending=[False, True, True], kind="stable").reset_index(
        drop=True
    )


#: The detail thumbnail: side (px) and the central share of the picture it covers.
DETAIL_SIDE, DETAIL_KEEP = 48, 0.6
#: Two pictures whose layouts match are the same picture from this detail agreement on (see
#: :func:`detail_descriptor`): on the sample's planted copies and real duplicates 0.44-1.00, on pairs
#: that only share a layout (similarity 0.90-0.92) at most 0.14 (``scripts/planted_duplicates.py``).
DETAIL_MIN = 0.30


def detail_descriptor(img) -> np.ndarray:
    """``[DETAIL_SIDE**2]`` float32, unit norm: the fine structure of the central 60% of the picture (a
    48 px grey thumbnail less its own blur). Two pictures that merely share a layout (two round portraits
    on dark corners, two etchings on pale paper) correlate near 0 here; the same picture re-encoded,
    rescaled, cropped or recoloured correlates well above :data:`DETAIL_MIN` (the figures:
    ``scripts/planted_duplicates.py``)."""
    from PIL import Image, ImageFilter

    g = central_crop(img.convert("L"), (1 - DETAIL_KEEP) / 2).resize(
        (DETAIL_SIDE, DETAIL_SIDE), Image.Resampling.BOX
    )
    a = np.asarray(g, np.float32) - np.asarray(g.filter(ImageFilter.GaussianBlur(3)), np.float32)
    a = a.ravel() - a.mean()
    return (a / max(float(np.linalg.norm(a)), 1e-6)).astype(np.float32)


def detail_agreement(img_a, img_b, crops: Sequence[float] = CROPS) -> float:
    """How well two pictures' fine structure agrees (:func:`detail_descriptor`), the best over the
    central crops of each (``crops``, as the layout score lines up a cropped copy)."""
    da = np.stack([detail_descriptor(central_crop(img_a, c)) for c in crops])
    db = np.stack([detail_descriptor(central_crop(img_b, c)) for c in crops])
    return float((da @ db.T).max())


#: The colour layout: side of the grid (cells) over the same central share as the detail thumbnail.
COLOUR_SIDE = 16
#: A picture whose chroma spreads less than this over that grid (CIE Lab a*/b*, root mean square about
#: its mean) has no colour layout to compare: an etching, a grisaille, a black-and-white photograph.
COLOUR_MIN_SPREAD = 2.5
#: Two colourful pictures are the same picture only when their colour layouts correlate this well (see
#: :func:`colour_agreement`). Chosen on the sample's uploads and WikiArt's val ones
#: (``scripts/same_picture_uploads.py``): the same pictures in colour among them agree at 0.56-0.99, the
#: one false match their layout and detail let through (a saturated sunset against a brown river valley)
#: at 0.24.
COLOUR_MIN = 0.40


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``[..., 3]`` sRGB in 0-1 to CIE Lab (D65)."""
    lin = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]], np.float32)
    xyz = lin @ m.T / np.array([0.9505, 1.0, 1.089], np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def colour_layout(img) -> np.ndarray:
    """``[2 * COLOUR_SIDE**2]`` float32: where the picture's colours lie, as the a* and b* chroma of the
    central :data:`DETAIL_KEEP` of it on a :data:`COLOUR_SIDE` grid, less their means (so a warmer,
    cooler or faded copy keeps the same layout). Not normalised: its spread says how colourful it is."""
    from PIL import Image

    c = central_crop(img.convert("RGB"), (1 - DETAIL_KEEP) / 2).resize(
        (COLOUR_SIDE, COLOUR_SIDE), Image.Resampling.BOX
    )
    ab = _srgb_to_lab(np.asarray(c, np.float32) / 255)[..., 1:].reshape(-1, 2)
    return (ab - ab.mean(0)).T.ravel().astype(np.float32)


def colour_agreement(img_a, img_b) -> float | None:
    """How well two pictures' colour layouts (:func:`colour_layout`) correlate: 1 when their colours lie
    in the same places, whatever the overall cast or saturation; about 0 or below when they lie
    elsewhere (a yellow sky over a red band against a brown landscape of the same grey layout). None when
    either picture has too little colour to say (:data:`COLOUR_MIN_SPREAD`)."""
    a, b = colour_layout(img_a), colour_layout(img_b)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    spread = np.sqrt(a.size)  # so that norm / spread is the rms of a* and b* about their means
    if min(na, nb) / spread < COLOUR_MIN_SPREAD:
        return None
    return float(a @ b / (na * nb))


def match_layouts(descs: np.ndarray, ref_desc: np.ndarray, *, k: int = 3) -> list[tuple[int, float]]:
    """The reference rows whose layout is nearest one picture's, tried as several framings (``descs``:
    ``[M, len(CROPS), D]``, each from :func:`layout_descriptor`): each framing proposes its ``k`` nearest
    by the 90% thumbnails (exact: one product over the reference), every candidate is re-scored over the
    crops like a pair, and each row keeps its best score. ``[(row, sim)]``, best first."""
    descs = np.asarray(descs, dtype=np.float32)
    n = len(ref_desc)
    if not n or not len(descs):
        return []
    coarse = (
        np.asarray(ref_desc[:, 1], dtype=np.float32) @ descs[:, 1].T
    )  # [N, M]; one pass over the reference
    k = min(k, n)
    best: dict[int, float] = {}
    for m in range(len(descs)):
        cand = np.argpartition(-coarse[:, m], k - 1)[:k]
        sim = _rescore(np.repeat(descs[m][None], len(cand), 0), np.asarray(ref_desc[cand], dtype=np.float32))
        for o, v in zip(cand.tolist(), sim.tolist(), strict=True):
            best[o] = max(v, best.get(o, -1.0))
    return sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))


def pair_key(id_a: str, id_b: str) -> str:
    """One key for a pair whatever its order (how the verdict on it is stored)."""
    x, y = sorted((str(id_a), str(id_b)))
    return f"{x} | {y}"


def pair_difference(img_a, img_b) -> dict[str, object]:
    """How image ``b`` differs from image ``a``: resolution, aspect (a crop changes it), the share of
    ``a`` that ``b`` shows (from aligning small greyscale thumbnails), colour shift and structural
    difference. PIL images in, plain numbers and a one-line summary out."""
    from PIL import Image

    wa, ha = img_a.size
    wb, hb = img_b.size
    aspect_a, aspect_b = wa / ha, wb / hb
    side = 64
    ga = np.asarray(img_a.convert("L").resize((side, side), Image.Resampling.BILINEAR), np.float32) / 255
    gb = np.asarray(img_b.convert("L").resize((side, side), Image.Resampling.BILINEAR), np.float32) / 255
    ca = np.asarray(img_a.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), np.float32).reshape(
        -1, 3
    )
    cb = np.asarray(img_b.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR), np.float32).reshape(
        -1, 3
    )
    mean_shift = (cb.mean(0) - ca.mean(0)).round(1)
    sat_a = (ca.max(1) - ca.min(1)).mean()
    sat_b = (cb.max(1) - cb.min(1)).mean()
    # correlation of the grey thumbnails (1 = same picture, same framing)
    za, zb = (ga - ga.mean()) / (ga.std() + 1e-6), (gb - gb.mean()) / (gb.std() + 1e-6)
    corr = float((za * zb).mean())
    area = (wb * hb) / max(wa * ha, 1)
    aspect_change = abs(np.log(aspect_b / aspect_a))
    notes = []
    if (wa, ha) != (wb, hb):
        notes.append(f"resolution {wa}×{ha} vs {wb}×{hb} ({area:.2f}× the pixels)")
    if aspect_change > 0.03:
        notes.append(f"aspect {aspect_a:.2f} vs {aspect_b:.2f}: cropped or reframed")
    if np.abs(mean_shift).max() > 6 or abs(sat_b - sat_a) > 6:
        notes.append(
            "colour shifted (mean RGB "
            + ", ".join(f"{v:+.0f}" for v in mean_shift)
            + f"; saturation {sat_a:.0f} vs {sat_b:.0f})"
        )
    if corr < 0.8:
        notes.append(f"composition differs (thumbnail correlation {corr:.2f})")
    detail = detail_agreement(img_a, img_b)
    if detail < DETAIL_MIN:
        notes.append(f"fine detail differs ({detail:.2f}): two pictures that share a layout?")
    colour = colour_agreement(img_a, img_b)
    if colour is not None and colour < COLOUR_MIN:
        notes.append(f"colours lie elsewhere ({colour:.2f}): two pictures that share a layout?")
    return {
        "size_a": (wa, ha),
        "size_b": (wb, hb),
        "pixel_ratio": float(area),
        "aspect_a": float(aspect_a),
        "aspect_b": float(aspect_b),
        "mean_rgb_shift": [float(v) for v in mean_shift],
        "saturation_a": float(sat_a),
        "saturation_b": float(sat_b),
        "thumbnail_correlation": corr,
        "detail_agreement": detail,
        "colour_agreement": colour,
        "summary": "; ".join(notes) if notes else "no visible difference at thumbnail scale",
    }


__all__ = [
    "COLOUR_MIN",
    "CROPS",
    "K",
    "MIN_SIM",
    "DETAIL_MIN",
    "colour_agreement",
    "colour_layout",
    "describe_paths",
    "detail_agreement",
    "detail_descriptor",
    "duplicate_pairs",
    "layout_descriptor",
    "pair_difference",
    "pair_key",
    "reference_pairs",
]
