"""Catalog labels as class indices (the one encoder used by training, the bundle build and the report) and
as a curator reads them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


def encode_labels(values: Iterable[str], classes: Sequence[str]) -> np.ndarray:
    """``[N]`` int64 indices of ``values`` in ``classes``; ``-1`` for an empty value or a class outside them."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) for v in values], dtype=np.int64)


#: class names whose spelling is not just underscores for spaces: the ArtGAN style and artist classes as
#: WikiArt and the museums write them (accents, hyphens, brackets)
_PRETTY = {
    "Ukiyo_e": "Ukiyo-e",
    "Naive_Art_Primitivism": "Naïve Art (Primitivism)",
    "Mannerism_Late_Renaissance": "Mannerism (Late Renaissance)",
    "Post_Impressionism": "Post-Impressionism",
    "Action_painting": "Action Painting",
    "Albrecht_Durer": "Albrecht Dürer",
    "Eugene_Boudin": "Eugène Boudin",
    "Gustave_Dore": "Gustave Doré",
    "Paul_Cezanne": "Paul Cézanne",
    "Pierre_Auguste_Renoir": "Pierre-Auguste Renoir",
    "Salvador_Dali": "Salvador Dalí",
}


def pretty_label(label: str) -> str:
    """A class name as a curator reads it: ``Pop_Art`` -> ``Pop Art``, ``Paul_Cezanne`` -> ``Paul Cézanne``."""
    label = str(label)
    return _PRETTY.get(label, label.replace("_", " "))
