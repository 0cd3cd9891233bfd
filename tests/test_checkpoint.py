"""Checkpoints: safetensors + card round trip, clear mismatch errors, pickles refused unopened, ImageNet init."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

from artextract.errors import CheckpointError, OfflineError
from artextract.nets import checkpoint as ckpt
from artextract.nets.checkpoint import (
    checkpoint_hash,
    init_from_imagenet,
    load_checkpoint,
    read_card,
    save_checkpoint,
)
from artextract.nets.registry import create_model

HEADS = {"style": ["baroque", "cubism", "impressionism"], "genre": ["landscape", "portrait"]}


@pytest.fixture(autouse=True, scope="module")
def _flush_denormals():
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


def _classifier(tmp_path: Path, arch: str = "rla_resnet_demo", **kwargs) -> tuple[torch.nn.Module, Path]:
    torch.manual_seed(0)
    model = create_model(arch, heads={k: len(v) for k, v in HEADS.items()}, **kwargs)
    out = save_checkpoint(tmp_path / "clf", model, {"heads": HEADS, "metrics": {"style": {"top1": 0.5}}})
    return model.eval(), out


class _MakesAFile:
    """Unpickling this calls ``open(path, "w")``: proof that a loader executed pickle code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_round_trip_is_exact_and_card_complete(tmp_path):
    model, out = _classifier(tmp_path, rla_type="lstm")
    assert (out / "model.safetensors").exists() and (out / "card.json").exists()
    loaded, card = load_checkpoint(out)
    assert card["format"] == ckpt.FORMAT and card["arch"] == "rla_resnet_demo"
    assert card["arch_kwargs"] == {"rla_type": "lstm"}  # taken from the model when the caller omits it
    assert card["heads"] == HEADS and card["kind"] == "classifier"
    assert card["embedding_dim"] == model.num_features and card["metrics"] == {"style": {"top1": 0.5}}
    assert card["weights_sha256"] == checkpoint_hash(out) and "created" in card
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = model(x), loaded(x)
    for k in HEADS:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    # the .safetensors file works as a path too
    assert load_checkpoint(out / "model.safetensors")[1]["weights_sha256"] == card["weights_sha256"]


def test_encoder_checkpoint(tmp_path):
    enc = create_model("resnet_demo", heads={})
    out = save_checkpoint(tmp_path / "enc", enc, {"arch": "resnet_demo", "input_size": 96})
    model, card = load_checkpoint(out)
    assert card["kind"] == "encoder" and card["heads"] == {} and card["input_size"] == 96
    assert model.head_names == []


def test_card_with_wrong_class_count_is_a_clear_error(tmp_path):
    _, out = _classifier(tmp_path)
    card = json.loads((out / "card.json").read_text())
    card["heads"]["style"].append("surrealism")
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(out)
    msg = str(err.value)
    assert "heads.style.weight" in msg and "(3, 272)" in msg and "(4, 272)" in msg
    assert "'style': 4" in msg and "'style': 3" in msg  # card heads vs weight heads


def test_card_with_wrong_architecture_is_a_clear_error(tmp_path):
    _, out = _classifier(tmp_path)
    card = json.loads((out / "card.json").read_text())
    card["arch"] = "resnet_demo"
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=r"arch='resnet_demo'.*unexpected keys in the weights: .*rla"):
        load_checkpoint(out)
    card["arch"] = "vgg16"
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match="valid names"):
        load_checkpoint(out)


def test_save_refuses_a_card_that_does_not_describe_the_model(tmp_path):
    model = create_model("resnet_demo", heads={"style": 3})
    with pytest.raises(CheckpointError, match="3"):
        save_checkpoint(tmp_path / "a", model, {"heads": {"style": ["a", "b"]}})
    with pytest.raises(CheckpointError, match="differ"):
        save_checkpoint(tmp_path / "b", model, {"heads": {"genre": ["a", "b", "c"]}})
    with pytest.raises(CheckpointError, match="shape mismatches"):
        save_checkpoint(
            tmp_path / "c", model, {"heads": {"style": list("abc")}, "arch_kwargs": {"width": 16}}
        )
    assert not (tmp_path / "a" / "card.json").exists()


def test_tampered_weights_are_detected(tmp_path):
    _, out = _classifier(tmp_path)
    w = out / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="changed"):
        load_checkpoint(out)


def test_pickle_payload_really_runs_when_unpickled(tmp_path):
    """Sanity check of the payload used below: unpickling it does create a file."""
    marker = tmp_path / "proof.txt"
    pickle.loads(pickle.dumps(_MakesAFile(marker))).close()
    assert marker.exists()


@pytest.mark.parametrize("name", ["evil.pt", "evil.pkl", "model.safetensors", "evil.safetensors"])
def test_pickle_offered_as_checkpoint_is_refused_unopened(tmp_path, name):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "ckpt" / name
    evil.parent.mkdir()
    evil.write_bytes(pickle.dumps({"state_dict": _MakesAFile(marker)}, protocol=4))
    (evil.parent / "card.json").write_text(json.dumps({"format": ckpt.FORMAT}))
    with pytest.raises(CheckpointError, match="pickle"):
        load_checkpoint(evil)
    if name == "model.safetensors":
        with pytest.raises(CheckpointError, match="pickle"):
            load_checkpoint(evil.parent)
    assert not marker.exists()


def test_folder_with_only_a_pickle_names_it(tmp_path):
    marker = tmp_path / "pwned.txt"
    (tmp_path / "m").mkdir()
    torch.save({"x": _MakesAFile(marker)}, tmp_path / "m" / "model.pth")
    with pytest.raises(CheckpointError, match=r"model\.pth.*never loaded"):
        load_checkpoint(tmp_path / "m")
    assert not marker.exists()


def test_read_card_rejects_foreign_json(tmp_path):
    _, out = _classifier(tmp_path)
    assert read_card(out)["arch"] == "rla_resnet_demo"
    (out / "card.json").write_text(json.dumps({"name": "something else"}))
    with pytest.raises(CheckpointError, match="format"):
        read_card(out)


# ------------------------------------------------------------------------------------- ImageNet init
@pytest.fixture()
def fake_imagenet(tmp_path) -> tuple[Path, dict[str, torch.Tensor]]:
    """A state dict saved from a randomly initialised torchvision ResNet-18 (stands in for ImageNet)."""
    import torchvision

    torch.manual_seed(1)
    tv = torchvision.models.resnet18()
    with torch.no_grad():  # non-trivial BN statistics so a wrong mapping would show
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "resnet18-imagenet.pth"
    torch.save(tv.state_dict(), path)
    return path, tv.eval()


def test_plain_resnet_from_imagenet_file_reproduces_torchvision(fake_imagenet):
    path, tv = fake_imagenet
    model = create_model("resnet18")  # default 1000-class head takes torchvision's fc
    report = init_from_imagenet(model, path)
    assert report["fresh"] == [] and report["unused"] == [] and report["partial"] == []
    assert report["loaded_fraction"] == pytest.approx(1.0)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x)["logits"], tv(x), rtol=1e-4, atol=1e-4)


def test_rla_resnet_from_imagenet_file(fake_imagenet):
    path, tv = fake_imagenet
    model = create_model("rla_resnet18", heads={"style": 3})
    report = init_from_imagenet(model, path)
    sd, src = model.state_dict(), tv.state_dict()
    torch.testing.assert_close(sd["layer3.1.bn2.running_var"], src["layer3.1.bn2.running_var"])
    torch.testing.assert_close(sd["conv1.weight"], src["conv1.weight"])
    # RLA-extended first convs: ImageNet kernel on the image channels, zeros on the state channels
    w = sd["layer2.0.conv1.weight"]
    torch.testing.assert_close(w[:, :64], src["layer2.0.conv1.weight"])
    assert (w[:, 64:] == 0).all() and "layer2.0.conv1.weight" in report["partial"]
    assert any(k.startswith("rla.") for k in report["fresh"]) and "heads.style.weight" in report["fresh"]
    assert report["unused"] == ["fc.bias", "fc.weight"]
    assert "ImageNet init" in report["summary"]


def test_imagenet_offline_without_file_is_one_clear_line(monkeypatch):
    from urllib.error import URLError

    def offline(name):
        raise URLError("no network")

    monkeypatch.setattr(ckpt, "_download_torchvision_state_dict", offline)
    with pytest.raises(OfflineError) as err:
        init_from_imagenet(create_model("rla_resnet18"), None)
    msg = str(err.value)
    assert "\n" not in msg and "resnet18" in msg and "path" in msg
    with pytest.raises(
        CheckpointError, match="available for: .*rla_resnet50"
    ):  # the demo has no ImageNet twin
        init_from_imagenet(create_model("rla_resnet_demo"), None)


def test_imagenet_file_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned.txt"
    bad = tmp_path / "weights.pth"
    torch.save({"conv1.weight": _MakesAFile(marker)}, bad)
    with pytest.raises(CheckpointError, match="weights_only"):
        init_from_imagenet(create_model("resnet18"), bad)
    assert not marker.exists()


# ------------------------------------------------------------------------------ hostile cards
def _edit_card(path: Path, **changes) -> None:
    card = json.loads((path / "card.json").read_text())
    card.update(changes)
    card.pop("weights_sha256", None)  # the card, not the weights, is what these tests change
    (path / "card.json").write_text(json.dumps(card))


def test_a_card_describing_a_huge_model_is_refused_before_it_is_built(tmp_path, monkeypatch):
    """A small checkpoint whose card says width 512: refused from the header on the meta device; no
    parameter of the described model is ever allocated on the CPU."""
    _, path = _classifier(tmp_path)
    _edit_card(path, arch_kwargs={"width": 512})
    from artextract.nets import registry

    real_create = registry.create_model
    devices = []

    def spy(name, **kw):
        m = real_create(name, **kw)
        devices.append(next(m.parameters()).device.type)
        return m

    monkeypatch.setattr(registry, "create_model", spy)
    with pytest.raises(CheckpointError, match="do not match their card"):
        load_checkpoint(path)
    assert devices == ["meta"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"arch_kwargs": {"_layers": [50, 50, 50, 50]}}, "'_layers' is not allowed"),
        ({"arch_kwargs": {"_block": "bottleneck"}}, "'_block' is not allowed"),
        ({"arch_kwargs": {"width": "64"}}, "'width' must be int"),
        ({"arch_kwargs": []}, "'arch_kwargs' must be an object"),
        ({"heads": {"style": 5}}, "head 'style' must list its class names"),
        ({"heads": ["style"]}, "'heads' must be an object"),
        ({"heads": {"style": [1, 2]}}, "class names must be strings"),
        ({"input_size": "224"}, "'input_size' must be an integer"),
        ({"mean": [0.5, 0.5]}, "'mean' must be a list of 3 numbers"),
        ({"std": [0.2, 0.0, 0.2]}, "'std' values must be positive"),
        ({"arch": 42}, "'arch' must be a registered architecture name"),
    ],
)
def test_malformed_cards_are_one_clear_error(tmp_path, changes, message):
    _, path = _classifier(tmp_path)
    _edit_card(path, **changes)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(path)
    assert "\n" not in str(err.value)


def test_a_malformed_card_is_one_cli_error_line(tmp_path, capsys):
    from artextract import cli

    _, path = _classifier(tmp_path)
    _edit_card(path, heads={"style": 5})
    img = tmp_path / "x.png"
    from PIL import Image

    Image.new("RGB", (32, 32)).save(img)
    assert cli.main(["classify", str(img), "--checkpoint", str(path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("artextract: error:")


def test_a_shapes_only_build_draws_no_random_weights_and_a_real_build_still_does(monkeypatch):
    """The card is checked against the weights on a meta-device build first: random draws there hold no
    values and torch runs them through Python (a fresh process loaded the released ensemble 6x slower with them)."""
    from torch import nn

    draws = []
    real = nn.init.kaiming_normal_
    monkeypatch.setattr(
        nn.init, "kaiming_normal_", lambda t, *a, **k: draws.append(t.is_meta) or real(t, *a, **k)
    )
    with torch.device("meta"):
        probe = create_model("rla_mobilenetv2", heads={"style": 3}, rla_channels=8)
    assert draws == [] and all(p.is_meta for p in probe.parameters())
    model = create_model("rla_mobilenetv2", heads={"style": 3}, rla_channels=8)
    assert draws and not any(draws)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and m.weight.numel() > 1000]
    fan_out = convs[-1].weight.shape[0] * convs[-1].weight[0, 0].numel()
    assert float(convs[-1].weight.detach().std()) == pytest.approx(
        (2.0 / fan_out) ** 0.5, rel=0.2
    )  # He-normal
