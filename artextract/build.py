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


def _key(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


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
    progress: bool,
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
    res = embedder.embed_paths([paths[i] for i in rows], progress=progress and rank == 0)
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


def encode_labels(values: pd.Series, classes: list[str]) -> np.ndarray:
    """Catalog labels -> class indices of a head; empty or unknown -> -1 (masked)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup.get(v, -1) for v in values], dtype=np.int64)


def build_bundle(cfg: BuildConfig, log: Log = print) -> BuildReport:
    """Build (or bring up to date) the artifact bundle described by ``cfg``."""
    from .analysis.index import VectorIndex
    from .analysis.metrics import classification_metrics
    from .analysis.outliers import knn_graph, recall_at_top, score_outliers
    from .nets.checkpoint import checkpoint_files, checkpoint_hash, read_card
    from .predict import l2_normalize

    t0 = time.perf_counter()
    out = Path(cfg.out).resolve()
    rank, world = _dist()
    report = BuildReport(out=out)

    catalog = read_catalog(cfg.collection)
    cat_file = catalog_path(cfg.collection)
    cat_sha = sha256_file(cat_file)
    card = read_card(cfg.classifier)
    cls_sha = checkpoint_hash(cfg.classifier)
    classes: dict[str, list[str]] = {a: card["heads"][a] for a in card["heads"]}
    ref_catalog = read_catalog(cfg.reference) if cfg.reference else None
    if (cfg.reference is None) != (cfg.encoder is None):
        raise BundleError("give both --reference and --encoder (or neither) to build the similarity index")

    old: dict[str, Any] = {}
    if (out / MANIFEST).is_file() and not cfg.force:
        try:
            old = json.loads((out / MANIFEST).read_text())
        except json.JSONDecodeError:
            old = {}
    old_stages: dict[str, Any] = old.get("stages", {}) if old.get("format") == FORMAT else {}

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "complete": False,
        "name": cfg.name or Path(cfg.collection).resolve().name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
        "collection": {"path": _rel(out, Path(cfg.collection)), "catalog_sha256": cat_sha, "n": len(catalog)},
        "checkpoints": {
            "classifier": {
                "weights": _rel(out, checkpoint_files(cfg.classifier)[0]),
                "sha256": cls_sha,
                "arch": card["arch"],
            }
        },
        "classes": classes,
        "params": {
            "k": cfg.k,
            "seed": cfg.seed,
            "precision": cfg.precision,
            "projections": list(cfg.projections),
        },
        "stages": dict(old_stages),
    }

    def checkpoint_entry(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        c = read_card(path)
        return c, {
            "weights": _rel(out, checkpoint_files(path)[0]),
            "sha256": checkpoint_hash(path),
            "arch": c["arch"],
        }

    if cfg.encoder is not None:
        _, manifest["checkpoints"]["encoder"] = checkpoint_entry(cfg.encoder)
        manifest["reference"] = {
            "path": _rel(out, Path(cfg.reference)),
            "catalog_sha256": sha256_file(catalog_path(cfg.reference)),
            "n": len(ref_catalog),
        }
    if cfg.evidence is not None:
        ev_card, manifest["checkpoints"]["evidence"] = checkpoint_entry(cfg.evidence)
    stages = manifest["stages"]

    def fresh(stage: str, key: str, files: list[str]) -> bool:
        st = old_stages.get(stage)
        ok = st is not None and st.get("key") == key and all((out / f).exists() for f in files)
        if ok:
            report.skipped.append(stage)
            log(f"[build] {stage}: up to date")
        return ok

    def done(stage: str, key: str, files: list[str], started: float) -> None:
        stages[stage] = {"key": key, "files": files, "seconds": round(time.perf_counter() - started, 2)}
        report.ran.append(stage)
        log(f"[build] {stage}: done in {stages[stage]['seconds']:.1f}s")
        write_json_atomic(out / MANIFEST, manifest)

    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / MANIFEST, manifest)  # complete: false until the end

    # ---------------------------------------------------------------- classify: embeddings + probabilities
    coll_dir = catalog_path(cfg.collection).parent
    img_fp = images_fingerprint(coll_dir, catalog["image"]) if rank == 0 else ""
    k_classify = _key("classify", cat_sha, img_fp, cls_sha, cfg.precision)
    files = ["embeddings.npy", "kept.npy", *[f"probs_{a}.npy" for a in classes]]
    skip = fresh("classify", k_classify, files) if rank == 0 else False
    if world > 1:  # every rank must agree whether to embed
        import torch
        import torch.distributed as dist

        flag = torch.tensor([int(skip)])
        dist.broadcast(flag, 0)
        skip = bool(flag.item())
    if not skip:
        started = time.perf_counter()
        log(f"[build] classify: embedding {len(catalog)} paintings with {card['arch']}")
        paths = confined_paths(coll_dir, catalog)
        merged = embed_catalog(
            Path(cfg.classifier),
            paths,
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            progress=cfg.progress,
            shard_dir=out / "shards",
        )
        if rank != 0:
            return report
        emb, probs, failed = merged
        kept = np.array(sorted(set(range(len(catalog))) - set(failed)), dtype=np.int64)
        if len(kept) < 3:
            raise BundleError(f"only {len(kept)} readable image(s) in {cfg.collection}; need at least 3")
        _save_npy(out / "embeddings.npy", emb[kept].astype(np.float32))
        _save_npy(out / "kept.npy", kept)
        for a in classes:
            _save_npy(out / f"probs_{a}.npy", probs[a][kept].astype(np.float32))
        manifest["dropped"] = {catalog["id"].iloc[i]: msg for i, msg in failed.items()}
        done("classify", k_classify, files, started)
    elif rank != 0:
        return report
    else:
        manifest["dropped"] = old.get("dropped", {})
    report.dropped = manifest["dropped"]

    kept = np.load(out / "kept.npy")
    items = catalog.iloc[kept].reset_index(drop=True)
    emb = np.load(out / "embeddings.npy")
    probs = {a: np.load(out / f"probs_{a}.npy") for a in classes}
    labels = {
        a: encode_labels(items[a], classes[a]) if a in items else np.full(len(items), -1) for a in classes
    }
    unit = l2_normalize(emb)

    # ---------------------------------------------------------------- neighbours within the collection
    k_nb = _key("neighbours", k_classify, cfg.k, 2)
    nb_files = ["neighbours.npy", "neighbour_sims.npy"]
    if not fresh("neighbours", k_nb, nb_files):
        started = time.perf_counter()
        k = min(cfg.k, len(items) - 1)
        # exact (so reproducible) up to outliers.EXACT_MAX paintings, hnswlib above; self excluded
        ids, sims = knn_graph(unit, k, seed=cfg.seed)
        nb = np.full((len(items), cfg.k), -1, dtype=np.int64)
        nbs = np.zeros((len(items), cfg.k), dtype=np.float32)
        nb[:, :k], nbs[:, :k] = ids, sims
        _save_npy(out / "neighbours.npy", nb)
        _save_npy(out / "neighbour_sims.npy", nbs)
        done("neighbours", k_nb, nb_files, started)

    # ---------------------------------------------------------------- projections
    proj_files: dict[str, str] = {}
    for method in cfg.projections:
        from .analysis import projection

        fn = {"umap": projection.umap_2d, "tsne": projection.tsne_2d}.get(method)
        if fn is None:
            raise BundleError(f"unknown projection {method!r}; choose from umap, tsne")
        k_p = _key(method, k_classify, cfg.seed, 2)  # bump when projection defaults change
        f = f"{method}.npy"
        proj_files[method] = f
        if not fresh(method, k_p, [f]):
            started = time.perf_counter()
            log(f"[build] {method}: projecting {len(items)} embeddings")
            _save_npy(out / f, np.asarray(fn(unit, seed=cfg.seed), dtype=np.float32))
            done(method, k_p, [f], started)

    def embed_here(ckpt: Path, root: Path, rows: pd.DataFrame) -> tuple:
        """Embed a catalog's images on this rank alone (after the classify stage the others are done)."""
        return embed_catalog(
            ckpt,
            confined_paths(root, rows),
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            progress=cfg.progress,
            shard_dir=out / "shards",
            distributed=False,
        )

    # ---------------------------------------------------------------- evidence embeddings (label-free)
    k_ev = ""
    if cfg.evidence is not None:
        k_ev = _key("evidence", k_classify, manifest["checkpoints"]["evidence"]["sha256"], cfg.precision)
        if not fresh("evidence", k_ev, ["evidence.npy"]):
            started = time.perf_counter()
            log(f"[build] evidence: embedding {len(items)} paintings with the label-free {ev_card['arch']}")
            e_emb, _, e_failed = embed_here(Path(cfg.evidence), coll_dir, items)
            if e_failed:  # read once already, so this is rare: such a row borrows the mean embedding
                rows = sorted(e_failed)
                e_emb[rows] = e_emb[np.setdiff1d(np.arange(len(items)), rows)].mean(0)
            _save_npy(out / "evidence.npy", e_emb.astype(np.float32))
            done("evidence", k_ev, ["evidence.npy"], started)

    # ---------------------------------------------------------------- outliers
    # Label evidence comes from heads that never saw the painting's label (K-fold cross-fitting), over
    # embeddings learnt without labels when an evidence encoder is given: a classifier that memorised a
    # wrong catalog label would otherwise agree with it (analysis/crossfit.py).
    if cfg.outlier_labels not in ("crossfit", "classifier"):
        raise BundleError(f"outlier_labels must be 'crossfit' or 'classifier'; got {cfg.outlier_labels!r}")
    own = cfg.outlier_labels == "classifier"
    k_out = _key("outliers", k_classify, "" if own else k_ev, cfg.outlier_labels, cfg.k, cfg.seed, 4)
    if not fresh("outliers", k_out, ["outliers.parquet"]):
        from .analysis.crossfit import crossfit_probs

        started = time.perf_counter()
        if cfg.evidence is not None and not own:
            ev, ev_nb = np.load(out / "evidence.npy"), None
        else:
            ev, ev_nb = emb, np.load(out / "neighbours.npy")
        held_out = probs if own else crossfit_probs(ev, labels, classes, folds=5, seed=cfg.seed)
        scores = score_outliers(ev, labels, held_out, classes, k=cfg.k, seed=cfg.seed, neighbours=ev_nb)
        _save_parquet(out / "outliers.parquet", scores)
        done("outliers", k_out, ["outliers.parquet"], started)
    if own:
        manifest["outlier_evidence"] = (
            "the classifier's own predictions and embedding, declared out-of-sample: it never trained on "
            "these paintings (--outlier-labels classifier)"
        )
    elif cfg.evidence is not None:
        manifest["outlier_evidence"] = (
            f"5-fold cross-fitted logistic heads and neighbours over the label-free {ev_card['arch']} embedding"
        )
    else:
        manifest["outlier_evidence"] = (
            "5-fold cross-fitted logistic heads and neighbours over the classifier's embedding "
            "(which may have learnt the labels of paintings it trained on)"
        )
    scores = pd.read_parquet(out / "outliers.parquet")
    # the top share of scores, but never a score of 0: with few paintings standing out (an unlabelled
    # collection scored on density alone) the quantile can be 0, which would flag everything
    threshold = max(float(np.quantile(scores["outlier_score"], 1.0 - cfg.outlier_top_frac)), 1e-6)
    manifest["outlier_threshold"] = threshold

    # ---------------------------------------------------------------- metrics (validation split)
    # the planted-outlier recall reads the outlier scores (and the truth file), so both are in the key
    truth = coll_dir / "outliers_truth.csv"
    truth_sha = sha256_file(truth) if truth.is_file() else ""
    k_m = _key("metrics", k_classify, k_out, truth_sha, 3)
    if not fresh("metrics", k_m, ["metrics.json"]):
        started = time.perf_counter()
        metrics: dict[str, Any] = {}
        val = (items["split"] == "val").to_numpy()
        split = "val" if val.any() else "all"
        if not val.any():
            val = np.ones(len(items), bool)
        for a in classes:
            m = classification_metrics(labels[a][val], probs[a][val], classes[a])
            m["split"] = split
            metrics[a] = m
        if truth.is_file():  # evaluation only: the demo's planted outliers
            planted = set(pd.read_csv(truth, dtype=str)["id"])
            mask = items["id"].isin(planted).to_numpy()
            metrics["planted_outliers"] = {
                "n": int(mask.sum()),
                "recall_at_top5pct": float(recall_at_top(scores["outlier_score"].to_numpy(), mask, 0.05)),
            }
        write_json_atomic(out / "metrics.json", metrics)
        done("metrics", k_m, ["metrics.json"], started)

    # ---------------------------------------------------------------- reference collection index
    if cfg.encoder is not None:
        ref_dir = catalog_path(cfg.reference).parent
        k_ref = _key(
            "reference",
            manifest["reference"]["catalog_sha256"],
            images_fingerprint(ref_dir, ref_catalog["image"]),
            2,  # bump when the reference stage changes
            manifest["checkpoints"]["encoder"]["sha256"],
            cfg.precision,
        )
        ref_files = ["reference/items.parquet", "reference/embeddings.npy", "reference/index"]
        if not fresh("reference", k_ref, ref_files):
            started = time.perf_counter()
            log(f"[build] reference: embedding {len(ref_catalog)} reference paintings")
            # on rank 0 alone: under torchrun the other ranks have finished after the classify stage
            r_emb, _, r_failed = embed_here(Path(cfg.encoder), ref_dir, ref_catalog)
            r_kept = np.array(sorted(set(range(len(ref_catalog))) - set(r_failed)), dtype=np.int64)
            r_unit = l2_normalize(r_emb[r_kept])
            (out / "reference").mkdir(exist_ok=True)
            _save_parquet(out / "reference/items.parquet", ref_catalog.iloc[r_kept].reset_index(drop=True))
            _save_npy(out / "reference/embeddings.npy", r_unit)
            VectorIndex.build(r_unit).save(out / "reference/index")
            manifest["reference"]["dropped"] = {ref_catalog["id"].iloc[i]: m for i, m in r_failed.items()}
            manifest["retrieval"] = retrieval_precision(
                r_unit, ref_catalog.iloc[r_kept].reset_index(drop=True), k=10
            )
            done("reference", k_ref, ref_files, started)
        else:
            manifest["retrieval"] = old.get("retrieval", {})
            manifest["reference"]["dropped"] = old.get("reference", {}).get("dropped", {})

    # ---------------------------------------------------------------- items table (cheap, always)
    table = items.copy()
    for a in classes:
        p = probs[a]
        pred = p.argmax(1)
        table[f"pred_{a}"] = np.asarray(classes[a], dtype=object)[pred]
        table[f"conf_{a}"] = p.max(1).astype(np.float32)
        lab = labels[a]
        table[f"correct_{a}"] = np.where(lab < 0, "", np.where(lab == pred, "yes", "no"))
    for method, f in proj_files.items():
        xy = np.load(out / f)
        table[f"{method}_x"], table[f"{method}_y"] = xy[:, 0], xy[:, 1]
    table = pd.concat([table, scores.reset_index(drop=True)], axis=1)
    table["flagged"] = table["outlier_score"] >= threshold
    _save_parquet(out / "items.parquet", table)

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
