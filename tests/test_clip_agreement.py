"""CLIP agreement with a tiny, randomly initialised open_clip model (no weights can be downloaded)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from artextract.analysis import clip_agreement as ca
from artextract.errors import ArtExtractError, OfflineError

TINY = "artextract-tiny-clip"


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    open_clip = pytest.importorskip("open_clip")
    cfg = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
        "text_cfg": {"context_length": 16, "vocab_size": 128, "width": 32, "heads": 2, "layers": 1},
    }
    path = tmp_path_factory.mktemp("clipcfg") / f"{TINY}.json"
    path.write_text(json.dumps(cfg))
    open_clip.add_model_config(path)
    torch.manual_seed(0)
    return ca.load_clip(TINY, pretrained="random")


def _img(seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8))


def test_similarity_per_pair(tiny_clip):
    model, preprocess = tiny_clip
    a = [_img(0), _img(1), _img(2)]
    b = [_img(0), _img(5), _img(2).transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    sims = ca.clip_image_similarity(model, preprocess, a, b, batch_size=2)
    assert sims.shape == (3,) and sims.dtype == np.float32
    assert sims[0] == pytest.approx(1.0, abs=1e-5)  # an image with itself
    assert np.all(sims <= 1.0 + 1e-5) and np.all(sims >= -1.0 - 1e-5)
    assert sims[1] < 0.99999
    with pytest.raises(ValueError, match="pairs_b"):
        ca.clip_image_similarity(model, preprocess, a, b[:2])


def test_embed_is_normalised_and_agreement_lift(tiny_clip):
    model, preprocess = tiny_clip
    gallery = [_img(i) for i in range(6)]
    g = ca.clip_embed(model, preprocess, gallery)
    np.testing.assert_allclose(np.linalg.norm(g, axis=1), 1.0, rtol=1e-5)
    q = g[:2]
    perfect = ca.retrieval_agreement(q, g, np.array([[0], [1]]))  # each query retrieves itself
    assert perfect["mean_neighbour_sim"] == pytest.approx(1.0, abs=1e-5)
    assert perfect["lift"] > 0 and perfect["queries"] == 2 and perfect["k"] == 1


def test_offline_without_weights_says_how_to_provide_them(monkeypatch):
    import open_clip

    def no_network(*args, **kwargs):
        raise RuntimeError("couldn't connect to huggingface.co")

    monkeypatch.delenv("ARTEXTRACT_CLIP_WEIGHTS", raising=False)
    monkeypatch.setattr(open_clip, "create_model_and_transforms", no_network)
    with pytest.raises(OfflineError) as err:
        ca.load_clip("ViT-B-32", pretrained=None)
    msg = str(err.value)
    assert "ViT-B-32" in msg and "path" in msg and "ARTEXTRACT_CLIP_WEIGHTS" in msg


def test_bad_names_and_missing_files(tmp_path):
    with pytest.raises(ArtExtractError, match="unknown CLIP model"):
        ca.load_clip("ViT-Q-99")
    with pytest.raises(ArtExtractError, match="not found"):
        ca.load_clip("ViT-B-32", pretrained=tmp_path / "clip.safetensors")
    with pytest.raises(ArtExtractError, match="valid: .*openai"):
        ca.load_clip("ViT-B-32", pretrained="not-a-tag")
