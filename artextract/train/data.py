"""Catalog datasets, label vocabularies, augmentations and a resumable sharding sampler.

- Labels: each attribute's vocabulary comes from the *train* rows; a painting whose value is empty
  (or, in val, a class never seen in train) gets ``-1`` and is masked out of that head's loss and metrics.
- :class:`CatalogImages` decodes catalog images through :func:`artextract.images.load_image`, shrinks
  them once to the working size and optionally keeps them in memory (small collections: the demo's
  1600 images at 128 px take ~60 MB), then applies a torchvision v2 transform to a uint8 ``[3, H, W]``.
- :class:`ShardSampler` gives each rank its own shard of a per-epoch permutation that depends only on
  ``(seed, epoch)``, so a run resumed mid-epoch sees exactly the batches it had not seen yet.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler

from ..catalog import ATTRIBUTES, catalog_path, image_path, label_vocab, read_catalog
from ..errors import CatalogError, UnknownNameError
from ..labels import encode_labels


# ---------------------------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class LabelledSplit:
    """Train and validation rows of a catalog with integer labels per head (``-1`` = masked)."""

    train: pd.DataFrame
    val: pd.DataFrame
    heads: dict[str, list[str]]  # attribute -> class names (from the train rows)
    y_train: np.ndarray  # [N_train, H] int64
    y_val: np.ndarray  # [N_val, H] int64
    val_source: str  # "split column" or "held out <frac> of train (no val rows)"


def label_matrix(df: pd.DataFrame, heads: dict[str, list[str]]) -> np.ndarray:
    """``[N, H]`` int64 class indices, ``-1`` for an empty value or a class outside the vocabulary."""
    out = np.full((len(df), len(heads)), -1, dtype=np.int64)
    for j, (attr, classes) in enumerate(heads.items()):
        out[:, j] = encode_labels(df[attr].astype(str), classes)
    return out


def split_catalog(
    df: pd.DataFrame,
    attributes: Sequence[str] = ATTRIBUTES,
    *,
    min_classes: int = 2,
    holdout: float = 0.1,
    seed: int = 0,
) -> LabelledSplit:
    """Train/val rows and label matrices; heads only for attributes with ``>= min_classes`` train classes.

    Rows with ``split == "val"`` are the validation set; when there are none, a seeded ``holdout``
    fraction of the train rows (and of rows with an empty split) is held out instead, and said so.
    """
    bad = [a for a in attributes if a not in ATTRIBUTES]
    if bad:
        raise UnknownNameError(f"unknown attribute(s) {bad}; valid: {', '.join(ATTRIBUTES)}")
    train = df[df["split"] == "train"]
    val = df[df["split"] == "val"]
    source = "split column"
    if len(val) == 0:
        pool = df[df["split"] != "val"]
        if len(pool) < 2:
            raise CatalogError(f"catalog has {len(pool)} painting(s); training needs at least 2")
        rng = np.random.default_rng(seed)
        n_val = max(1, round(holdout * len(pool)))
        val_idx = set(rng.choice(len(pool), size=n_val, replace=False).tolist())
        is_val = np.array([i in val_idx for i in range(len(pool))])
        train, val = pool[~is_val], pool[is_val]
        source = f"held out {holdout:.0%} of the paintings (the catalog has no val rows)"
    elif len(train) == 0:
        raise CatalogError("catalog has val rows but no train rows; mark training paintings split=train")
    heads = {}
    for attr in attributes:
        classes = label_vocab(train, attr)
        if len(classes) >= min_classes:
            heads[attr] = classes
    if not heads:
        raise CatalogError(
            f"no attribute among {', '.join(attributes)} has >= {min_classes} classes in the train rows; "
            "nothing to classify"
        )
    train, val = train.reset_index(drop=True), val.reset_index(drop=True)
    return LabelledSplit(train, val, heads, label_matrix(train, heads), label_matrix(val, heads), source)


def subsample(split: LabelledSplit, max_train: int = 0, max_val: int = 0, seed: int = 0) -> LabelledSplit:
    """A seeded random subset of at most ``max_train`` train and ``max_val`` val rows (0 = all)."""
    rng = np.random.default_rng(seed)

    def pick(n: int, k: int) -> np.ndarray:
        return np.arange(n) if not k or k >= n else np.sort(rng.choice(n, size=k, replace=False))

    ti, vi = pick(len(split.train), max_train), pick(len(split.val), max_val)
    return LabelledSplit(
        split.train.iloc[ti].reset_index(drop=True),
        split.val.iloc[vi].reset_index(drop=True),
        split.heads,
        split.y_train[ti],
        split.y_val[vi],
        split.val_source + (f"; random subset of {len(vi)}" if len(vi) < len(split.val) else ""),
    )


def carve_selection(
    split: LabelledSplit, n: int, seed: int = 0
) -> tuple[LabelledSplit, pd.DataFrame, np.ndarray]:
    """Move a seeded random ``n`` of the train rows into a *selection* set (checkpoint choice only).

    Returns (split without those rows, selection rows, their labels). The val rows are untouched, so
    figures reported on val never come from data that chose the model.
    """
    if n <= 0:
        raise CatalogError(f"selection size must be >= 1, got {n}")
    if n >= len(split.train):
        raise CatalogError(f"selection size {n} leaves no train rows (train has {len(split.train)})")
    rng = np.random.default_rng(seed + 7919)
    sel = np.zeros(len(split.train), dtype=bool)
    sel[rng.choice(len(split.train), size=n, replace=False)] = True
    rest = LabelledSplit(
        split.train[~sel].reset_index(drop=True),
        split.val,
        split.heads,
        split.y_train[~sel],
        split.y_val,
        split.val_source,
    )
    return rest, split.train[sel].reset_index(drop=True), split.y_train[sel]


def class_weights(y: np.ndarray, num_classes: int, mode: str) -> torch.Tensor | None:
    """Per-class loss weights from train counts: ``none``, ``inverse`` (1/n) or ``sqrt`` (1/sqrt n), mean 1."""
    if mode == "none":
        return None
    if mode not in ("inverse", "sqrt"):
        raise UnknownNameError(f"unknown class weighting {mode!r}; valid: none, inverse, sqrt")
    counts = np.bincount(y[y >= 0], minlength=num_classes).astype(np.float64)
    counts = np.maximum(counts, 1.0)
    w = 1.0 / counts if mode == "inverse" else 1.0 / np.sqrt(counts)
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def balanced_sample_weights(y: np.ndarray) -> np.ndarray:
    """Per-painting sampling weights giving every class of one head equal mass (unlabelled: the mean)."""
    w = np.zeros(len(y), dtype=np.float64)
    labelled = y >= 0
    counts = np.bincount(y[labelled])
    w[labelled] = 1.0 / counts[y[labelled]]
    w[~labelled] = w[labelled].mean() if labelled.any() else 1.0
    return w / w.sum()


# ---------------------------------------------------------------------------------------------- images
def to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


class CatalogImages(Dataset):
    """Images of catalog rows as ``(transform(uint8 [3, H, W]), labels [H] int64)``.

    Args:
        collection: the collection folder (``image`` paths are relative to it).
        rows: catalog rows to serve.
        labels: ``[N, H]`` label matrix (``None`` -> an empty ``[0]`` tensor per item, e.g. for BYOL).
        load_size: shorter side the decoded image is shrunk to before the transform.
        transform: callable on a uint8 ``[3, H, W]`` tensor.
        cache: keep the shrunk images in memory after the first read (use for small collections).
        workers: threads used to fill the cache up front (``preload``).
    """

    def __init__(
        self,
        collection: Path,
        rows: pd.DataFrame,
        *,
        labels: np.ndarray | None,
        load_size: int,
        transform: Callable[[torch.Tensor], Any],
        cache: bool = False,
    ) -> None:
        self.collection = Path(collection)
        self.paths = [image_path(self.collection, p) for p in rows["image"]]
        self.ids = list(rows["id"])
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise CatalogError(
                f"{len(missing)} of {len(self.paths)} catalog image(s) are missing, e.g. {', '.join(missing[:3])}; "
                "re-run the source command or drop those rows"
            )
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.int64)
        self.load_size = int(load_size)
        self.transform = transform
        self._cache: list[torch.Tensor | None] | None = [None] * len(self.paths) if cache else None

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, i: int) -> torch.Tensor:
        from ..images import load_image, shrink

        return to_uint8_tensor(shrink(load_image(self.paths[i]), self.load_size))

    def image(self, i: int) -> torch.Tensor:
        """The shrunk uint8 image ``i`` (from the cache when enabled)."""
        if self._cache is None:
            return self._read(i)
        if self._cache[i] is None:
            self._cache[i] = self._read(i)
        return self._cache[i]

    def preload(self, workers: int = 2, indices: Sequence[int] | None = None) -> None:
        """Fill the cache in a thread pool (Pillow decodes without holding the GIL)."""
        if self._cache is None:
            return
        todo = [i for i in (range(len(self)) if indices is None else indices) if self._cache[i] is None]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            for i, img in zip(todo, pool.map(self._read, todo), strict=True):
                self._cache[i] = img

    def __getitem__(self, i: int) -> tuple[Any, torch.Tensor]:
        x = self.transform(self.image(i))
        y = self.labels[i] if self.labels is not None else torch.zeros(0, dtype=torch.int64)
        return x, y


# --------------------------------------------------------------------------------------- augmentations
def classifier_transforms(
    image_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    min_scale: float = 0.35,
    color_jitter: float = 0.0,
    crop_pct: float = 1.0,
) -> tuple[Callable, Callable]:
    """(train, eval) torchvision v2 pipelines on uint8 ``[3, H, W]`` tensors.

    Train: random resized crop (area ``min_scale``-1, aspect 3/4-4/3), horizontal flip, optional colour
    jitter (off by default: palette is evidence of the artist), float + normalise. Eval: shorter side to
    ``image_size / crop_pct``, centre crop, as :class:`artextract.infer.Embedder` does with the card's
    ``crop_pct``.
    """
    from torchvision.transforms import InterpolationMode, v2

    # bicubic, as the Embedder resizes at inference: no train/serve skew in the resampling
    bicubic = InterpolationMode.BICUBIC
    norm = [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean=list(mean), std=list(std))]
    train = [
        v2.RandomResizedCrop(image_size, scale=(min_scale, 1.0), interpolation=bicubic, antialias=True),
        v2.RandomHorizontalFlip(),
    ]
    if color_jitter > 0:
        cj = color_jitter
        train.append(v2.RandomApply([v2.ColorJitter(cj, cj, cj / 2, min(cj / 4, 0.5))], p=0.8))
    resize_to = max(image_size, round(image_size / crop_pct))
    evaluation = [v2.Resize(resize_to, interpolation=bicubic, antialias=True), v2.CenterCrop(image_size)]
    return v2.Compose(train + norm), v2.Compose(evaluation + norm)


class TwoViews:
    """BYOL's pair of differently augmented views of one image."""

    def __init__(self, first: Callable, second: Callable) -> None:
        self.first, self.second = first, second

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.first(x), self.second(x)


# ------------------------------------------------------------------------------------------- sampling
class ShardSampler(Sampler[int]):
    """Per-rank shard of a ``(seed, epoch)``-determined order, resumable from a position in the epoch.

    Args:
        n: dataset size.
        num_replicas, rank: world size and this process's rank.
        shuffle: permute each epoch (train) or keep catalog order (eval).
        seed: base seed; the order of epoch ``e`` uses ``seed + e``.
        weights: optional per-item sampling weights (balanced sampling, with replacement).
        pad: repeat items so every rank gets the same count (needed for DDP training; not for eval,
            where each item is counted once).
    """

    def __init__(
        self,
        n: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        weights: np.ndarray | None = None,
        pad: bool = True,
    ) -> None:
        if n < 1:
            raise ValueError("cannot sample from an empty dataset")
        self.n, self.num_replicas, self.rank = n, num_replicas, rank
        self.shuffle, self.seed, self.pad = shuffle, seed, pad
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch's order; skip this rank's first ``start`` items (resume mid-epoch)."""
        self.epoch, self.start = epoch, start

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is not None:
            order = torch.multinomial(self.weights, self.n, replacement=True, generator=g).tolist()
        elif self.shuffle:
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.pad and self.num_replicas > 1:
            total = -(-self.n // self.num_replicas) * self.num_replicas
            order += order[: total - len(order)]
        return order[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self._order()[self.start :])

    def __len__(self) -> int:
        per_rank = (
            -(-self.n // self.num_replicas) if self.pad else len(range(self.rank, self.n, self.num_replicas))
        )
        return max(per_rank - self.start, 0)

    def per_rank(self) -> int:
        """Items this rank sees in a whole epoch."""
        return (
            -(-self.n // self.num_replicas) if self.pad else len(range(self.rank, self.n, self.num_replicas))
        )


def load_collection(collection: str | Path) -> tuple[Path, pd.DataFrame]:
    """(collection folder, validated catalog)."""
    root = catalog_path(collection).parent
    return root, read_catalog(collection)


def split_as_trained(
    collection: str | Path,
    train_data: dict[str, Any] | None,
    *,
    attributes: Sequence[str] = ATTRIBUTES,
    selection_size: int | None = None,
    seed: int = 0,
) -> tuple[Path, LabelledSplit, pd.DataFrame, np.ndarray]:
    """The split a checkpoint's trainer made, rebuilt: (collection folder, train/val split without the
    selection set, selection rows, their labels).

    ``train_data`` is the card's: its catalog hash and its train / selection / val counts must match
    (one-line :class:`CatalogError` otherwise), so that the selection set is the very one that chose the
    checkpoint. ``selection_size`` defaults to the card's.
    """
    from ..fileio import sha256_file

    want = dict(train_data or {})
    root, catalog = load_collection(collection)
    if want.get("catalog_sha256") and want["catalog_sha256"] != sha256_file(catalog_path(root)):
        raise CatalogError(
            f"{collection}: not the catalog the checkpoint was trained on (its card names another "
            "catalog_sha256); the selection set would differ"
        )
    n_sel = selection_size if selection_size is not None else want.get("n_selection")
    if not n_sel:
        raise CatalogError("the checkpoint's card names no selection set carved out of train")
    split = split_catalog(catalog, attributes, seed=seed)
    rest, sel_rows, y_sel = carve_selection(split, int(n_sel), seed)
    got = {"n_train": len(rest.train), "n_selection": len(sel_rows), "n_val": len(split.val)}
    if any(want.get(k) not in (None, v) for k, v in got.items()):
        raise CatalogError(
            "this split gives {} train / {} selection / {} val paintings; the checkpoint was trained on "
            "{} / {} / {}: use its collection, selection size and seed".format(
                *got.values(), *(want.get(k) for k in got)
            )
        )
    return root, rest, sel_rows, y_sel
