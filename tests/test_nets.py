"""Registry and backbones: every registered model's shapes, the paper's parameter count, RLA variants."""

from __future__ import annotations

import pytest
import torch

from artextract.errors import UnknownNameError
from artextract.nets.registry import create_model, list_models, model_info

HEADS = {"style": 5, "artist": 7, "genre": 3}


pytestmark = pytest.mark.usefixtures("flush_denormals")


def test_registry_lists_the_required_architectures():
    names = set(list_models())
    want = {f"{p}resnet{d}" for p in ("", "rla_") for d in (18, 34, 50, 101)} | {
        "rla_resnet_demo",
        "resnet_demo",
    }
    assert want <= names


def test_unknown_model_names_valid_choices():
    with pytest.raises(UnknownNameError) as err:
        create_model("rla_resnet51")
    assert "rla_resnet50" in str(err.value) and "resnet_demo" in str(err.value)


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_shapes_and_no_nans(name):
    torch.manual_seed(0)
    model = create_model(name, heads=HEADS).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        out = model(x)
        again = model.forward_head(feats)
    assert feats.shape == (2, model.num_features)
    assert model.head_names == list(HEADS)
    assert {k: tuple(v.shape) for k, v in out.items()} == {k: (2, n) for k, n in HEADS.items()}
    assert torch.isfinite(feats).all() and all(torch.isfinite(v).all() for v in out.values())
    for k in HEADS:  # embeddings and logits share one path
        torch.testing.assert_close(out[k], again[k])


def test_rla_resnet50_has_the_papers_parameter_count():
    # The paper (like ECA-Net, whose ResNet-50 row it shares) counts "M" as 2**20 parameters:
    # torchvision's ResNet-50 has 25,557,032 = 24.37 "M", the paper's ResNet-50 figure.
    n = model_info("rla_resnet50")["params"]
    assert n == sum(p.numel() for p in create_model("rla_resnet50").parameters())
    assert abs(n / 2**20 - 24.67) / 24.67 < 0.01
    assert abs(model_info("rla_resnet101")["params"] / 2**20 - 42.92) / 42.92 < 0.01


def test_plain_resnet_matches_torchvision_exactly():
    import torchvision

    ours = create_model("resnet50").state_dict()
    theirs = torchvision.models.resnet50().state_dict()
    ours = {k.replace("heads.logits.", "fc."): v.shape for k, v in ours.items()}
    assert ours == {k: v.shape for k, v in theirs.items()}


def test_model_info_fields():
    info = model_info("rla_resnet_demo")
    assert set(info) >= {"input_size", "mean", "std", "family", "params"}
    assert info["family"] == "rla_resnet" and len(info["mean"]) == 3
    assert info["params"] < model_info("rla_resnet18")["params"]


@pytest.mark.parametrize("rla_type", ["rla", "gru", "lstm"])
@pytest.mark.parametrize("attention", [None, "se", "eca"])
def test_rla_variants_at_odd_sizes(rla_type, attention):
    torch.manual_seed(0)
    model = create_model("rla_resnet_demo", heads={"style": 4}, rla_type=rla_type, attention=attention)
    for size in (96, 112, 100):  # 112 px gives a 7x7 map that stride-2 convs round up to 4x4
        out = model(torch.randn(2, 3, size, size))
        assert out["style"].shape == (2, 4) and torch.isfinite(out["style"]).all()


@pytest.mark.parametrize("rla_type", ["rla", "gru", "lstm"])
def test_recurrent_state_is_used_and_trained(rla_type):
    torch.manual_seed(0)
    model = create_model("rla_resnet_demo", heads={"style": 4}, rla_type=rla_type)
    assert len(model.rla) == 4  # one conv_out + shared recurrent cell per stage
    model(torch.randn(4, 3, 64, 64))["style"].sum().backward()
    for stage in model.rla:
        assert stage.conv_out.weight.grad is not None and stage.conv_out.weight.grad.abs().sum() > 0
        rec = next(stage.recurrent.parameters())
        assert rec.grad is not None and rec.grad.abs().sum() > 0
    # the state reaches the embedding: its last k channels come from h
    assert model.num_features == 256 + model.rla_channels


def test_state_follows_input_dtype_and_memory_format():
    model = create_model("rla_resnet_demo", heads={"style": 2}, rla_type="lstm").eval()
    with torch.no_grad():
        out64 = model.double()(torch.randn(1, 3, 64, 64, dtype=torch.float64))
        assert out64["style"].dtype == torch.float64
        model = model.float().to(memory_format=torch.channels_last)
        x = torch.randn(2, 3, 64, 64).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            feats = model.forward_features(x)
    assert feats.dtype == torch.bfloat16 and torch.isfinite(feats.float()).all()


def test_headless_encoder_and_default_head():
    enc = create_model("resnet_demo", heads={})
    assert enc(torch.randn(1, 3, 64, 64)) == {} and enc.head_names == []
    clf = create_model("resnet_demo", num_classes=10)
    assert clf.head_names == ["logits"] and clf.heads["logits"].out_features == 10


def test_bad_kwargs_name_valid_choices():
    with pytest.raises(ValueError, match="rla, gru, lstm"):
        create_model("rla_resnet_demo", rla_type="transformer")
    with pytest.raises(ValueError, match="se, eca"):
        create_model("resnet_demo", attention="cbam")
    with pytest.raises(TypeError, match="rla_resnet_demo"):
        create_model("rla_resnet_demo", depth=3)
