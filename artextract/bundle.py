"""The artifact bundle: everything the app shows, precomputed by ``artextract build``.

One folder per collection (``data/artifacts/<name>/``)::

    manifest.json          format, catalogs and checkpoints (by hash), stage keys, package versions
    items.parquet          one row per painting: catalog columns, predictions, 2-D coordinates,
                           outlier score and reasons
    embeddings.npy         classifier embeddings [N, D] float32
    probs_<attr>.npy       softmax per head [N, C]
    neighbours.npy         k nearest paintings in the collection [N, k] (row indices), -1 = none
    neighbour_sims.npy     their cosine similarities [N, k]
    metrics.json           per attribute: accuracy, top-5, macro-F1, confusion, per-class P/R (val split)
    reference/             the reference collection (NGA or the demo stand-in): items.parquet,
                           embeddings.npy (BYOL encoder, L2-normalised) and the hnswlib index

:func:`open_bundle` reads a bundle and refuses one whose manifest does not match the checkpoints or
catalogs on disk, naming what changed and the command that rebuilds it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .catalog import catalog_path
from .errors import BundleError
from .fileio import read_format_json, sha256_file

FORMAT = "artextract.bundle/1"
MANIFEST = "manifest.json"


def resolve_rel(base: Path, p: str) -> Path:
    """Manifest paths are stored relative to the bundle folder so a data folder can be moved."""
    q = Path(p)
    return q if q.is_absolute() else (base / q).resolve()


def read_manifest(root: str | Path) -> dict[str, Any]:
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(
            f"no artifact bundle at {root}; build one with 'artextract build' (or 'make demo' for the demo)"
        )
    manifest = read_format_json(path, FORMAT, BundleError, "rebuild with 'artextract build'")
    if not manifest.get("complete"):
        raise BundleError(f"{root}: the build did not finish; run 'artextract build' again")
    return manifest


def check_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Raise BundleError if a checkpoint or catalog named in the manifest changed or disappeared."""
    problems = []
    for role, ck in manifest.get("checkpoints", {}).items():
        weights = resolve_rel(root, ck["weights"])
        if not weights.is_file():
            problems.append(f"{role} checkpoint {weights} is missing")
        elif sha256_file(weights) != ck["sha256"]:
            problems.append(
                f"{role} checkpoint {weights} changed since the build "
                f"(bundle has {ck['sha256'][:12]}, file is {sha256_file(weights)[:12]})"
            )
    for role in ("collection", "reference"):
        col = manifest.get(role)
        if not col:
            continue
        cat = catalog_path(resolve_rel(root, col["path"]))
        if not cat.is_file():
            problems.append(f"{role} catalog {cat} is missing")
        elif sha256_file(cat) != col["catalog_sha256"]:
            problems.append(f"{role} catalog {cat} changed since the build")
    if problems:
        raise BundleError(
            "the artifact bundle does not match what is on disk: "
            + "; ".join(problems)
            + ". Rebuild it with 'artextract build' (the app will not show stale results)."
        )


@dataclass
class Reference:
    """The reference collection searched by the Similar page."""

    root: Path
    collection_dir: Path
    items: pd.DataFrame
    embeddings: np.ndarray
    index_dir: Path

    @cached_property
    def index(self):  # noqa: ANN201 - VectorIndex, imported lazily (hnswlib)
        from .analysis.index import VectorIndex

        return VectorIndex.load(self.index_dir)

    def search(self, query: np.ndarray, k: int = 10) -> pd.DataFrame:
        """Nearest reference paintings of one L2-normalised query embedding, best first."""
        k = max(1, min(int(k), len(self.items)))
        ids, sims = self.index.query(np.asarray(query, dtype=np.float32).reshape(1, -1), k)
        rows = self.items.iloc[ids[0]].copy()
        rows.insert(0, "score", sims[0].astype(float))
        rows.insert(0, "rank", np.arange(1, len(rows) + 1))
        return rows.reset_index(drop=True)

    def image_path(self, i: int) -> Path:
        from .catalog import image_path

        return image_path(self.collection_dir, str(self.items.iloc[i]["image"]))

    @cached_property
    def layout(self) -> np.ndarray | None:
        """The reference paintings' layout thumbnails (:mod:`artextract.analysis.duplicates`), row for row
        with ``items``; None in a bundle built before they were kept, or when they do not match."""
        f = self.root / "layout.npy"
        if not f.is_file():
            return None
        try:
            arr = np.load(f, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise BundleError(f"{f}: unreadable ({exc}); rebuild with 'artextract build'") from exc
        from .analysis.duplicates import CROPS, SIDE

        return arr if arr.shape == (len(self.items), len(CROPS), SIDE * SIDE) else None


@dataclass
class Bundle:
    """A verified artifact bundle, read-only. Row ``i`` of every array is row ``i`` of ``items``."""

    root: Path
    manifest: dict[str, Any]
    items: pd.DataFrame
    metrics: dict[str, Any]
    collection_dir: Path
    _probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _pairs: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def attributes(self) -> list[str]:
        """Attributes the classifier predicts (its heads), in head order."""
        return list(self.manifest["classes"].keys())

    @property
    def classes(self) -> dict[str, list[str]]:
        return self.manifest["classes"]

    @property
    def projections(self) -> list[str]:
        return [p for p in ("umap", "tsne") if f"{p}_x" in self.items.columns]

    @property
    def outlier_threshold(self) -> float:
        return float(self.manifest.get("outlier_threshold", 1.0))

    def probs(self, attr: str) -> np.ndarray:
        if attr not in self.classes:
            raise BundleError(f"no predictions for {attr!r}; this bundle has {', '.join(self.attributes)}")
        if attr not in self._probs:
            self._probs[attr] = np.load(self.root / f"probs_{attr}.npy", mmap_mode="r")
        return self._probs[attr]

    def top_k(self, i: int, attr: str, k: int = 3) -> list[tuple[str, float]]:
        p = np.asarray(self.probs(attr)[i], dtype=np.float64)
        order = np.argsort(-p)[:k]
        return [(self.classes[attr][j], float(p[j])) for j in order]

    @cached_property
    def neighbours(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.load(self.root / "neighbours.npy", mmap_mode="r"),
            np.load(self.root / "neighbour_sims.npy", mmap_mode="r"),
        )

    def neighbours_of(self, i: int, k: int = 10) -> list[tuple[int, float]]:
        idx, sims = self.neighbours
        return [(int(j), float(s)) for j, s in zip(idx[i][:k], sims[i][:k], strict=True) if j >= 0]

    def image_path(self, i: int) -> Path:
        from .catalog import image_path

        return image_path(self.collection_dir, str(self.items.iloc[i]["image"]))

    def row_of(self, painting_id: str) -> int:
        hits = np.flatnonzero(self.items["id"].to_numpy() == painting_id)
        if not len(hits):
            raise BundleError(f"no painting with id {painting_id!r} in {self.name}")
        return int(hits[0])

    @cached_property
    def reference(self) -> Reference | None:
        ref = self.manifest.get("reference")
        if not ref:
            return None
        rdir = self.root / "reference"
        return Reference(
            root=rdir,
            collection_dir=resolve_rel(self.root, ref["path"]),
            items=pd.read_parquet(rdir / "items.parquet"),
            embeddings=np.load(rdir / "embeddings.npy", mmap_mode="r"),
            index_dir=rdir / "index",
        )

    def duplicate_pairs(self, scope: str = "collection") -> pd.DataFrame | None:
        """Near-duplicate pairs built by ``artextract build``: ``(a, b, sim)`` within the collection
        (``scope="collection"``) or ``(a, ref, sim)`` against the reference; None if not built.
        Read once per bundle object (the app keeps one per bundle version); callers must not modify it."""
        if scope not in ("collection", "reference"):
            raise BundleError(f"unknown duplicate scope {scope!r}; use collection or reference")
        if scope not in self._pairs:
            f = self.root / (
                "duplicates.parquet" if scope == "collection" else "reference/duplicates.parquet"
            )
            try:
                self._pairs[scope] = pd.read_parquet(f) if f.is_file() else None
            except (OSError, ValueError) as exc:
                raise BundleError(f"{f}: unreadable ({exc}); rebuild with 'artextract build'") from exc
        return self._pairs[scope]

    def checkpoint_dir(self, role: str) -> Path:
        """Folder of the checkpoint the bundle was built with (``classifier`` or ``encoder``)."""
        ck = self.manifest["checkpoints"].get(role)
        if ck is None:
            raise BundleError(f"this bundle was built without a {role} checkpoint")
        return resolve_rel(self.root, ck["weights"]).parent


def open_bundle(root: str | Path, *, verify: bool = True) -> Bundle:
    """Open and (by default) verify a bundle against the checkpoints and catalogs on disk."""
    root = Path(root).resolve()
    manifest = read_manifest(root)
    if verify:
        check_manifest(root, manifest)
    try:
        items = pd.read_parquet(root / "items.parquet")
        metrics = json.loads((root / "metrics.json").read_text())
    except (OSError, ValueError) as exc:
        raise BundleError(
            f"{root}: bundle files unreadable ({exc}); rebuild with 'artextract build'"
        ) from exc
    return Bundle(
        root=root,
        manifest=manifest,
        items=items,
        metrics=metrics,
        collection_dir=resolve_rel(root, manifest["collection"]["path"]),
    )
