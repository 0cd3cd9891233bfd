"""RLA-MobileNetV2 (the paper's MobileNetV2 variant) and the RLA-ResNet update point of the official code."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from artextract.nets.checkpoint import init_from_imagenet
from artextract.nets.registry import create_model, list_models

WEIGHTS = (
    Path(__file__).resolve().parents[2] / "shared" / "weights" / "mobilenet_v2_imagenet_features.safetensors"
)


pytestmark = pytest.mark.usefixtures("flush_denormals")


def test_mobilenet_family_is_registered():
    assert {"mobilenetv2", "rla_mobilenetv2", "rla_mobilenetv2_eca"} <= set(list_models())


def test_plain_mobilenetv2_matches_torchvision_names_and_shapes():
    import torchvision

    ours = {k: tuple(v.shape) for k, v in create_model("mobilenetv2").state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in torchvision.models.mobilenet_v2().state_dict().items()}
    ours = {k.replace("heads.logits.", "classifier.1."): v for k, v in ours.items()}
    assert ours == theirs


def test_rla_mobilenetv2_structure_follows_the_official_code():
    m = create_model("rla_mobilenetv2", heads={"style": 3})
    k = m.rla_channels
    assert k == 32
    blocks = m.blocks()
    assert len(blocks) == 17 and len(m.rla_conv_out) == 7
    assert [len(b) for b in m.rla_bns] == [1, 2, 3, 4, 3, 3, 1]
    # depthwise conv and projection run over the expanded features plus the k state channels
    b = blocks[3]  # 24 -> 32, t = 6: hidden 144
    dw, pw = b.conv[1][0], b.conv[2]
    assert dw.in_channels == dw.out_channels == dw.groups == 144 + k
    assert pw.in_channels == 144 + k and pw.out_channels == 32
    # the final 1x1 conv reads [x, h]; one shared 3x3 recurrent conv
    assert m.features[-1][0].in_channels == 320 + k
    assert isinstance(m.rla_recurrent, torch.nn.Conv2d) and m.rla_recurrent.kernel_size == (3, 3)
    assert m.num_features == 1280
    eca = create_model("rla_mobilenetv2_eca", heads={"style": 3})
    assert type(eca.blocks()[0].conv[-1]).__name__ == "ECALayer"


def test_rla_mobilenetv2_update_reads_the_projection_output_before_the_add():
    """The official block returns ``y`` (projection + BN) and the update's conv_out reads it."""
    torch.manual_seed(0)
    m = create_model("rla_mobilenetv2", heads={}).eval()
    seen: dict[str, torch.Tensor] = {}
    blk = m.blocks()[2]  # second block of stage 1: a residual block (stride 1, 24 -> 24)
    assert blk.use_res_connect
    blk.conv[-1].register_forward_hook(lambda _m, _i, o: seen.__setitem__("y", o.detach().clone()))
    m.rla_conv_out[1].register_forward_hook(
        lambda _m, i, _o: seen.__setitem__("conv_in", i[0].detach().clone())
    )
    with torch.no_grad():
        m.forward_features(torch.randn(2, 3, 64, 64))
    torch.testing.assert_close(seen["conv_in"], seen["y"])


@pytest.mark.skipif(not WEIGHTS.is_file(), reason="shared ImageNet MobileNetV2 weights not present")
@pytest.mark.parametrize("arch", ["mobilenetv2", "rla_mobilenetv2"])
def test_imagenet_init_computes_mobilenetv2_features_exactly(arch):
    import torchvision
    from safetensors.torch import load_file

    tv = torchvision.models.mobilenet_v2()
    missing, unexpected = tv.load_state_dict(load_file(str(WEIGHTS)), strict=False)
    assert set(missing) == {"classifier.1.weight", "classifier.1.bias"} and not unexpected
    tv.classifier = torch.nn.Identity()
    tv.eval()
    torch.manual_seed(1)
    m = create_model(arch, heads={"style": 11})
    report = init_from_imagenet(m, WEIGHTS)
    assert not report["unused"]
    if arch.startswith("rla"):
        assert report["partial"]  # the depthwise/projection/last convs that also see the state
        # the weights that read the state start at zero; the state itself is live
        assert m.blocks()[5].conv[2].weight[:, -32:].abs().max() == 0
        assert m.features[-1][0].weight[:, -32:].abs().max() == 0
    m.eval()
    x = torch.randn(3, 3, 96, 96)
    with torch.no_grad():
        diff = (m.forward_features(x) - tv(x)).abs().max().item()
    assert diff <= 1e-5


def test_rla_mobilenetv2_state_is_trained():
    torch.manual_seed(0)
    m = create_model("rla_mobilenetv2", heads={"style": 4})
    m(torch.randn(2, 3, 64, 64))["style"].sum().backward()
    assert m.rla_recurrent.weight.grad.abs().sum() > 0
    assert all(c.weight.grad.abs().sum() > 0 for c in m.rla_conv_out)


def test_rla_resnet_update_reads_the_block_output_after_add_and_relu():
    torch.manual_seed(0)
    m = create_model("rla_resnet_demo", heads={}).eval()
    # make the residual branch matter (zero-init would make output == relu(shortcut))
    for blk in m.layer2:
        torch.nn.init.normal_(blk.last_bn().weight)
    seen: dict[str, torch.Tensor] = {}
    blk = m.layer2[0]
    orig_branch, orig_shortcut = blk.branch, blk.shortcut

    def branch(x):
        seen["branch"] = orig_branch(x).detach().clone()
        return orig_branch(x)

    def shortcut(x):
        seen["shortcut"] = orig_shortcut(x).detach().clone()
        return orig_shortcut(x)

    blk.branch, blk.shortcut = branch, shortcut
    m.rla[1].conv_out.register_forward_hook(
        lambda _m, i, _o: seen.__setitem__("conv_in", i[0].detach().clone())
    )
    with torch.no_grad():
        m.forward_features(torch.randn(2, 3, 64, 64))
    expected = torch.relu(seen["branch"] + seen["shortcut"])
    torch.testing.assert_close(seen["conv_in"], expected)
    assert (seen["conv_in"] - seen["branch"]).abs().max() > 1e-3  # not the pre-add branch


@pytest.mark.parametrize("arch", ["rla_resnet_demo", "rla_resnet50"])
def test_rla_resnets_zero_init_the_last_bn_of_each_branch(arch):
    m = create_model(arch, heads={"style": 2})
    for stage in m.stages():
        for blk in stage:
            assert blk.last_bn().weight.abs().max().item() == 0
    plain = create_model("resnet_demo", heads={"style": 2})
    assert (
        plain.layer1[0].last_bn().weight.abs().min().item() == 1
    )  # plain ResNets keep torchvision's default
