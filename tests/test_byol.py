"""BYOL: the loss falls on a fixed batch, the target moves by EMA only, the two view pipelines."""

from __future__ import annotations

import pytest
import torch
from torchvision.transforms import v2

from artextract.nets.byol import BYOL, byol_augmentations, cosine_tau, regression_loss
from artextract.nets.registry import create_model


def _byol(seed: int = 0) -> BYOL:
    torch.manual_seed(seed)
    enc = create_model("resnet_demo", heads={}, width=8)
    return BYOL(enc, feature_dim=enc.num_features, projection_dim=32, hidden_dim=64)


def _views(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(8, 3, 48, 48, generator=g) * 255).to(torch.uint8)
    torch.manual_seed(seed)
    a1, a2 = byol_augmentations(40)
    return a1(x), a2(x)


def test_regression_loss_is_two_minus_two_cos():
    p, z = torch.randn(5, 16), torch.randn(5, 16)
    want = 2 - 2 * torch.nn.functional.cosine_similarity(p, z)
    torch.testing.assert_close(regression_loss(p, z), want)
    assert torch.allclose(regression_loss(p, 3 * p), torch.zeros(5), atol=1e-6)


def test_a_few_steps_on_a_fixed_batch_lower_the_loss():
    model = _byol()
    v1, v2 = _views()
    opt = torch.optim.SGD(model.online_parameters(), lr=0.05, momentum=0.9)
    losses = []
    for step in range(8):
        loss = model(v1, v2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        model.update_target(step, 8)
        losses.append(loss.item())
    assert 0 <= losses[-1] < 0.8 * losses[0]


def test_target_moves_by_ema_only():
    model = _byol()
    v1, v2 = _views()
    assert not any(p.requires_grad for p in model._target_params())
    online_ids = {id(p) for p in model.online_parameters()}
    assert not online_ids & {id(p) for p in model._target_params()}
    before = [p.detach().clone() for p in model._target_params()]
    opt = torch.optim.SGD(model.online_parameters(), lr=0.1)
    loss = model(v1, v2)
    opt.zero_grad()
    loss.backward()
    opt.step()
    for b, p in zip(
        before, model._target_params(), strict=True
    ):  # the optimiser step does not touch the target
        assert p.grad is None and torch.equal(b, p)
    online = [p.detach().clone() for p in model._online_params()]
    tau = model.update_target(step=10, total_steps=100)
    assert tau == pytest.approx(cosine_tau(10, 100, 0.996)) and model.current_tau == tau
    moved = False
    for b, o, p in zip(before, online, model._target_params(), strict=True):
        torch.testing.assert_close(p, tau * b + (1 - tau) * o)
        moved |= not torch.equal(b, p)
    assert moved


def test_cosine_tau_schedule():
    taus = [cosine_tau(k, 50) for k in range(51)]
    assert taus[0] == pytest.approx(0.996) and taus[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(taus, taus[1:], strict=False))
    assert cosine_tau(25, 50) == pytest.approx(0.998)


def test_loss_is_symmetric_in_the_views():
    model = _byol()
    v1, v2 = _views()
    with torch.no_grad():
        torch.testing.assert_close(model(v1, v2), model(v2, v1))


def _find(pipeline, kind):
    """(probability, transform) of each ``kind`` transform, bare or inside RandomApply."""
    found = []
    for t in pipeline.pipeline.transforms:
        if isinstance(t, v2.RandomApply):
            found += [(t.p, inner) for inner in t.transforms if isinstance(inner, kind)]
        elif isinstance(t, kind):
            found.append((getattr(t, "p", 1.0), t))
    return found


def test_augmentations_follow_the_paper():
    a1, a2 = byol_augmentations(96)
    assert [p for p, _ in _find(a1, v2.GaussianBlur)] == [1.0]
    assert [p for p, _ in _find(a2, v2.GaussianBlur)] == [0.1]
    assert _find(a1, v2.RandomSolarize) == [] and [p for p, _ in _find(a2, v2.RandomSolarize)] == [0.2]
    for aug in (a1, a2):
        ((p, jitter),) = _find(aug, v2.ColorJitter)
        assert p == 0.8 and jitter.brightness == (0.6, 1.4) and jitter.hue == (-0.1, 0.1)
        assert [p for p, _ in _find(aug, v2.RandomGrayscale)] == [0.2]
        assert len(_find(aug, v2.RandomResizedCrop)) == 1 and len(_find(aug, v2.RandomHorizontalFlip)) == 1


def test_augmentations_accept_uint8_float_images_and_batches():
    a1, a2 = byol_augmentations(32)
    img = (torch.rand(3, 50, 60) * 255).to(torch.uint8)
    assert a1(img).shape == (3, 32, 32) and a1(img).dtype == torch.float32
    assert a2(img.float() / 255).shape == (3, 32, 32)
    batch = img.expand(4, 3, 50, 60).contiguous()
    out = a1(batch)
    assert out.shape == (4, 3, 32, 32)
    assert not torch.equal(out[0], out[1])  # each image of a batch gets its own random view
    with pytest.raises(ValueError, match="C, H, W"):
        a1(torch.zeros(32, 32))


def test_encoder_is_exported_alone():
    model = _byol()
    assert model.encoder.head_names == []
    keys = model.encoder.state_dict().keys()
    assert not any(k.startswith(("projector", "predictor", "target")) for k in keys)
