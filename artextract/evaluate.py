"""Retrieval quality of a bundle's reference index, over many queries.

Each query is a reference painting searched against the rest of the collection (leave-one-out). We
report precision@k for the same artist / style / genre where the catalog has them and, with CLIP weights,
the CLIP image-image similarity of each query and its k neighbours, against random pairs of the same
collection as a baseline. The reference submission reported the mean CLIP similarity of its 5 most similar
pairs (0.791); we also print that figure, but the mean over all queries is the one to compare models by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from .analysis.metrics import neighbour_label_precision
from .bundle import Bundle
from .errors import ArtExtractError, BundleError
from .images import load_image


@dataclass
class RetrievalEval:
    queries: int
    k: int
    precision: dict[str, float]
    clip: dict[str, Any] | None
    clip_error: str | None = None  # why CLIP agreement is missing (e.g. no weights offline)

    def lines(self) -> list[str]:
        out = [f"retrieval over {self.queries} leave-one-out queries, k={self.k}"]
        for a, p in self.precision.items():
            out.append(f"  precision@{self.k} same {a:<7} {p:.3f}")
        if self.clip:
            c = self.clip
            out += [
                f"  CLIP similarity, query vs its {self.k} neighbours: {c['mean_neighbour_sim']:.3f}"
                f" (random pairs {c['mean_random_sim']:.3f}, lift {c['lift']:+.3f})",
                f"  CLIP similarity of the 5 most similar pairs (as the reference submission): "
                f"{c['top5_pairs_sim']:.3f}",
                f"  CLIP model {c['model']} ({c['weights']})",
            ]
        return out


def evaluate_retrieval(
    bundle: Bundle,
    *,
    queries: int = 200,
    k: int = 5,
    seed: int = 0,
    clip_model: str | None = None,
    clip_weights: str | None = None,
    progress: bool = True,
) -> RetrievalEval:
    """Leave-one-out retrieval over ``queries`` random reference paintings (all if fewer)."""
    if queries < 1 or k < 1:
        raise ArtExtractError(f"need at least 1 query and k >= 1; got queries={queries}, k={k}")
    ref = bundle.reference
    if ref is None:
        raise BundleError(f"bundle {bundle.root} has no reference index; build it with --reference/--encoder")
    n = len(ref.items)
    if n < k + 2:
        raise BundleError(f"the reference collection has {n} painting(s); need at least {k + 2}")
    rng = np.random.default_rng(seed)
    q = np.sort(rng.choice(n, min(queries, n), replace=False))
    ids, _ = ref.index.query(ref.embeddings[q], k + 1)
    nb = np.array([[j for j in row if j != i][:k] for i, row in zip(q, ids, strict=True)])
    labels = {a: ref.items[a].to_numpy() for a in ("artist", "style", "genre") if a in ref.items}
    precision = neighbour_label_precision(labels, q, nb)
    clip, clip_error = None, None
    if clip_model:
        from .analysis.clip_agreement import clip_embed, load_clip, retrieval_agreement

        try:
            model, preprocess = load_clip(clip_model, clip_weights)
        except ArtExtractError as exc:  # the label metrics still stand
            return RetrievalEval(queries=len(q), k=k, precision=precision, clip=None, clip_error=str(exc))
        used = np.unique(np.concatenate([q, nb.ravel()]))
        pos = {int(j): i for i, j in enumerate(used)}
        images = []
        for j in tqdm(used, desc="loading images for CLIP", disable=not progress):
            images.append(load_image(ref.image_path(int(j))))
        emb = clip_embed(model, preprocess, images)
        qe = emb[[pos[int(i)] for i in q]]
        nbi = np.vectorize(lambda j: pos[int(j)])(nb)
        clip = retrieval_agreement(qe, emb, nbi)
        # random pairs: every pair of distinct paintings among those embedded (no self-pairs)
        gram = emb @ emb.T
        off = ~np.eye(len(emb), dtype=bool)
        clip["mean_random_sim"] = float(gram[off].mean())
        clip["lift"] = clip["mean_neighbour_sim"] - clip["mean_random_sim"]
        # the reference submission's figure: its 5 most similar (distinct, unordered) pairs
        sims = np.einsum("qd,qkd->qk", qe, emb[nbi])
        pairs = {}
        for r, qi in enumerate(q):
            for j, s in zip(nb[r], sims[r], strict=True):
                pairs[(min(int(qi), int(j)), max(int(qi), int(j)))] = float(s)
        clip["top5_pairs_sim"] = float(np.mean(sorted(pairs.values())[-5:]))
        clip["model"] = clip_model
        clip["weights"] = str(clip_weights or "default")
    return RetrievalEval(queries=len(q), k=k, precision=precision, clip=clip, clip_error=clip_error)
