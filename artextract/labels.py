"""Catalog labels as class indices: the one encoder used by training, the bundle build and the report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def encode_labels(values: Iterable[str], classes: Sequence[str]) -> np.ndarray:
    """``[N]`` int64 indices of ``values`` in ``classes``; ``-1`` for an empty value or a class outside them."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) for v in values], dtype=np.int64)
