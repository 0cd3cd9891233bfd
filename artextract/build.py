"""``artextract build``: embed -> predict -> project -> outliers -> metrics -> reference index.

Every stage has a key: a hash of everything it depends on (catalog and checkpoint hashes, parameters,
upstream keys). A stage whose key matches the manifest of the existing bundle is skipped, so changing
only the t-SNE seed recomputes only t-SNE, and a new classifier recomputes everything downstream of it.

The manifest is rewritten with ``complete: false`` before any file changes and ``complete: true`` only
after the last one, so the app never shows a half-built bundle. Every file is written atomically.

Under ``torchrun`` the embedding stages run with one shard of the catalog per rank (rows ``rank::world``);
rank 0 merges the shards and runs the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .bundle import FORMAT, MANIFEST
from .catalog import ATTRIBUTES, catalog_path, read_catalog
from .errors import BundleError
from .fileio import atomic_path, sha256_file, write_json_atomic
from .labels import encode_labels
from .stages import Event, Stage, TqdmEvents, run_stages

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuildConfig:
    """What to build. Paths are folders: a collection (with ``catalog.csv``) or a checkpoint."""

    collection: Path
    classifier: Path
    out: Path
    reference: Path | None = None
    encoder: Path | None = None
    # label-free encoder (e.g. BYOL) whose embeddings carry the outlier evidence; None = the classifier's
    evidence: Path | None = None
    # where label evidence comes from: "crossfit" (heads that never saw the painting's label) or
    # "classifier" (its own predictions: only for a collection it never trained on, e.g. the val sample)
    outlier_labels: str = "crossfit"
    name: str | None = None
    precision: str = "auto"  # auto | bf16 | fp32, see artextract.infer.resolve_precision
    batch_size: int = 64
    k: int = 10  # neighbours kept per painting (inspector "nearest paintings", outlier evidence)
    seed: int = 0
    projections: tuple[str, ...] = ("umap", "tsne")
    outlier_top_frac: float = 0.05  # default flag threshold: the top 5% of outlier scores
    force: bool = False
    progress: bool = True


@dataclass
class BuildReport:
    out: Path
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def summary_line(self) -> str:
        ran = ", ".join(self.ran) or "nothing (all stages up to date)"
        extra = f"; {len(self.dropped)} painting(s) skipped (unreadable images)" if self.dropped else ""
        return f"built {self.out} in {self.seconds:.1f}s: ran {ran}{extra}"


def images_fingerprint(collection_dir: Path, images: pd.Series) -> str:
    """Hash of every image's (path, size, mtime): a re-generated or re-downloaded image changes it.

    The catalog alone does not: ``artextract data demo --size 256`` or an NGA download at another size
    writes the very same catalog.csv. Missing files hash as missing (the build reports them).
    """
    from .catalog import image_path
    from .errors import CatalogError

    h = hashlib.sha256()
    for rel in images:
        try:
            st = os.stat(image_path(collection_dir, rel))
            h.update(f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
        except (OSError, CatalogError):
            h.update(f"{rel}\tmissing\n".encode())
    return h.hexdigest()[:20]


def confined_paths(collection_dir: Path, catalog: pd.DataFrame) -> list[Path]:
    """Every image of a catalog through :func:`artextract.catalog.image_path`; the first row that leads
    outside its collection folder stops the build with one line naming it."""
    from .catalog import image_path
    from .errors import CatalogError

    out = []
    for pid, rel in zip(catalog["id"], catalog["image"], strict=True):
        try:
            out.append(image_path(collection_dir, rel))
        except CatalogError as exc:
            raise CatalogError(f"{collection_dir}: row {pid!r}: {exc}") from None
    return out


def _rel(base: Path, p: Path) -> str:
    return os.path.relpath(Path(p).resolve(), base.resolve())


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr)


def _save_parquet(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"artextract": __version__, "python": platform.python_version()}
    for pkg in ("torch", "torchvision", "numpy", "scikit-learn", "umap-learn", "openTSNE", "hnswlib"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def _dist() -> tuple[int, int]:
    """(rank, world size) from torchrun's environment; initialises gloo when world > 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("gloo")
    return rank, world


def _barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def embed_catalog(
    checkpoint: Path,
    paths: list[Path],
    *,
    precision: str,
    batch_size: int,
    progress: bool | Callable[[int, int], None],
    shard_dir: Path,
    distributed: bool = True,
):
    """Embed ``paths`` (sharded across torchrun ranks unless ``distributed`` is False).

    Returns rank 0's merged result, else None.

    Result: ``(embeddings [N, D], probs {head: [N, C]}, failed {row: reason})``.
    """
    from .predict import load_embedder

    rank, world = _dist() if distributed else (0, 1)
    embedder = load_embedder(checkpoint, precision=precision, batch_size=batch_size)
    rows = np.arange(rank, len(paths), world)
    res = embedder.embed_paths([paths[i] for i in rows], progress=progress if rank == 0 else False)
    failed = {int(rows[i]): msg for i, msg in res.failed.items()}
    if world == 1:
        return res.embeddings, res.probs, failed
    shard_dir.mkdir(parents=True, exist_ok=True)
    shard = shard_dir / f"rank{rank}.npz"
    with atomic_path(shard) as tmp, open(tmp, "wb") as fh:
        np.savez(
            fh,
            rows=rows,
            emb=res.embeddings,
            failed=json.dumps(failed),
            **{f"p_{k}": v for k, v in res.probs.items()},
        )
    _barrier()
    if rank != 0:
        return None
    emb = None
    probs: dict[str, np.ndarray] = {}
    failed_all: dict[int, str] = {}
    for r in range(world):
        with np.load(shard_dir / f"rank{r}.npz") as z:
            if emb is None:
                emb = np.zeros((len(paths), z["emb"].shape[1]), np.float32)
            emb[z["rows"]] = z["emb"]
            for name in z.files:
                if name.startswith("p_"):
                    arr = probs.setdefault(name[2:], np.zeros((len(paths), z[name].shape[1]), np.float32))
                    arr[z["rows"]] = z[name]
            failed_all.update({int(k): v for k, v in json.loads(str(z["failed"])).items()})
    for r in range(world):
        (shard_dir / f"rank{r}.npz").unlink(missing_ok=True)
    return emb, probs, failed_all


class _Build:
    """What the stages share: the configuration, catalogs and cards, the manifest, and (after the
    classify stage) the embeddings, probabilities and labels read back from the bundle."""

    def __init__(self, cfg: BuildConfig, out: Path, rank: int) -> None:
        from .nets.checkpoint import checkpoint_hash, read_card

        self.cfg, self.out, self.rank = cfg, out, rank
        self.keys: dict[str, str] = {}
        self.catalog = read_catalog(cfg.collection)
        self.coll_dir = catalog_path(cfg.collection).parent
        self.cat_sha = sha256_file(catalog_path(cfg.collection))
        self.card = read_card(cfg.classifier)
        self.cls_sha = checkpoint_hash(cfg.classifier)
        self.classes: dict[str, list[str]] = {a: self.card["heads"][a] for a in self.card["heads"]}
        if (cfg.reference is None) != (cfg.encoder is None):
            raise BundleError(
                "give both --reference and --encoder (or neither) to build the similarity index"
            )
        self.ref_catalog = read_catalog(cfg.reference) if cfg.reference else None
        self.ref_dir = catalog_path(cfg.reference).parent if cfg.reference else None
        if cfg.outlier_labels not in ("crossfit", "classifier"):
            raise BundleError(
                f"outlier_labels must be 'crossfit' or 'classifier'; got {cfg.outlier_labels!r}"
            )
        for method in cfg.projections:
            if method not in PROJECTIONS:
                raise BundleError(f"unknown projection {method!r}; choose from {', '.join(PROJECTIONS)}")
        self.manifest: dict[str, Any] = {}
        self.ev_card: dict[str, Any] = {}
        self._loaded: dict[str, Any] = {}

    # ---- read back after the classify stage (cached; a stage that rewrites a file drops its entry)
    def _load(self, name: str, fn: Callable[[], Any]) -> Any:
        if name not in self._loaded:
            self._loaded[name] = fn()
        return self._loaded[name]

    @property
    def items(self) -> pd.DataFrame:
        return self._load(
            "items", lambda: self.catalog.iloc[np.load(self.out / "kept.npy")].reset_index(drop=True)
        )

    @property
    def emb(self) -> np.ndarray:
        return self._load("emb", lambda: np.load(self.out / "embeddings.npy"))

    @property
    def unit(self) -> np.ndarray:
        from .predict import l2_normalize

        return self._load("unit", lambda: l2_normalize(self.emb))

    @property
    def probs(self) -> dict[str, np.ndarray]:
        return self._load("probs", lambda: {a: np.load(self.out / f"probs_{a}.npy") for a in self.classes})

    @property
    def labels(self) -> dict[str, np.ndarray]:
        def enc() -> dict[str, np.ndarray]:
            it = self.items
            return {
                a: encode_labels(it[a], self.classes[a]) if a in it else np.full(len(it), -1)
                for a in self.classes
            }

        return self._load("labels", enc)

    @property
    def own_labels(self) -> bool:
        return self.cfg.outlier_labels == "classifier"

    def embed(self, ckpt: Path, root: Path, rows: pd.DataFrame, progress, distributed: bool = False):
        """Embed a catalog's images (on this rank alone unless ``distributed``)."""
        return embed_catalog(
            ckpt,
            confined_paths(root, rows),
            precision=self.cfg.precision,
            batch_size=self.cfg.batch_size,
            progress=progress,
            shard_dir=self.out / "shards",
            distributed=distributed,
        )


PROJECTIONS = ("umap", "tsne")


# ------------------------------------------------------------------------------------------- stages
def _classify(b: _Build, progress) -> None:
    merged = b.embed(Path(b.cfg.classifier), b.coll_dir, b.catalog, progress, distributed=True)
    if b.rank != 0:
        return
    emb, probs, failed = merged
    kept = np.array(sorted(set(range(len(b.catalog))) - set(failed)), dtype=np.int64)
    if len(kept) < 3:
        raise BundleError(f"only {len(kept)} readable image(s) in {b.cfg.collection}; need at least 3")
    _save_npy(b.out / "embeddings.npy", emb[kept].astype(np.float32))
    _save_npy(b.out / "kept.npy", kept)
    for a in b.classes:
        _save_npy(b.out / f"probs_{a}.npy", probs[a][kept].astype(np.float32))
    b.manifest["dropped"] = {b.catalog["id"].iloc[i]: msg for i, msg in failed.items()}
    b._loaded.clear()


def _neighbours(b: _Build, progress) -> None:
    from .analysis.outliers import knn_graph

    n, k_max = len(b.items), b.cfg.k
    k = min(k_max, n - 1)
    # exact (so reproducible) up to outliers.EXACT_MAX paintings, hnswlib above; self excluded
    ids, sims = knn_graph(b.unit, k, seed=b.cfg.seed)
    nb = np.full((n, k_max), -1, dtype=np.int64)
    nbs = np.zeros((n, k_max), dtype=np.float32)
    nb[:, :k], nbs[:, :k] = ids, sims
    _save_npy(b.out / "neighbours.npy", nb)
    _save_npy(b.out / "neighbour_sims.npy", nbs)


def _projection(method: str) -> Callable[[_Build, Any], None]:
    def run(b: _Build, progress) -> None:
        from .analysis import projection

        _save_npy(b.out / f"{method}.npy", projection.project_2d(b.unit, method, seed=b.cfg.seed))

    return run


def _evidence(b: _Build, progress) -> None:
    e_emb, _, e_failed = b.embed(Path(b.cfg.evidence), b.coll_dir, b.items, progress)
    if e_failed:  # read once already, so this is rare: such a row borrows the mean embedding
        rows = sorted(e_failed)
        e_emb[rows] = e_emb[np.setdiff1d(np.arange(len(b.items)), rows)].mean(0)
    _save_npy(b.out / "evidence.npy", e_emb.astype(np.float32))


def _outliers(b: _Build, progress) -> None:
    # Label evidence comes from heads that never saw the painting's label (K-fold cross-fitting), over
    # embeddings learnt without labels when an evidence encoder is given: a classifier that memorised a
    # wrong catalog label would otherwise agree with it (analysis/crossfit.py).
    from .analysis.crossfit import crossfit_probs
    from .analysis.outliers import score_outliers

    cfg = b.cfg
    if cfg.evidence is not None and not b.own_labels:
        ev, ev_nb = np.load(b.out / "evidence.npy"), None
    else:
        ev, ev_nb = b.emb, np.load(b.out / "neighbours.npy")
    held_out = (
        b.probs
        if b.own_labels
        else crossfit_probs(ev, b.labels, b.classes, folds=5, seed=cfg.seed, progress=progress)
    )
    scores = score_outliers(ev, b.labels, held_out, b.classes, k=cfg.k, seed=cfg.seed, neighbours=ev_nb)
    _save_parquet(b.out / "outliers.parquet", scores)


def _truth(b: _Build) -> Path:
    return b.coll_dir / "outliers_truth.csv"


def _metrics(b: _Build, progress) -> None:
    from .analysis.metrics import classification_metrics
    from .analysis.outliers import recall_at_top

    items, metrics = b.items, {}
    val = (items["split"] == "val").to_numpy()
    split = "val" if val.any() else "all"
    if not val.any():
        val = np.ones(len(items), bool)
    for a in b.classes:
        m = classification_metrics(b.labels[a][val], b.probs[a][val], b.classes[a])
        m["split"] = split
        metrics[a] = m
    if _truth(b).is_file():  # evaluation only: the demo's planted outliers
        scores = pd.read_parquet(b.out / "outliers.parquet")
        planted = set(pd.read_csv(_truth(b), dtype=str)["id"])
        mask = items["id"].isin(planted).to_numpy()
        metrics["planted_outliers"] = {
            "n": int(mask.sum()),
            "recall_at_top5pct": float(recall_at_top(scores["outlier_score"].to_numpy(), mask, 0.05)),
        }
    write_json_atomic(b.out / "metrics.json", metrics)


def _reference(b: _Build, progress) -> None:
    from .analysis.index import VectorIndex
    from .predict import l2_normalize

    ref, out = b.ref_catalog, b.out
    files = ["reference/items.parquet", "reference/embeddings.npy", "reference/index"]
    donor = _donor(out, "reference", b.keys["reference"], files)
    if donor is not None:  # another bundle indexed this very reference with this encoder: reuse it
        (out / "reference").mkdir(exist_ok=True)
        for f in files:
            if (donor.root / f).is_dir():  # the index folder; the stage is recorded only after this
                shutil.rmtree(out / f, ignore_errors=True)
                shutil.copytree(donor.root / f, out / f)
            else:
                with atomic_path(out / f) as tmp:
                    shutil.copy2(donor.root / f, tmp)
        b.manifest["reference"]["dropped"] = donor.manifest.get("reference", {}).get("dropped", {})
        b.manifest["retrieval"] = donor.manifest.get("retrieval", {})
        progress(1, 1)
        return
    # on rank 0 alone: under torchrun the other ranks have finished after the classify stage
    r_emb, _, r_failed = b.embed(Path(b.cfg.encoder), b.ref_dir, ref, progress)
    r_kept = np.array(sorted(set(range(len(ref))) - set(r_failed)), dtype=np.int64)
    r_unit = l2_normalize(r_emb[r_kept])
    kept_items = ref.iloc[r_kept].reset_index(drop=True)
    (out / "reference").mkdir(exist_ok=True)
    _save_parquet(out / "reference/items.parquet", kept_items)
    _save_npy(out / "reference/embeddings.npy", r_unit)
    VectorIndex.build(r_unit).save(out / "reference/index")
    b.manifest["reference"]["dropped"] = {ref["id"].iloc[i]: m for i, m in r_failed.items()}
    b.manifest["retrieval"] = retrieval_precision(r_unit, kept_items, k=10)


def _duplicates(b: _Build, progress) -> None:
    from .analysis.duplicates import describe_paths, duplicate_pairs, reference_pairs

    ref = b.ref_catalog if b.cfg.encoder is not None else None
    paths = confined_paths(b.coll_dir, b.items)
    ref_paths = (
        confined_paths(b.ref_dir, pd.read_parquet(b.out / "reference/items.parquet"))
        if ref is not None
        else []
    )
    total = len(paths) + len(ref_paths)
    desc, _ = describe_paths(paths, progress=lambda d, t: progress(d, total))
    pairs = duplicate_pairs(desc, seed=b.cfg.seed)
    _save_parquet(b.out / "duplicates.parquet", pairs)
    if ref is not None:
        ref_desc, _ = describe_paths(ref_paths, progress=lambda d, t: progress(len(paths) + d, total))
        _save_parquet(
            b.out / "reference/duplicates.parquet", reference_pairs(desc, ref_desc, seed=b.cfg.seed)
        )
        # kept for the Similar page: is an upload the same picture as a reference painting?
        _save_npy(b.out / "reference/layout.npy", ref_desc.astype(np.float16))
    b.manifest["duplicates"] = {
        "pairs": int(len(pairs)),
        "method": "layout thumbnails (artextract/analysis/duplicates.py), k-NN self-join",
    }


@dataclass
class _Donor:
    root: Path
    manifest: dict[str, Any]


def _donor(out: Path, stage: str, key: str, files: list[str]) -> _Donor | None:
    """A complete bundle beside ``out`` whose ``stage`` has the same key and files (same inputs, so the
    same result): the Collections page builds every import against the one reference collection."""
    for man in sorted(out.parent.glob("*/" + MANIFEST)):
        if man.parent.resolve() == out.resolve():
            continue
        try:
            m = json.loads(man.read_text())
        except (OSError, ValueError):
            continue
        st = m.get("stages", {}).get(stage, {})
        if m.get("complete") and st.get("key") == key and all((man.parent / f).exists() for f in files):
            return _Donor(man.parent, m)
    return None


def _sha_or_empty(path: Path) -> str:
    return sha256_file(path) if path.is_file() else ""


def _keys(b: _Build, *names: str) -> tuple[str, ...]:
    return tuple(b.keys[n] for n in names)


def _inference(precision: str) -> str:
    """What computes the embeddings for ``precision``, e.g. "onnx fp32" or "torch bf16": a stage's input,
    so a bundle is rebuilt when the runtime under it changes."""
    from .infer import resolve_precision, resolve_runtime

    runtime = resolve_runtime("auto", precision)
    return f"{runtime} {'fp32' if runtime == 'onnx' else resolve_precision(precision)}"


# Each stage: name, what its result depends on (upstream keys included), the files it writes, the
# function that writes them. The trailing integers are versions: bump one when a stage's code changes.
STAGES: list[Stage] = [
    Stage(
        "classify",
        inputs=lambda b: (
            b.cat_sha,
            images_fingerprint(b.coll_dir, b.catalog["image"]),
            b.cls_sha,
            _inference(b.cfg.precision),
        ),
        outputs=lambda b: ["embeddings.npy", "kept.npy", *[f"probs_{a}.npy" for a in b.classes]],
        run=_classify,
        carries=("dropped",),
        distributed=True,
        start_message=lambda b: f"embedding {len(b.catalog)} paintings with {b.card['arch']}",
    ),
    Stage(
        "neighbours",
        inputs=lambda b: (*_keys(b, "classify"), b.cfg.k, 2),
        outputs=lambda b: ["neighbours.npy", "neighbour_sims.npy"],
        run=_neighbours,
    ),
    *[
        Stage(
            method,
            inputs=lambda b: (*_keys(b, "classify"), b.cfg.seed, 2),
            outputs=lambda b, m=method: [f"{m}.npy"],
            run=_projection(method),
            enabled=lambda b, m=method: m in b.cfg.projections,
            start_message=lambda b: f"projecting {len(b.items)} embeddings",
        )
        for method in PROJECTIONS
    ],
    Stage(
        "evidence",
        inputs=lambda b: (
            *_keys(b, "classify"),
            b.manifest["checkpoints"]["evidence"]["sha256"],
            _inference(b.cfg.precision),
        ),
        outputs=lambda b: ["evidence.npy"],
        run=_evidence,
        enabled=lambda b: b.cfg.evidence is not None,
        start_message=lambda b: f"embedding {len(b.items)} paintings with the label-free {b.ev_card['arch']}",
    ),
    Stage(
        "outliers",
        inputs=lambda b: (
            b.keys["classify"],
            "" if b.own_labels else b.keys.get("evidence", ""),
            b.cfg.outlier_labels,
            b.cfg.k,
            b.cfg.seed,
            6,  # 6: reasons name classes as a curator reads them
        ),
        outputs=lambda b: ["outliers.parquet"],
        run=_outliers,
    ),
    Stage(
        "metrics",  # the planted-outlier recall reads the outlier scores and the truth file
        inputs=lambda b: (*_keys(b, "classify", "outliers"), _sha_or_empty(_truth(b)), 3),
        outputs=lambda b: ["metrics.json"],
        run=_metrics,
    ),
    Stage(
        "reference",
        inputs=lambda b: (
            b.manifest["reference"]["catalog_sha256"],
            images_fingerprint(b.ref_dir, b.ref_catalog["image"]),
            2,
            b.manifest["checkpoints"]["encoder"]["sha256"],
            _inference(b.cfg.precision),
        ),
        outputs=lambda b: ["reference/items.parquet", "reference/embeddings.npy", "reference/index"],
        run=_reference,
        enabled=lambda b: b.cfg.encoder is not None,
        carries=("retrieval", "reference.dropped"),
        start_message=lambda b: f"embedding {len(b.ref_catalog)} reference paintings",
    ),
    Stage(
        "duplicates",  # after the reference stage: pairs with the reference read its kept items
        inputs=lambda b: (b.keys["classify"], b.keys.get("reference", ""), 2),  # 2: + reference/layout.npy
        outputs=lambda b: [
            "duplicates.parquet",
            *(["reference/duplicates.parquet", "reference/layout.npy"] if b.cfg.encoder else []),
        ],
        run=_duplicates,
        carries=("duplicates",),
        start_message=lambda b: f"looking for near duplicates among {len(b.items)} paintings",
    ),
]


def _outlier_evidence(b: _Build) -> str:
    if b.own_labels:
        return (
            "the classifier's own predictions and embedding, declared out-of-sample: it never trained on "
            "these paintings (--outlier-labels classifier)"
        )
    if b.cfg.evidence is not None:
        return f"5-fold cross-fitted logistic heads and neighbours over the label-free {b.ev_card['arch']} embedding"
    return (
        "5-fold cross-fitted logistic heads and neighbours over the classifier's embedding "
        "(which may have learnt the labels of paintings it trained on)"
    )


def _items_table(b: _Build) -> None:
    """The table the app reads: catalog rows, predictions, projections, outlier scores (cheap, always)."""
    table = b.items.copy()
    for a in b.classes:
        p = b.probs[a]
        pred = p.argmax(1)
        table[f"pred_{a}"] = np.asarray(b.classes[a], dtype=object)[pred]
        table[f"conf_{a}"] = p.max(1).astype(np.float32)
        lab = b.labels[a]
        table[f"correct_{a}"] = np.where(lab < 0, "", np.where(lab == pred, "yes", "no"))
    for method in b.cfg.projections:
        xy = np.load(b.out / f"{method}.npy")
        table[f"{method}_x"], table[f"{method}_y"] = xy[:, 0], xy[:, 1]
    scores = pd.read_parquet(b.out / "outliers.parquet")
    # the top share of scores, but never a score of 0: with few paintings standing out (an unlabelled
    # collection scored on density alone) the quantile can be 0, which would flag everything
    threshold = max(float(np.quantile(scores["outlier_score"], 1.0 - b.cfg.outlier_top_frac)), 1e-6)
    b.manifest["outlier_threshold"] = threshold
    table = pd.concat([table, scores.reset_index(drop=True)], axis=1)
    table["flagged"] = table["outlier_score"] >= threshold
    _save_parquet(b.out / "items.parquet", table)


def build_bundle(
    cfg: BuildConfig,
    log: Log = print,
    *,
    on_event: Callable[[Event], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> BuildReport:
    """Build (or bring up to date) the artifact bundle described by ``cfg``.

    ``on_event`` receives every progress event (default: tqdm bars when ``cfg.progress``); ``cancel`` is
    polled throughout and stops the build with :class:`artextract.stages.BuildCancelled`.
    """
    from .nets.checkpoint import checkpoint_files, checkpoint_hash, read_card

    t0 = time.perf_counter()
    out = Path(cfg.out).resolve()
    rank, world = _dist()
    report = BuildReport(out=out)
    b = _Build(cfg, out, rank)

    old: dict[str, Any] = {}
    if (out / MANIFEST).is_file() and not cfg.force:
        try:
            old = json.loads((out / MANIFEST).read_text())
        except json.JSONDecodeError:
            old = {}
    if old.get("format") != FORMAT:
        old = {}

    def checkpoint_entry(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        c = read_card(path)
        return c, {
            "weights": _rel(out, checkpoint_files(path)[0]),
            "sha256": checkpoint_hash(path),
            "arch": c["arch"],
        }

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "complete": False,
        "name": cfg.name or Path(cfg.collection).resolve().name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "collection": {
            "path": _rel(out, Path(cfg.collection)),
            "catalog_sha256": b.cat_sha,
            "n": len(b.catalog),
        },
        "checkpoints": {"classifier": checkpoint_entry(cfg.classifier)[1]},
        "classes": b.classes,
        "params": {
            "k": cfg.k,
            "seed": cfg.seed,
            "precision": cfg.precision,
            "projections": list(cfg.projections),
        },
        "stages": {},
    }
    if cfg.encoder is not None:
        _, manifest["checkpoints"]["encoder"] = checkpoint_entry(cfg.encoder)
        manifest["reference"] = {
            "path": _rel(out, Path(cfg.reference)),
            "catalog_sha256": sha256_file(catalog_path(cfg.reference)),
            "n": len(b.ref_catalog),
        }
    if cfg.evidence is not None:
        b.ev_card, manifest["checkpoints"]["evidence"] = checkpoint_entry(cfg.evidence)
    b.manifest = manifest

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / MANIFEST, manifest)  # complete: false until the end
    bars = TqdmEvents() if on_event is None and cfg.progress and rank == 0 else None
    try:
        res = run_stages(
            STAGES,
            b,
            out=out,
            manifest=manifest,
            old=old,
            manifest_name=MANIFEST,
            log=log,
            on_event=on_event or bars,
            cancel=cancel,
            rank=rank,
            world=world,
        )
    finally:
        if bars is not None:
            bars.close()
    report.ran, report.skipped = res.ran, res.skipped
    if res.stopped:
        return report
    report.dropped = manifest.get("dropped", {})
    manifest["outlier_evidence"] = _outlier_evidence(b)
    _items_table(b)

    manifest["complete"] = True
    report.seconds = time.perf_counter() - t0
    manifest["build_seconds"] = round(report.seconds, 2)
    write_json_atomic(out / MANIFEST, manifest)
    return report


def retrieval_precision(unit: np.ndarray, items: pd.DataFrame, k: int = 10) -> dict[str, Any]:
    """Leave-one-out precision@k of cosine nearest neighbours: share of labelled neighbours with the
    query's label (``artextract evaluate`` measures the hnswlib index itself)."""
    if len(items) < 2:
        return {}
    from .analysis.metrics import neighbour_label_precision
    from .analysis.outliers import knn_graph

    k = min(k, len(items) - 1)
    nb, _ = knn_graph(unit, k)  # exact (reproducible) up to outliers.EXACT_MAX paintings

    labels = {a: items[a].to_numpy() for a in ("artist", "style", "genre") if a in items}
    precision = neighbour_label_precision(labels, np.arange(len(items)), nb)
    return {
        "k": k,
        "queries": int(len(items)),
        **{f"precision_at_{k}_same_{a}": p for a, p in precision.items()},
    }


__all__ = ["ATTRIBUTES", "BuildConfig", "BuildReport", "build_bundle", "retrieval_precision"]
