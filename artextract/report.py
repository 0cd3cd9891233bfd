"""``artextract report``: the released models measured on a held-out split, against what a user could do instead.

Classification (per head: top-1, macro-F1, per-class recall, chance and majority) on every labelled
painting of the collection's ``val`` split, for

* each classifier checkpoint given (the released RLA model, the plain-MobileNetV2 ablation, ...), through
  the same inference path as the app (:class:`artextract.infer.Embedder`);
* a logistic-regression probe on frozen ImageNet features (fitted on the train split's features,
  standardised, ``C`` fixed at 1.0 so that no val data chooses anything).

Paired differences: each further model (the ablation, the probe) against the first classifier, per
head, on the same val paintings: the top-1 difference with its 95% interval and McNemar's exact test on
the paintings exactly one of the two gets right, so a gap of a few paintings is not read as a finding.

Retrieval: leave-one-out precision@k among the val paintings (cosine, exact) for same style, same artist
and same genre, for each embedding given (ImageNet features, the classifier's embedding, BYOL), with
the precision a random ranking would get.

Writes ``<out>.json`` and ``<out>.md``. Needs the real data (``artextract data wikiart``); nothing here
runs in the app.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .analysis.metrics import classification_metrics
from .catalog import ATTRIBUTES, image_path, read_catalog
from .errors import ArtExtractError
from .fileio import write_json_atomic, write_text_atomic
from .labels import encode_labels


def _paths(root: Path, rows: pd.DataFrame) -> list[Path]:
    return [image_path(root, p) for p in rows["image"]]


def imagenet_embedder(weights: str | Path, input_size: int, precision: str = "auto"):
    """Frozen ImageNet MobileNetV2 features (1280-d) through the app's inference path."""
    from .infer import Embedder
    from .nets.checkpoint import init_from_imagenet
    from .nets.registry import create_model, model_info

    model = create_model("mobilenetv2", heads={})
    init_from_imagenet(model, weights)
    info = model_info("mobilenetv2")
    card = {"input_size": input_size, "mean": info["mean"], "std": info["std"], "heads": {}}
    return Embedder(model.eval(), card, precision=precision, batch_size=64)


PROBE = "logistic probe on frozen ImageNet features"


def head_report(y: np.ndarray, probs: np.ndarray, classes: list[str]) -> dict[str, Any]:
    m = classification_metrics(y, probs, classes)
    return {
        "n": m["n"],
        "top1": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "chance": m["chance"]["uniform"],
        "majority": m["chance"]["majority"],
        "recall": {pc["class"]: pc["recall"] for pc in m["per_class"] if pc["support"] > 0},
    }


def paired_difference(ref_correct: np.ndarray, other_correct: np.ndarray) -> dict[str, Any]:
    """``other`` against ``ref`` on the same paintings (boolean arrays: got it right).

    ``diff``: top-1 of other minus ref, with a 95% Wald interval for paired proportions; ``ref_only`` and
    ``other_only``: paintings only one of them gets right; ``p``: McNemar's exact two-sided test on those.
    """
    from scipy.stats import binomtest

    a = np.asarray(ref_correct, bool)
    b = np.asarray(other_correct, bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("paired_difference needs two equal, non-empty arrays")
    n = a.size
    ref_only, other_only = int((a & ~b).sum()), int((~a & b).sum())
    diff = (other_only - ref_only) / n
    se = np.sqrt(max(ref_only + other_only - n * diff**2, 0.0)) / n
    discordant = ref_only + other_only
    p = binomtest(other_only, discordant, 0.5).pvalue if discordant else 1.0
    return {
        "n": n,
        "diff": diff,
        "ci95": [diff - 1.96 * se, diff + 1.96 * se],
        "ref_only": ref_only,
        "other_only": other_only,
        "p": float(p),
    }


def _score(
    val: pd.DataFrame, probs: dict[str, np.ndarray], heads: dict[str, list[str]]
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Per head: the figures of :func:`head_report`, and right-or-not per labelled val painting (for
    the paired comparison)."""
    rows, correct = {}, {}
    for h, c in heads.items():
        y = encode_labels(val[h], c)
        rows[h] = head_report(y, probs[h], c)
        correct[h] = probs[h][y >= 0].argmax(1) == y[y >= 0]
    return rows, correct


def logistic_probe(
    train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, classes: list[str], seed: int = 0
) -> np.ndarray:
    """Probabilities [N_val, C] from a standardised multinomial logistic regression (C = 1.0)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    keep = train_y >= 0
    scaler = StandardScaler().fit(train_x[keep])
    clf = LogisticRegression(C=1.0, max_iter=300, random_state=seed)
    clf.fit(scaler.transform(train_x[keep]), train_y[keep])
    out = np.zeros((len(val_x), len(classes)), np.float32)
    out[:, clf.classes_] = clf.predict_proba(scaler.transform(val_x))
    return out


def retrieval(emb: np.ndarray, rows: pd.DataFrame, k: int = 10) -> dict[str, float]:
    """Leave-one-out precision@k (exact cosine) per attribute among the rows labelled for it."""
    import torch

    from .analysis.index import cosine_topk

    unit = torch.nn.functional.normalize(torch.as_tensor(emb, dtype=torch.float32), dim=1).numpy()
    out: dict[str, float] = {}
    for a in ATTRIBUTES:
        lab = rows[a].to_numpy()
        idx = np.flatnonzero(lab != "")
        if len(idx) <= k:
            continue
        u = unit[idx]
        nb, _ = cosine_topk(u, u, k, exclude=np.arange(len(u)))  # a painting is not its own neighbour
        la = lab[idx]
        out[a] = float((la[nb] == la[:, None]).mean())
    return out


def random_precision(rows: pd.DataFrame) -> dict[str, float]:
    """Expected precision of a random ranking: sum over classes of p_c^2 among the labelled rows."""
    out = {}
    for a in ATTRIBUTES:
        lab = rows[a][rows[a] != ""]
        if len(lab):
            p = lab.value_counts(normalize=True).to_numpy()
            out[a] = float((p**2).sum())
    return out


def run_report(
    collection: str | Path,
    *,
    classifiers: dict[str, str | Path],
    encoders: dict[str, str | Path],
    imagenet_weights: str | Path | None,
    input_size: int = 128,
    k: int = 10,
    out: str | Path = "results/wikiart",
    progress: bool = True,
    log=print,
) -> dict[str, Any]:
    from .predict import load_embedder

    root = Path(collection)
    cat = read_catalog(root)
    val = cat[cat["split"] == "val"].reset_index(drop=True)
    train = cat[cat["split"] == "train"].reset_index(drop=True)
    if val.empty or train.empty:
        raise ArtExtractError(f"{root}: the report needs train and val rows")
    val_paths = _paths(root, val)
    result: dict[str, Any] = {"collection": str(root), "n_val": len(val), "n_train": len(train), "k": k}
    cls_rows: dict[str, Any] = {}
    correct: dict[str, dict[str, np.ndarray]] = {}  # model -> head -> right or not, per labelled painting
    classes_of: dict[str, dict[str, list[str]]] = {}  # model -> head -> its classes (which paintings count)
    embeddings: dict[str, np.ndarray] = {}
    heads: dict[str, list[str]] = {}
    for name, ckpt in classifiers.items():
        emb = load_embedder(ckpt)
        log(f"report: {name}: classifying {len(val)} val paintings")
        res = emb.embed_paths(val_paths, progress=progress)
        heads = heads or emb.card["heads"]
        cls_rows[name], correct[name] = _score(val, res.probs, emb.card["heads"])
        classes_of[name] = dict(emb.card["heads"])
        embeddings[f"{name} embedding"] = res.embeddings
    if imagenet_weights:
        emb = imagenet_embedder(imagenet_weights, input_size)
        log(f"report: ImageNet features of {len(train)} train + {len(val)} val paintings")
        tr = emb.embed_paths(_paths(root, train), progress=progress).embeddings
        va = emb.embed_paths(val_paths, progress=progress).embeddings
        embeddings["ImageNet MobileNetV2 (frozen)"] = va
        if heads:
            probe = {}
            for h, c in heads.items():
                log(f"report: logistic probe, {h}")
                probe[h] = logistic_probe(tr, encode_labels(train[h], c), va, c)
            cls_rows[PROBE], correct[PROBE] = _score(val, probe, heads)
            classes_of[PROBE] = dict(heads)
    for name, ckpt in encoders.items():
        emb = load_embedder(ckpt)
        log(f"report: {name}: embedding {len(val)} val paintings")
        embeddings[name] = emb.embed_paths(val_paths, progress=progress).embeddings
    result["classification"] = cls_rows
    if len(correct) > 1:
        ref, *others = correct
        result["paired"] = {
            "reference": ref,
            "models": {
                o: {
                    h: paired_difference(correct[ref][h], correct[o][h])
                    for h in correct[ref]
                    if set(classes_of[o].get(h, [])) == set(classes_of[ref][h])  # the same paintings count
                }
                for o in others
            },
        }
    result["retrieval"] = {name: retrieval(e, val, k) for name, e in embeddings.items()}
    result["retrieval_random"] = random_precision(val)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out.with_suffix(".json"), result)
    write_text_atomic(out.with_suffix(".md"), to_markdown(result))
    return result


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _f(x: float | None) -> str:
    return "" if x is None else f"{x:.3f}"


def to_markdown(r: dict[str, Any]) -> str:
    lines = [f"# Held-out report: {r['n_val']} val paintings of {Path(r['collection']).name}", ""]
    if r.get("classification"):
        lines += ["## Classification (val split; nothing here chose a model)", ""]
        lines += [
            "| model | head | n | top-1 | macro-F1 | chance | majority |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for name, hs in r["classification"].items():
            for h, m in hs.items():
                lines.append(
                    f"| {name} | {h} | {m['n']} | {_f(m['top1'])} | {_f(m['macro_f1'])} | "
                    f"{_f(m['chance'])} | {_f(m['majority'])} |"
                )
        lines += ["", "Per-class recall:", ""]
        for name, hs in r["classification"].items():
            for h, m in hs.items():
                rec = ", ".join(f"{c} {v:.2f}" for c, v in m["recall"].items())
                lines.append(f"- {name}, {h}: {rec}")
        lines.append("")
    if r.get("paired"):
        ref = r["paired"]["reference"]
        lines += [f"## Paired differences against {ref} (the same val paintings)", ""]
        lines += [
            "| model | head | top-1 difference | 95% interval | right only with this model / only with the reference | McNemar p |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for name, hs in r["paired"]["models"].items():
            for h, d in hs.items():
                lo, hi = d["ci95"]
                lines.append(
                    f"| {name} | {h} | {d['diff']:+.3f} | {lo:+.3f} to {hi:+.3f} | "
                    f"{d['other_only']} / {d['ref_only']} | {_p(d['p'])} |"
                )
        lines.append("")
    k = r["k"]
    lines += [f"## Retrieval: leave-one-out precision@{k} among val paintings", ""]
    lines += ["| embedding | same style | same artist | same genre |", "|---|---:|---:|---:|"]
    rows = {**r["retrieval"], "random ranking": r["retrieval_random"]}
    for name, p in rows.items():
        lines.append(f"| {name} | {_f(p.get('style'))} | {_f(p.get('artist'))} | {_f(p.get('genre'))} |")
    return "\n".join(lines) + "\n"


def sample_metrics(checkpoint: str | Path, collection: str | Path) -> dict[str, Any]:
    """Per-head top-1/macro-F1 of a classifier on a (labelled) collection, through the app's path."""
    from .predict import load_embedder

    root = Path(collection)
    cat = read_catalog(root)
    emb = load_embedder(checkpoint)
    res = emb.embed_paths(_paths(root, cat), progress=False)
    out = {}
    for h, c in emb.card["heads"].items():
        m = head_report(encode_labels(cat[h], c), res.probs[h], c)
        out[h] = {"n": m["n"], "top1": m["top1"], "macro_f1": m["macro_f1"]}
    return out


def sample_retrieval(checkpoint: str | Path, collection: str | Path, k: int = 10) -> dict[str, Any]:
    """Leave-one-out precision@k per attribute of an encoder's embedding on a (labelled) collection."""
    from .predict import load_embedder

    root = Path(collection)
    cat = read_catalog(root)
    res = load_embedder(checkpoint).embed_paths(_paths(root, cat), progress=False)
    return {"k": k, **{f"precision_at_{k}_same_{a}": p for a, p in retrieval(res.embeddings, cat, k).items()}}


def load(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def release(run_dir: str | Path, dest: str | Path, *, sample: str | Path | None = None) -> dict[str, Any]:
    """Copy a training run's release (weights, card, log, curves) to ``dest``; a classifier's card gets its
    figures on the committed sample (``sample_metrics``), which the tests check the checkpoint against.
    With ``run_dir`` the release folder itself, nothing is copied: the card's sample figures are measured
    again (after the sample changed); the weights and their hash stay as they are."""
    import shutil

    from .nets.checkpoint import CARD_NAME, WEIGHTS_NAME, load_checkpoint

    run_dir, dest = Path(run_dir), Path(dest)
    load_checkpoint(run_dir)  # refuses a mismatched or altered checkpoint before anything is copied
    dest.mkdir(parents=True, exist_ok=True)
    if run_dir.resolve() != dest.resolve():
        for name in (WEIGHTS_NAME, CARD_NAME, "log.jsonl", "curves.png"):
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, dest / name)
    card = json.loads((dest / CARD_NAME).read_text(encoding="utf-8"))
    if sample is not None and card.get("heads"):
        card["sample_metrics"] = {"collection": Path(sample).as_posix(), **sample_metrics(dest, sample)}
    elif sample is not None:
        card["sample_retrieval"] = {"collection": Path(sample).as_posix(), **sample_retrieval(dest, sample)}
    write_json_atomic(dest / CARD_NAME, card)
    return card


def export_imagenet_encoder(weights: str | Path, dest: str | Path, *, input_size: int = 128) -> Path:
    """The frozen ImageNet MobileNetV2 as an encoder checkpoint (for when it retrieves best)."""
    from .fileio import sha256_file
    from .nets.checkpoint import init_from_imagenet, save_checkpoint
    from .nets.registry import create_model, model_info

    model = create_model("mobilenetv2", heads={})
    init_from_imagenet(model, weights)
    info = model_info("mobilenetv2")
    card = {
        "arch": "mobilenetv2", "arch_kwargs": {}, "heads": {}, "kind": "encoder", "input_size": input_size,
        "crop_pct": 1.0, "mean": info["mean"], "std": info["std"],
        "train_data": {"source": "ImageNet weights, not trained here", "weights_sha256": sha256_file(weights)},
        "training": {"trainer": "none (frozen ImageNet features)", "wall_s": 0.0},
    }  # fmt: skip
    return save_checkpoint(dest, model.eval(), card)
