"""The released checkpoints under models/: they load safely and reproduce their cards' figures on the
committed public-domain sample (what ``make demo`` shows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from artextract.nets.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
RLA = MODELS / "rla_mobilenetv2-wikiart"


def _makefile(role: str) -> Path:
    import re

    m = re.search(rf"^{role}\s*:=\s*\$\(MODELS\)/(\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert m, f"the Makefile names the released {role.lower()}"
    return MODELS / m.group(1)


#: what the app serves (the ensemble of the RLA network and a plain MobileNetV2)
CLASSIFIER = _makefile("CLASSIFIER")
CLASSIFIERS = list(dict.fromkeys([CLASSIFIER, RLA]))
ENCODERS = [p for p in sorted(MODELS.glob("*-wikiart")) if p not in CLASSIFIERS]
SAMPLE = ROOT / "data" / "sample" / "collection"


def test_released_checkpoints_exist_and_are_small():
    assert ENCODERS, "a released encoder is committed"
    for d in [*CLASSIFIERS, *ENCODERS]:
        assert (d / "model.safetensors").stat().st_size <= 25e6
        card = json.loads((d / "card.json").read_text())
        assert card["train_data"]["catalog_sha256"] and card["training"]["wall_s"] > 0


def test_the_served_classifier_is_the_rla_network_or_an_ensemble_holding_it():
    _, card = load_checkpoint(CLASSIFIER)
    archs = [m["arch"] for m in card["arch_kwargs"].get("members", [])] or [card["arch"]]
    assert archs[0] == "rla_mobilenetv2"
    if card["arch"] == "ensemble":  # each member's weights are the ones its own card describes
        assert (
            card["members"][0]["weights_sha256"]
            == json.loads((RLA / "card.json").read_text())["weights_sha256"]
        )
        # chosen on the selection set: better there than any member alone
        comp = card["selection_comparison"]
        assert comp["ensemble"]["mean_top1"] > max(v["mean_top1"] for k, v in comp.items() if k != "ensemble")


@pytest.mark.parametrize("path", CLASSIFIERS, ids=lambda p: p.name)
def test_released_classifier_reproduces_its_card_on_the_sample(path):
    from artextract.report import sample_metrics

    model, card = load_checkpoint(path)
    assert set(card["heads"]) == {"style", "artist", "genre"}
    assert len(card["heads"]["style"]) == 11
    stated = card["sample_metrics"]
    got = sample_metrics(path, SAMPLE)
    for head in ("style", "artist", "genre"):
        assert got[head]["n"] == stated[head]["n"] > 0
        assert abs(got[head]["top1"] - stated[head]["top1"]) <= 0.02, head
    # far above chance on real paintings: not a stub
    assert got["style"]["top1"] > 0.5


def test_released_encoder_reproduces_its_card_on_the_sample():
    from artextract.report import sample_retrieval

    for d in ENCODERS:
        _, card = load_checkpoint(d)
        stated = card["sample_retrieval"]
        got = sample_retrieval(d, SAMPLE)
        key = "precision_at_10_same_style"
        assert abs(got[key] - stated[key]) <= 0.02
        assert got[key] > 0.3  # chance (sum of squared style shares) on the sample is about 0.22


@pytest.mark.parametrize("name", [p.name for p in CLASSIFIERS])
def test_released_classifier_names_a_monet_as_impressionism(name):
    """A real painting from the sample: Monet, catalogued Impressionism, is predicted so."""
    import pandas as pd
    from PIL import Image

    from artextract.predict import classify_image, load_embedder

    cat = pd.read_csv(SAMPLE / "catalog.csv", dtype=str, keep_default_na=False)
    monets = cat[(cat["artist"] == "Claude_Monet") & (cat["style"] == "Impressionism")]
    assert len(monets) >= 5
    emb = load_embedder(MODELS / name)
    hits = 0
    for img in monets["image"].head(10):
        top = classify_image(emb, Image.open(SAMPLE / img))
        hits += top["style"][0][0] == "Impressionism"
    assert hits >= 7


def test_released_open_set_gate_reproduces_its_card_on_the_sample():
    """The artist head's open-set gate, stored beside the released classifier, loads for it and does on
    the committed sample what its card says (within 0.02): it lets most paintings by the 16 artists
    through and stops many by others."""
    import pandas as pd

    from artextract.analysis.open_set import load_gate
    from artextract.nets.checkpoint import read_card
    from artextract.predict import load_embedder
    from artextract.train.open_set import evaluate

    gate = load_gate(CLASSIFIER, read_card(CLASSIFIER))
    assert gate is not None and gate.attribute == "artist" and len(gate.classes) == 16
    stated = gate.card["sample"]
    cat = pd.read_csv(SAMPLE / "catalog.csv", dtype=str, keep_default_na=False)
    res = load_embedder(CLASSIFIER).embed_paths([SAMPLE / p for p in cat["image"]], progress=False)
    assert res.ok.all()
    got = evaluate(gate, res.embeddings, res.probs["artist"], cat)
    assert (got["n_known"], got["n_other"]) == (stated["n_known"], stated["n_other"])
    assert got["n_known"] > 50 and got["n_other"] > 500
    for key in ("known_let_through", "other_stopped", "top1_known_after_gate", "auroc"):
        assert abs(got[key] - stated[key]) <= 0.02, key
    # not a stub: it separates, and most Ukiyo-e prints of the sample (no known artist made one) stop
    assert got["auroc"] > 0.75 and got["known_let_through"] > 0.85 and got["other_stopped"] > 0.3
    ukiyo = (cat["style"] == "Ukiyo_e").to_numpy()
    assert ukiyo.sum() >= 5 and (~gate.known(res.embeddings[ukiyo])).mean() >= 0.6


def test_imported_collections_are_built_with_what_make_demo_serves():
    from artextract import config

    assert CLASSIFIER.name == config.RELEASED_CLASSIFIER
    assert _makefile("ENCODER").name == config.RELEASED_ENCODER
