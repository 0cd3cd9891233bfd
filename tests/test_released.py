"""The released checkpoints under models/: they load safely and reproduce their cards' figures on the
committed public-domain sample (what ``make demo`` shows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from artextract.nets.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CLASSIFIER = MODELS / "rla_mobilenetv2-wikiart"
ENCODERS = [p for p in sorted(MODELS.glob("*-wikiart")) if p != CLASSIFIER]
SAMPLE = ROOT / "data" / "sample" / "collection"


def test_released_checkpoints_exist_and_are_small():
    assert (CLASSIFIER / "model.safetensors").is_file()
    assert ENCODERS, "a released encoder is committed"
    for d in [CLASSIFIER, *ENCODERS]:
        assert (d / "model.safetensors").stat().st_size <= 25e6
        card = json.loads((d / "card.json").read_text())
        assert card["train_data"]["catalog_sha256"] and card["training"]["wall_s"] > 0


def test_released_classifier_reproduces_its_card_on_the_sample():
    from artextract.report import sample_metrics

    model, card = load_checkpoint(CLASSIFIER)
    assert card["arch"] == "rla_mobilenetv2" and set(card["heads"]) == {"style", "artist", "genre"}
    assert len(card["heads"]["style"]) == 11
    stated = card["sample_metrics"]
    got = sample_metrics(CLASSIFIER, SAMPLE)
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


@pytest.mark.parametrize("name", ["rla_mobilenetv2-wikiart"])
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
