"""Grad-CAM on the last stage: the maps, their exact link to the logits, and the inspector's toggle."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from artextract.errors import ArtExtractError
from artextract.explain import grad_cam, overlay
from artextract.infer import Embedder
from artextract.nets.registry import create_model


def _embedder(arch: str, size: int = 64) -> Embedder:
    torch.manual_seed(0)
    model = create_model(arch, heads={"style": 5, "genre": 3}).eval()
    card = {"input_size": size, "mean": [0.5] * 3, "std": [0.25] * 3, "heads": {"style": [], "genre": []}}
    return Embedder(model, card, precision="fp32")


def _picture(seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (6, 9, 3), dtype=np.uint8)).resize(
        (90, 60), Image.Resampling.BICUBIC
    )


@pytest.mark.parametrize("arch", ["rla_mobilenetv2", "mobilenetv2", "rla_resnet_demo", "resnet_demo"])
def test_grad_cam_is_cam_for_a_pooled_linear_head(arch):
    """With global average pooling and a linear head, the sum of the unrectified map is the logit minus
    the bias; the shown map is that, rectified and scaled to [0, 1]."""
    e = _embedder(arch)
    img = _picture()
    x = e.preprocess(img)[None]
    with torch.no_grad():
        logits = e.model.forward_head(e.model.forward_features(x))["style"][0]
        maps = e.model.forward_maps(x)
    assert torch.allclose(maps.mean(dim=(2, 3)), e.model.forward_features(x), atol=1e-5)
    bias = e.model.heads["style"].bias.detach()
    raw = grad_cam(e, img, "style", range(5), raw=True)
    for c in range(5):
        assert raw[c].shape == tuple(maps.shape[2:])
        assert raw[c].sum() == pytest.approx(float(logits[c] - bias[c]), abs=1e-4)
    pred = int(logits.argmax())
    cams = grad_cam(e, img, "style", [pred, pred])
    assert list(cams) == [pred]
    m = cams[pred]
    assert m.min() >= 0 and (m.max() == pytest.approx(1.0) or m.max() == 0)
    expected = np.maximum(raw[pred], 0)
    if expected.max() > 0:
        np.testing.assert_allclose(m, expected / expected.max(), atol=1e-5)


def test_grad_cam_rejects_unknown_heads_and_classes_and_overlays_the_crop():
    e = _embedder("rla_mobilenetv2")
    with pytest.raises(ArtExtractError, match="no 'artist' head"):
        grad_cam(e, _picture(), "artist", [0])
    with pytest.raises(ArtExtractError, match="class 7 is not one of the 3 genre classes"):
        grad_cam(e, _picture(), "genre", [7])
    cam = np.zeros((2, 2), np.float32)
    cam[0, 0] = 1.0
    out = overlay(e, _picture(), cam)
    assert out.size == (64, 64)
    base = e._resize_crop(_picture()).astype(int)
    diff = np.abs(np.asarray(out, int) - base).sum(-1)
    assert diff[:16, :16].mean() > 20 and diff[-16:, -16:].mean() < 1  # heat only where the map is


def test_inspector_toggle_shows_the_maps(tiny_bundle, tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from artextract.bundle import open_bundle

    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(tiny_bundle))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    b = open_bundle(tiny_bundle)
    pred = b.items["pred_style"].to_numpy()
    row = int(np.flatnonzero(pred != b.items["style"].to_numpy())[0])  # predicted != catalog: two maps
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=60).run()
    at.switch_page("pages/explore.py")
    at.session_state["explore.focus"] = row
    at.run()
    assert not at.exception
    before = len(at.get("image"))
    assert before >= 1
    at.toggle(key="explore.cam").set_value(True).run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("image")) == before + 2
    captions = [c.value for c in at.caption]
    assert any("Grad-CAM" in c for c in captions)
