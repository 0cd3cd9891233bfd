"""Catalog labels as class indices (the one encoder used by training, the bundle build and the report) and
as a curator reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def encode_labels(values: Iterable[str], classes: Sequence[str]) -> np.ndarray:
    """``[N]`` int64 indices of ``values`` in ``classes``; ``-1`` for an empty value or a class outside them."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) for v in values], dtype=np.int64)


#: class names whose spelling is not just underscores for spaces
_PRETTY = {"Ukiyo_e": "Ukiyo-e"}


def pretty_label(label: str) -> str:
    """A class name as a curator reads it: ``Naive_Art_Primitivism`` -> ``Naive Art Primitivism``."""
    label = str(label)
    return _PRETTY.get(label, label.replace("_", " "))
