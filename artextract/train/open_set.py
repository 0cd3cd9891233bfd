"""``python -m artextract.train open-set``: fit the open-set gate of a released classifier's head.

Usage::

    python -m artextract.train open-set --checkpoint models/rla_mobilenetv2-wikiart \\
        --collection data/wikiart --sample data/sample/collection --out results/wikiart-open-set

Embeds the collection's train paintings, the selection set the classifier's trainer carved out of them
(same size and seed, checked against the checkpoint's card) and the val split with the checkpoint; fits
the gate on train, chooses its ``C`` and threshold on the selection set (:mod:`artextract.analysis.open_set`),
reports val once, writes ``open_set.safetensors`` + ``open_set.json`` beside the checkpoint and
``<out>.md`` / ``<out>.json``. With ``--sample``, the gate's figures on that collection are stored too
(the tests check them).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..analysis.open_set import class_index, fit_gate, gate_figures, known_truth, save_gate
from ..errors import CatalogError
from ..fileio import write_json_atomic, write_text_atomic
from ..text import slugify


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m artextract.train open-set", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--checkpoint", required=True, help="the released classifier's folder")
    ap.add_argument("--collection", required=True, help="the collection it was trained on (train/val split)")
    ap.add_argument("--attribute", default="artist", help="the head to gate (default: artist)")
    ap.add_argument("--selection-size", type=int, default=500, help="as the classifier's trainer carved it")
    ap.add_argument("--seed", type=int, default=0, help="as the classifier's trainer used it")
    ap.add_argument("--sample", default="", help="also store the gate's figures on this collection")
    ap.add_argument("--out", default="results/wikiart-open-set", help="report path, without suffix")
    ap.add_argument(
        "--unseen",
        type=float,
        default=0.2,
        help="also score a gate refitted without this share of the other artists on their val paintings "
        "(artists it never saw; 0 to skip)",
    )
    ap.add_argument(
        "--sample-only",
        action="store_true",
        help="refit nothing: measure the gate stored beside the checkpoint on --sample again (after the "
        "sample changed) and update its figures there and in <out>.json/.md",
    )
    ap.add_argument("--cache", default="", help="keep the embeddings in this .npz and reuse them on a rerun")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def _embed(emb, root: Path, rows: pd.DataFrame, attribute: str, what: str, progress: bool, cache: dict):
    """(embeddings, probabilities of ``attribute``, rows) of the readable paintings; ``cache`` holds
    earlier results by set name and is used when it has exactly these paintings."""
    ids = rows["id"].astype(str).to_numpy()
    hit = cache.get(what)
    if hit is not None and np.array_equal(hit["ids"], ids):
        print(f"open-set: {len(rows):,} {what} paintings from the cache", flush=True)
        ok = hit["ok"]
    else:
        print(f"open-set: embedding {len(rows):,} {what} paintings", flush=True)
        res = emb.embed_paths([root / p for p in rows["image"]], progress=progress)
        ok = res.ok
        hit = {"ids": ids, "ok": ok, "emb": res.embeddings, "probs": res.probs[attribute]}
        cache[what] = hit
    return hit["emb"][ok], hit["probs"][ok], rows[ok].reset_index(drop=True)


def _load_cache(path: str) -> dict:
    if not path or not Path(path).is_file():
        return {}
    with np.load(path, allow_pickle=False) as z:
        names = {k.split("/", 1)[0] for k in z.files}
        return {n: {f: z[f"{n}/{f}"] for f in ("ids", "ok", "emb", "probs")} for n in names}


def _save_cache(path: str, cache: dict) -> None:
    if not path:
        return
    from ..fileio import atomic_path

    flat = {f"{n}/{f}": np.asarray(v[f]) for n, v in cache.items() for f in ("ids", "ok", "emb", "probs")}
    flat = {k: (v.astype(str) if v.dtype == object else v) for k, v in flat.items()}
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **flat)


def _artist_key(rows: pd.DataFrame, attribute: str) -> np.ndarray:
    """Who painted each row, as one normalised name (``<attribute>_name`` where given, else the label)."""
    name = rows[f"{attribute}_name"].fillna("").astype(str) if f"{attribute}_name" in rows else None
    label = rows[attribute].fillna("").astype(str) if attribute in rows else pd.Series([""] * len(rows))
    key = label if name is None else name.where(name != "", label)
    return key.map(slugify).to_numpy()


def _held_out(keys: np.ndarray, frac: float, seed: int) -> np.ndarray:
    """A seeded, name-hashed ``frac`` of the artists (by name, so every painting of one goes together)."""
    import hashlib

    def h(k: str) -> float:
        d = hashlib.blake2b(f"{seed}:{k}".encode(), digest_size=8).digest()
        return int.from_bytes(d, "big") / 2**64

    table = {k: h(k) < frac for k in set(keys.tolist())}
    return np.array([table[k] for k in keys], dtype=bool)


def unseen_artists(gate_args: dict, sets: dict, attribute: str, classes: list[str], frac: float, seed: int):
    """The gate's figures on paintings by artists it never saw: ``frac`` of the other artists (by name)
    are left out of its fit and its selection; a gate refitted by the same rule on the rest is scored
    on val paintings by the 16 and by those artists."""
    (xt, _, rt), (xs, _, rs), (xv, pv, rv) = sets["train"], sets["selection"], sets["val"]
    masks = {}
    for name, rows in (("train", rt), ("selection", rs), ("val", rv)):
        known, _ = known_truth(rows, attribute, classes)
        masks[name] = (known, _held_out(_artist_key(rows, attribute), frac, seed) & ~known)
    (kt, ht), (ks, hs), (kv, hv) = masks["train"], masks["selection"], masks["val"]
    gate = fit_gate(xt[~ht], kt[~ht], xs[~hs], ks[~hs], attribute=attribute, classes=classes, **gate_args)
    keep = kv | hv
    out = evaluate(gate, xv[keep], pv[keep], rv[keep].reset_index(drop=True))
    out.pop("per_style", None)
    out["held_out_artists"] = int(
        len(set(_artist_key(rv, attribute)[hv].tolist()) | set(_artist_key(rt, attribute)[ht].tolist()))
    )
    out["rule"] = (
        f"{frac:.0%} of the other artists (seeded hash of the name) left out of the fit and of the selection "
        "set; the gate refitted by the same rule on the rest; scored on val paintings by the known artists "
        "and by the left-out ones"
    )
    return out


def evaluate(gate, emb_x: np.ndarray, probs: np.ndarray, rows: pd.DataFrame) -> dict[str, Any]:
    """The gate's figures on labelled rows, with the head's top-1 before and after it, and per style."""
    classes = list(gate.classes)
    known, usable = known_truth(rows, gate.attribute, classes)
    cls = class_index(rows, gate.attribute, classes)
    p = gate.p_known(emb_x)
    correct = probs.argmax(1) == cls
    out = gate_figures(p[usable], known[usable], gate.threshold, correct[usable])
    if "style" in rows:
        per = {}
        for s, idx in rows[usable].groupby("style").groups.items():
            sub = np.asarray(list(idx))
            per[str(s) or "(no style label)"] = gate_figures(p[sub], known[sub], gate.threshold)
        out["per_style"] = per
    return out


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.3f}"


def to_markdown(r: dict[str, Any]) -> str:
    v, s = r["val"], r["selection"]
    lines = [
        f"# Open-set gate of the {r['attribute']} head (`{r['checkpoint']}`), held-out val",
        "",
        f"Command: `{r['command']}`",
        "",
        f"Is the painting by one of the {len(r['classes'])} {r['attribute']}s the head knows? {r['rule']}. "
        f"Chosen: C = {r['C']:g}, threshold {r['threshold']:.4f}. Fitted on {r['n_train']['known']:,} train "
        f"paintings by known and {r['n_train']['other']:,} by other {r['attribute']}s; val reported once.",
        "",
        "| set | paintings by known / other | AUROC | known let through | other stopped | "
        "top-1 on known | top-1 on known after the gate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("selection (chose C and threshold)", s), ("**val**", v)]
    if r.get("unseen_artists"):
        held = r["unseen_artists"]["held_out_artists"]
        rows.append(
            (
                f"val, by artists the check never saw ({held:,} other artists left out of its fit)",
                r["unseen_artists"],
            )
        )
    if r.get("sample"):
        rows.append(("public-domain sample (val paintings)", r["sample"]))
    for name, m in rows:
        lines.append(
            f"| {name} | {m['n_known']:,} / {m['n_other']:,} | {_pct(m['auroc'])} | {_pct(m['known_let_through'])} "
            f"| {_pct(m['other_stopped'])} | {_pct(m.get('top1_known'))} | {_pct(m.get('top1_known_after_gate'))} |"
        )
    if r.get("unseen_artists"):
        lines += ["", f"Artists never seen: {r['unseen_artists']['rule']}."]
    lines += [
        "",
        "`top-1 on known after the gate`: right name and let through. Per style on val (paintings by other "
        f"{r['attribute']}s stopped; known let through):",
        "",
        "| style | known / other | other stopped | known let through |",
        "|---|---:|---:|---:|",
    ]
    for style, m in sorted(v.get("per_style", {}).items(), key=lambda kv: -kv[1]["n_other"]):
        lines.append(
            f"| {style} | {m['n_known']:,} / {m['n_other']:,} | {_pct(m['other_stopped'])} | "
            f"{_pct(m['known_let_through'])} |"
        )
    return "\n".join(lines) + "\n"


def _sample_only(args: argparse.Namespace, emb) -> int:
    """``--sample-only``: the stored gate's figures on ``--sample`` measured again; nothing refitted."""
    import json

    from ..analysis.open_set import GATE_CARD, load_gate
    from ..errors import CheckpointError
    from .data import load_collection

    if not args.sample:
        raise CatalogError("--sample-only needs --sample (the collection to measure the gate on)")
    gate = load_gate(args.checkpoint, emb.card)
    if gate is None:
        raise CheckpointError(f"{args.checkpoint} has no open-set gate to measure; fit one first")
    sroot, scat = load_collection(args.sample)
    x, probs, rows = _embed(emb, sroot, scat, gate.attribute, "sample", not args.no_progress, {})
    figures = evaluate(gate, x, probs, rows)
    figures.pop("per_style", None)
    gate_card = Path(args.checkpoint) / GATE_CARD
    write_json_atomic(gate_card, {**json.loads(gate_card.read_text(encoding="utf-8")), "sample": figures})
    out = Path(args.out).with_suffix(".json")
    if out.is_file():  # the report of the fit, with its sample row brought up to date
        report = {**json.loads(out.read_text(encoding="utf-8")), "sample": figures}
        write_json_atomic(out, report)
        write_text_atomic(out.with_suffix(".md"), to_markdown(report))
    print(
        f"open-set gate ({gate.attribute}) on {args.sample}: {figures['n_known']:,} by known / "
        f"{figures['n_other']:,} by other; AUROC {_pct(figures['auroc'])}, known let through "
        f"{_pct(figures['known_let_through'])}, other stopped {_pct(figures['other_stopped'])}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from ..fileio import sha256_file
    from ..predict import load_embedder
    from .data import load_collection, split_as_trained

    t0 = time.perf_counter()
    emb = load_embedder(args.checkpoint)
    card = emb.card
    if args.sample_only:
        return _sample_only(args, emb)
    classes = list(card["heads"].get(args.attribute, []))
    if not classes:
        raise CatalogError(
            f"{args.checkpoint} has no {args.attribute!r} head (heads: {', '.join(card['heads'])})"
        )
    root, rest, sel, _ = split_as_trained(
        args.collection, card.get("train_data"), selection_size=args.selection_size, seed=args.seed
    )
    progress = not args.no_progress
    cache = _load_cache(args.cache)
    sets = {}
    for name, rows in (("train", rest.train), ("selection", sel), ("val", rest.val)):
        _, usable = known_truth(rows, args.attribute, classes)
        sets[name] = _embed(
            emb, root, rows[usable].reset_index(drop=True), args.attribute, name, progress, cache
        )
    (xt, _, rt), (xs, _, rs) = sets["train"], sets["selection"]
    gate = fit_gate(
        xt,
        known_truth(rt, args.attribute, classes)[0],
        xs,
        known_truth(rs, args.attribute, classes)[0],
        attribute=args.attribute,
        classes=classes,
        seed=args.seed,
    )
    result: dict[str, Any] = {
        **gate.card,
        "checkpoint": str(args.checkpoint),
        "command": "python -m artextract.train open-set "
        + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "collection": str(args.collection),
        "selection": evaluate(gate, xs, sets["selection"][1], rs),
        "val": evaluate(gate, *sets["val"]),
    }
    if args.unseen > 0:
        result["unseen_artists"] = unseen_artists(
            {"seed": args.seed}, sets, args.attribute, classes, args.unseen, args.seed
        )
    if args.sample:
        sroot, scat = load_collection(args.sample)
        result["sample"] = evaluate(
            gate, *_embed(emb, sroot, scat, args.attribute, "sample", progress, cache)
        )
        result["sample"].pop("per_style", None)
    _save_cache(args.cache, cache)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    stored = {k: v for k, v in result.items() if k not in ("checkpoint", "collection")}
    save_gate(args.checkpoint, gate, sha256_file(Path(args.checkpoint) / "model.safetensors"), **stored)
    out = Path(args.out)
    write_json_atomic(out.with_suffix(".json"), result)
    write_text_atomic(out.with_suffix(".md"), to_markdown(result))
    v = result["val"]
    print(
        f"open-set gate ({args.attribute}): C {gate.card['C']:g}, threshold {gate.threshold:.4f}; val AUROC "
        f"{_pct(v['auroc'])}, known let through {_pct(v['known_let_through'])}, other stopped "
        f"{_pct(v['other_stopped'])}; {result['wall_s']:.0f} s; wrote {out.with_suffix('.md')}",
        flush=True,
    )
    return 0
