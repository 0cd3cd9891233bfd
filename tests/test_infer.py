"""Batched inference: precision switch, bf16 agreeing with fp32, bad files recorded, preprocessing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from artextract import infer
from artextract.errors import ArtExtractError, UnknownNameError
from artextract.infer import (
    Embedder,
    InferenceResult,
    cpu_supports_bf16,
    fold_batchnorm,
    onnx_available,
    resolve_precision,
    resolve_runtime,
)
from artextract.nets.registry import create_model, model_info


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def _card(arch: str, heads: dict[str, list[str]], size: int = 64) -> dict:
    info = model_info(arch)
    return {"arch": arch, "heads": heads, "input_size": size, "mean": info["mean"], "std": info["std"]}


def _images(n: int, seed: int = 0) -> list[Image.Image]:
    """Smooth random colour fields with some structure (closer to paintings than white noise)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = 70 + 7 * i, 90 - 3 * i
        small = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
        out.append(img)
    return out


def _calibrated(arch: str, heads: dict[str, int], seed: int = 0) -> torch.nn.Module:
    """An untrained model whose BatchNorm statistics were estimated on images, like a trained one's."""
    torch.manual_seed(seed)
    model = create_model(arch, heads=heads)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64) * 0.5)
    return model.eval()


def test_resolve_precision(monkeypatch):
    monkeypatch.delenv("ARTEXTRACT_PRECISION", raising=False)
    assert resolve_precision("fp32") == "fp32" and resolve_precision("bf16") == "bf16"
    assert resolve_precision("auto") == ("bf16" if cpu_supports_bf16() else "fp32")
    monkeypatch.setattr(infer, "cpu_supports_bf16", lambda: False)
    assert resolve_precision("auto") == "fp32"
    monkeypatch.setenv("ARTEXTRACT_PRECISION", "bf16")
    assert resolve_precision("auto") == "bf16"
    with pytest.raises(UnknownNameError, match="auto, bf16, fp32"):
        resolve_precision("fp16")


def test_cpu_bf16_detection_matches_cpuinfo():
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:
        assert cpu_supports_bf16() is False
    else:
        assert isinstance(cpu_supports_bf16(), bool)


@pytest.mark.parametrize(
    "arch", ["rla_resnet_demo", "resnet_demo", pytest.param("rla_resnet18", marks=pytest.mark.slow)]
)
def test_bf16_embeddings_agree_with_fp32(arch):
    heads = {"style": ["a", "b", "c", "d"]}
    model = _calibrated(arch, {"style": 4})
    card = _card(arch, heads)
    imgs = _images(12)
    r32 = Embedder(model, card, precision="fp32", batch_size=5).embed_images(imgs)
    r16 = Embedder(model, card, precision="bf16", batch_size=5).embed_images(imgs)
    cos = (r32.normalize() * r16.normalize()).sum(axis=1)
    assert cos.min() >= 0.999, cos
    assert np.abs(r32.probs["style"] - r16.probs["style"]).max() < 0.05


def test_embed_images_shapes_and_probabilities():
    model = _calibrated("rla_resnet_demo", {"style": 3, "genre": 2})
    heads = {"style": ["a", "b", "c"], "genre": ["x", "y"]}
    emb = Embedder(model, _card("rla_resnet_demo", heads), precision="fp32", batch_size=4)
    res = emb.embed_images(_images(6))
    assert res.embeddings.shape == (6, model.num_features) and res.embeddings.dtype == np.float32
    assert set(res.probs) == {"style", "genre"} and res.probs["style"].shape == (6, 3)
    np.testing.assert_allclose(res.probs["genre"].sum(axis=1), 1.0, rtol=1e-5)
    assert res.ok.all() and res.failed == {}
    np.testing.assert_allclose(np.linalg.norm(res.normalize(), axis=1), 1.0, rtol=1e-5)
    # one batch or many: same numbers
    one = Embedder(model, _card("rla_resnet_demo", heads), precision="fp32", batch_size=64).embed_images(
        _images(6)
    )
    np.testing.assert_allclose(one.embeddings, res.embeddings, rtol=1e-4, atol=1e-5)
    assert emb.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_encoder_has_no_probs():
    model = _calibrated("resnet_demo", {})
    res = Embedder(model, _card("resnet_demo", {}), precision="fp32").embed_images(_images(2))
    assert res.probs == {} and res.embeddings.shape == (2, 256)


def test_embed_paths_records_bad_images(tmp_path):
    model = _calibrated("resnet_demo", {"style": 2})
    emb = Embedder(model, _card("resnet_demo", {"style": ["a", "b"]}), precision="fp32", batch_size=2)
    imgs = _images(4)
    paths = []
    for i, img in enumerate(imgs):
        p = tmp_path / f"{i}.png"
        img.save(p)
        paths.append(p)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    paths.insert(1, tmp_path / "bad.jpg")
    paths.append(tmp_path / "missing.png")
    calls = []
    res = emb.embed_paths(paths, progress=lambda done, total: calls.append((done, total)), workers=2)
    assert sorted(res.failed) == [1, 5] and "bad.jpg" in res.failed[1] and "not found" in res.failed[5]
    assert res.ok.tolist() == [True, False, True, True, True, False]
    assert not res.embeddings[1].any() and not res.probs["style"][5].any()
    direct = emb.embed_images(imgs)
    np.testing.assert_allclose(res.embeddings[res.ok], direct.embeddings, rtol=1e-4, atol=1e-5)
    assert calls[-1] == (6, 6)


def test_preprocess_resizes_crops_and_normalises():
    model = create_model("resnet_demo", heads={})
    card = _card("resnet_demo", {}, size=48)
    emb = Embedder(model, card, precision="fp32")
    mean_rgb = tuple(round(255 * m) for m in card["mean"])
    x = emb.preprocess(Image.new("RGB", (200, 100), mean_rgb))
    assert x.shape == (3, 48, 48) and x.abs().max() < 0.02
    # centre crop of a wide image: the left and right edges are cut away
    arr = np.zeros((100, 300, 3), np.uint8)
    arr[:, :100] = 255
    x = emb.preprocess(Image.fromarray(arr).convert("L"))  # greyscale input is converted
    assert x.shape == (3, 48, 48) and float(x[0, :, 0].mean()) < 0


def test_inference_result_defaults():
    r = InferenceResult(embeddings=np.ones((2, 3), np.float32))
    assert r.probs == {} and r.failed == {}
    np.testing.assert_allclose(r.normalize(), np.full((2, 3), 1 / np.sqrt(3)), rtol=1e-6)


@pytest.mark.parametrize("arch", ["rla_resnet_demo", "resnet_demo"])
def test_folded_model_computes_the_same_function(arch):
    model = _calibrated(arch, {"style": 3})
    folded = fold_batchnorm(model)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    n_left = sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert n_left < n_bn and n_left == (5 if arch == "rla_resnet_demo" else 0)  # RLA state BNs stay
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x)["style"], model(x)["style"], rtol=1e-4, atol=1e-4)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) == n_bn  # original untouched


@pytest.mark.slow
def test_compiled_path_agrees_with_eager():
    model = _calibrated("rla_resnet_demo", {"style": 3})
    card = _card("rla_resnet_demo", {"style": ["a", "b", "c"]})
    imgs = _images(5)
    eager = Embedder(model, card, precision="bf16", batch_size=4, compile=False).embed_images(imgs)
    comp = Embedder(model, card, precision="bf16", batch_size=4, compile=True)
    res = comp.embed_images(imgs)  # 4 + a padded batch of 1
    assert not comp._compile_failed
    assert (res.normalize() * eager.normalize()).sum(axis=1).min() >= 0.999
    assert res.embeddings.shape == eager.embeddings.shape and res.ok.all()


@pytest.mark.skipif(not onnx_available(), reason="onnxruntime/onnx not installed")
@pytest.mark.parametrize("arch", ["rla_resnet_demo", "rla_mobilenetv2", "ensemble"])
def test_onnx_runtime_matches_torch_fp32(arch, tmp_path):
    """runtime="onnx": the same features and probabilities as torch fp32, any batch size, bad files kept out."""
    heads = {"style": ["a", "b", "c"], "genre": ["x", "y"]}
    model = _calibrated(arch, {"style": 3, "genre": 2})
    card = _card(arch, heads)
    imgs = _images(7)
    ref = Embedder(model, card, precision="fp32", batch_size=4).embed_images(imgs)
    onnx = Embedder(model, card, runtime="onnx", batch_size=4)
    assert onnx.runtime == "onnx" and onnx.precision == "fp32"
    got = onnx.embed_images(imgs)
    np.testing.assert_allclose(got.embeddings, ref.embeddings, rtol=1e-4, atol=1e-4)
    for h in heads:
        np.testing.assert_allclose(got.probs[h], ref.probs[h], atol=1e-5)
    paths = []
    for i, img in enumerate(imgs[:3]):
        paths.append(tmp_path / f"{i}.png")
        img.save(paths[-1])
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    res = onnx.embed_paths([paths[0], tmp_path / "bad.jpg", paths[2]], progress=False)
    assert res.ok.tolist() == [True, False, True] and list(res.failed) == [1]
    np.testing.assert_allclose(res.embeddings[[0, 2]], ref.embeddings[[0, 2]], rtol=1e-4, atol=1e-4)


def test_resolve_runtime(monkeypatch):
    monkeypatch.delenv("ARTEXTRACT_RUNTIME", raising=False)
    monkeypatch.delenv("ARTEXTRACT_PRECISION", raising=False)
    assert resolve_runtime("torch") == "torch" and resolve_runtime("auto", "bf16") == "torch"
    assert resolve_runtime("auto", "fp32") == "torch"  # a named precision is torch's to run exactly
    assert resolve_runtime("auto") == ("onnx" if onnx_available() else "torch")
    monkeypatch.setenv("ARTEXTRACT_PRECISION", "bf16")
    assert resolve_runtime("auto") == "torch"
    monkeypatch.delenv("ARTEXTRACT_PRECISION")
    monkeypatch.setenv("ARTEXTRACT_RUNTIME", "torch")
    assert resolve_runtime("auto") == "torch"  # the environment chose torch
    if onnx_available():
        assert resolve_runtime("onnx") == "onnx"  # a named runtime wins over the environment
    with pytest.raises(UnknownNameError, match="auto, torch, onnx"):
        resolve_runtime("tensorrt")
    monkeypatch.setattr(infer, "onnx_available", lambda: False)
    monkeypatch.delenv("ARTEXTRACT_RUNTIME")
    assert resolve_runtime("auto") == "torch"
    with pytest.raises(ArtExtractError, match="pip install onnxruntime onnx"):
        resolve_runtime("onnx")


def test_inference_preprocesses_as_the_trainer_evaluated():
    """A checkpoint trained here is served exactly the pixels its trainer evaluated: shrink to load_size,
    then the eval resize and centre crop (a 160 px painting enlarged to 184 and back is softer)."""
    from artextract.images import shrink
    from artextract.infer import load_size_of
    from artextract.train.data import classifier_transforms, to_uint8_tensor

    model = _calibrated("resnet_demo", {})
    card = {**_card("resnet_demo", {}, size=32), "training": {"trainer": "artextract.train classifier"}}
    assert load_size_of(card) == 37 and load_size_of({**card, "load_size": 40}) == 40
    assert load_size_of(_card("resnet_demo", {}, size=32)) is None  # trained elsewhere: one resize
    emb = Embedder(model, card, precision="fp32")
    _, eval_tf = classifier_transforms(32, card["mean"], card["std"])
    for img in [*_images(3), Image.new("RGB", (32, 32), (200, 40, 90))]:
        want = eval_tf(to_uint8_tensor(shrink(img, 37)))
        np.testing.assert_allclose(emb.preprocess(img).numpy(), want.numpy(), atol=1e-5)
    one_step = Embedder(model, _card("resnet_demo", {}, size=32), precision="fp32")
    soft, sharp = emb._resize_crop(_images(1)[0]), one_step._resize_crop(_images(1)[0])
    assert soft.shape == sharp.shape == (32, 32, 3) and not np.array_equal(soft, sharp)
