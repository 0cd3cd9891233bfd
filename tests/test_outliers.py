"""Outlier scores on synthetic clustered embeddings with planted outliers of known kinds."""

from __future__ import annotations

import numpy as np
import pytest

from artextract.analysis import outliers
from artextract.analysis.outliers import knn_graph, recall_at_top, score_outliers
from artextract.errors import ArtExtractError


def planted(n: int = 2000, d: int = 32, seed: int = 0, frac: float = 0.02) -> dict:
    """Artists (8) each working in 2 of 5 styles; 1% catalogued under the wrong artist, 1% off-manifold.

    The simulated classifier recognises a painting's *true* artist, so it disagrees with a wrong label.
    """
    rng = np.random.default_rng(seed)
    n_art, n_sty = 8, 5
    art_c, sty_c = rng.normal(size=(n_art, d)), rng.normal(size=(n_sty, d))
    art_styles = [rng.choice(n_sty, size=2, replace=False) for _ in range(n_art)]
    artist = rng.integers(0, n_art, n)
    style = np.array([rng.choice(art_styles[a]) for a in artist])
    x = art_c[artist] + sty_c[style] + 0.35 * rng.normal(size=(n, d))
    idx = rng.choice(n, size=int(frac * n), replace=False)
    swap, far = idx[: len(idx) // 2], idx[len(idx) // 2 :]
    catalogued = artist.copy()
    catalogued[swap] = (artist[swap] + rng.integers(1, n_art, len(swap))) % n_art
    x[far] = 2.0 * rng.normal(size=(len(far), d))
    logits_a = 4.0 * np.eye(n_art)[artist] + rng.normal(size=(n, n_art))
    logits_a[far] = rng.normal(size=(len(far), n_art))
    logits_s = 4.0 * np.eye(n_sty)[style] + rng.normal(size=(n, n_sty))
    softmax = lambda z: np.exp(z) / np.exp(z).sum(1, keepdims=True)  # noqa: E731
    truth = np.zeros(n, bool)
    truth[idx] = True
    return {
        "x": x.astype(np.float32),
        "labels": {"artist": catalogued, "style": style},
        "probs": {"artist": softmax(logits_a), "style": softmax(logits_s)},
        "classes": {
            "artist": [f"Old_Master_{i}" for i in range(n_art)],  # underscores, as catalog labels have
            "style": [f"Style{i}" for i in range(n_sty)],
        },
        "truth": truth,
        "swap": swap,
        "far": far,
        "true_artist": artist,
    }


@pytest.fixture(scope="module")
def scored() -> tuple[dict, object]:
    s = planted()
    return s, score_outliers(s["x"], s["labels"], s["probs"], s["classes"], k=10)


def test_planted_outliers_rank_at_the_top(scored) -> None:
    s, df = scored
    assert len(df) == len(s["x"])
    score = df["outlier_score"].to_numpy()
    assert ((score >= 0) & (score <= 1)).all()
    assert recall_at_top(score, s["truth"], 0.05) >= 0.9
    # both kinds are found, each by the component that should find it
    assert recall_at_top(score, np.isin(np.arange(len(score)), s["swap"]), 0.05) >= 0.9
    assert recall_at_top(score, np.isin(np.arange(len(score)), s["far"]), 0.05) >= 0.9
    assert (df["outlier_driver"].to_numpy()[s["swap"]] == "artist").mean() >= 0.8
    assert (df["density_knn_z"].to_numpy()[s["far"]] >= 3).mean() >= 0.8
    # an ordinary painting scores low
    assert np.median(score[~s["truth"]]) < 0.1


def test_components_have_their_meaning(scored) -> None:
    s, df = scored
    swap, normal = s["swap"], np.where(~s["truth"])[0]
    for col in ("artist_classifier_disagreement", "artist_neighbour_disagreement"):
        v = df[col].to_numpy()
        assert ((v >= 0) & (v <= 1)).all()
        assert v[swap].mean() > 0.5 > v[normal].mean()
    cz = df["artist_centroid_z"].to_numpy()
    assert np.median(cz[swap]) > 3 > np.median(cz[normal])
    # style labels were not tampered with: the style evidence of a wrong-artist painting stays low
    assert df["style_label_score"].to_numpy()[swap].mean() < 0.2


def test_reasons_read_like_a_curator_note(scored) -> None:
    s, df = scored
    names = s["classes"]["artist"]
    i = int(s["swap"][0])
    reason = df["outlier_reasons"].iloc[i]
    catalogued, true = names[s["labels"]["artist"][i]], names[s["true_artist"][i]]
    # classes named as a curator reads them: "Old Master 3", not the label "Old_Master_3"
    catalogued, true = catalogued.replace("_", " "), true.replace("_", " ")
    assert f"artist: catalogued as {catalogued}" in reason
    assert f"of its 10 nearest neighbours are catalogued as {true}" in reason
    assert f"a model that never saw this label gives {true} 0." in reason
    assert "_" not in "".join(df["outlier_reasons"])
    far = df["outlier_reasons"].iloc[int(s["far"][0])]
    assert "unlike the rest of the collection: its 10 nearest paintings are " in far and "x farther" in far
    quiet = df["outlier_reasons"].to_numpy()[~s["truth"]]
    assert (quiet == "").mean() > 0.8  # most ordinary paintings carry no reason


def test_deterministic_and_uses_given_neighbours(scored) -> None:
    s, df = scored
    again = score_outliers(s["x"], s["labels"], s["probs"], s["classes"], k=10)
    assert df.equals(again)
    nb, _ = knn_graph(s["x"] / np.linalg.norm(s["x"], axis=1, keepdims=True), 10)
    given = score_outliers(s["x"], s["labels"], s["probs"], s["classes"], k=10, neighbours=nb)
    np.testing.assert_allclose(given["outlier_score"], df["outlier_score"], atol=1e-5)


def test_hnswlib_path_matches_exact(monkeypatch) -> None:
    s = planted(n=1500, seed=1)
    exact = score_outliers(s["x"], s["labels"], s["probs"], s["classes"])
    monkeypatch.setattr(outliers, "EXACT_MAX", 100)  # force the index path
    approx = score_outliers(s["x"], s["labels"], s["probs"], s["classes"])
    assert np.abs(approx["outlier_score"] - exact["outlier_score"]).mean() < 0.01
    assert recall_at_top(approx["outlier_score"].to_numpy(), s["truth"], 0.05) >= 0.9


def test_unknown_labels_and_missing_probs() -> None:
    s = planted(n=400, seed=2, frac=0.05)
    labels = {a: v.copy() for a, v in s["labels"].items()}
    labels["style"][:] = -1  # style unknown for every painting
    labels["artist"][::3] = -1
    df = score_outliers(s["x"], labels, {"artist": s["probs"]["artist"]}, s["classes"])
    assert df["style_centroid_z"].isna().all() and (df["style_label_score"] == 0).all()
    assert df["artist_centroid_z"].isna().to_numpy()[::3].all()
    assert df["outlier_score"].between(0, 1).all()
    assert not df["outlier_reasons"].str.contains("style:").any()


def test_tiny_inputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4))
    df = score_outliers(x, {"artist": np.array([0, 1, -1])}, {}, {"artist": ["a", "b"]})
    assert len(df) == 3 and df["outlier_score"].between(0, 1).all()
    assert len(score_outliers(x[:1], {}, {}, {})) == 1


def test_bad_inputs_and_recall_helper() -> None:
    x = np.zeros((4, 3))
    with pytest.raises(ArtExtractError, match="no class names"):
        score_outliers(x, {"artist": np.zeros(4, int)}, {}, {})
    with pytest.raises(ArtExtractError, match="expected"):
        score_outliers(x, {}, {"artist": np.zeros((4, 3))}, {"artist": ["a", "b"]})
    assert recall_at_top(np.array([0.9, 0.1, 0.8, 0.2]), np.array([1, 0, 0, 1], bool), 0.5) == 0.5
    assert np.isnan(recall_at_top(np.zeros(3), np.zeros(3, bool)))


def test_one_labelled_neighbour_reads_in_the_singular() -> None:
    """Artist labels are sparse: a painting whose only labelled neighbour carries another artist gets
    "1 of its 10 nearest neighbours is ...", and Ukiyo-e style names keep their hyphen."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 16)) * 5
    # painting 0's 10 nearest are the rest of its group of 11: nine unlabelled, one by artist 1
    x = np.vstack([a + 0.1 * rng.normal(size=(11, 16)), b + 0.1 * rng.normal(size=(29, 16))]).astype(
        np.float32
    )
    artist = np.full(40, -1)
    artist[0], artist[1], artist[11:] = 0, 1, 0
    style = np.r_[np.zeros(11, int), np.ones(29, int)]
    style[0] = 1
    df = score_outliers(
        x, {"artist": artist, "style": style}, {}, {"artist": ["Claude_Monet", "Camille_Pissarro"],
        "style": ["Ukiyo_e", "Naive_Art_Primitivism"]}, k=10
    )  # fmt: skip
    reason = df["outlier_reasons"].iloc[0]
    artist = (
        "artist: catalogued as Claude Monet; 1 of its 10 nearest neighbours is catalogued as Camille Pissarro"
    )
    style = "style: catalogued as Naïve Art (Primitivism); 10 of its 10 nearest neighbours are catalogued as Ukiyo-e"
    assert artist in reason and style in reason
    assert "far from the other paintings catalogued as Naïve Art (Primitivism)" in reason
