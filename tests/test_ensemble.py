"""The ensemble: one model (and one checkpoint) whose logits are its members' mean, refused when malformed."""

from __future__ import annotations

import json

import pytest
import torch

from artextract.errors import CheckpointError
from artextract.nets.checkpoint import load_checkpoint, save_checkpoint
from artextract.nets.registry import create_model

HEADS = {"style": ["baroque", "cubism", "impressionism"], "genre": ["landscape", "portrait"]}
SIZES = {k: len(v) for k, v in HEADS.items()}
MEMBERS = [
    {"arch": "rla_resnet_demo", "arch_kwargs": {}},
    {"arch": "resnet_demo", "arch_kwargs": {"drop_rate": 0.0}},
]

pytestmark = pytest.mark.usefixtures("flush_denormals")


def _ensemble(seed: int = 0):
    torch.manual_seed(seed)
    return create_model("ensemble", members=MEMBERS, heads=SIZES).eval()


def test_logits_are_the_members_mean_and_features_sit_side_by_side():
    ens = _ensemble()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        out, feats, maps = ens(x), ens.forward_features(x), ens.forward_maps(x)
        alone = [m(x) for m in ens.members]
        mfeats = [m.forward_features(x) for m in ens.members]
    assert ens.num_features == sum(m.num_features for m in ens.members) == feats.shape[1]
    torch.testing.assert_close(feats, torch.cat(mfeats, 1))
    assert maps.shape[1] == ens.num_features
    for h in HEADS:
        torch.testing.assert_close(out[h], (alone[0][h] + alone[1][h]) / 2)
    assert ens.head_names == list(HEADS) and ens.heads["style"].out_features == 3
    # not a trivial mean: the members disagree
    assert not torch.allclose(alone[0]["style"], alone[1]["style"])


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (MEMBERS[:1], "2 to 4 members"),
        (MEMBERS * 3, "2 to 4 members"),
        ([MEMBERS[0], {"arch": "ensemble"}], "is an ensemble"),
        ([MEMBERS[0], {"arch": "resnet_demo", "heads": {"x": 2}}], "must be"),
        ([MEMBERS[0], {"arch": "resnet_demo", "arch_kwargs": {"num_classes": 5}}], "may not set"),
    ],
)
def test_malformed_members_are_refused(members, message):
    with pytest.raises(ValueError, match=message):
        create_model("ensemble", members=members, heads=SIZES)


def test_checkpoint_round_trip_is_exact(tmp_path):
    ens = _ensemble()
    out = save_checkpoint(tmp_path / "ens", ens, {"heads": HEADS, "input_size": 64})
    loaded, card = load_checkpoint(out)
    assert card["arch"] == "ensemble" and card["arch_kwargs"] == {"members": MEMBERS}
    assert card["embedding_dim"] == ens.num_features
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        a, b = ens(x), loaded(x)
    for h in HEADS:
        torch.testing.assert_close(a[h], b[h], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([MEMBERS[0]], "must list 2 to 4 networks"),
        ([MEMBERS[0], {"arch": "ensemble", "arch_kwargs": {}}], "member 1 is an ensemble"),
        (
            [MEMBERS[0], {"arch": "resnet_demo", "arch_kwargs": {"_block": "x"}}],
            "member 1 arch_kwargs key '_block'",
        ),
        ([MEMBERS[0], {"arch": "resnet_demo", "code": "import os"}], "member 1 must be"),
        ([MEMBERS[0], {"arch": "no_such_net"}], "unknown model architecture"),
    ],
)
def test_a_hostile_ensemble_card_is_one_clear_error(tmp_path, members, message):
    out = save_checkpoint(tmp_path / "ens", _ensemble(), {"heads": HEADS, "input_size": 64})
    card = json.loads((out / "card.json").read_text())
    card["arch_kwargs"] = {"members": members}
    (out / "card.json").write_text(json.dumps(card))
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(out)
    assert "\n" not in str(err.value)


def test_grad_cam_runs_through_every_member(tmp_path):
    from PIL import Image

    from artextract.explain import grad_cam
    from artextract.infer import Embedder

    out = save_checkpoint(tmp_path / "ens", _ensemble(), {"heads": HEADS, "input_size": 64})
    model, card = load_checkpoint(out)
    emb = Embedder(model, card, precision="fp32", runtime="torch")
    img = Image.effect_noise((80, 80), 40).convert("RGB")
    cams = grad_cam(emb, img, "style", [0, 2], raw=True)
    assert set(cams) == {0, 2} and all(c.shape == cams[0].shape for c in cams.values())
    # with global average pooling and linear heads, the raw CAM sums to the (mean) logit minus the
    # members' mean bias: every member's maps carry their share of the averaged logit
    x = emb.preprocess(img)[None]
    with torch.no_grad():
        logits = emb.model(x)["style"][0]
        bias = sum(m.heads["style"].bias for m in emb.model.members) / 2
    for c in (0, 2):
        assert cams[c].sum() == pytest.approx(float(logits[c] - bias[c]), abs=1e-4)


def _card(**over) -> dict:
    base = {
        "kind": "classifier",
        "heads": HEADS,
        "input_size": 160,
        "mean": [0.5] * 3,
        "std": [0.2] * 3,
        "crop_pct": 1.0,
        "load_size": 184,
        "train_data": {"catalog_sha256": "ab", "n_train": 10, "n_selection": 5, "n_val": 4},
    }
    return {**base, **over}


@pytest.mark.parametrize(
    ("other", "message"),
    [
        (
            _card(heads={"style": ["a", "b", "c"], "genre": ["landscape", "portrait"]}),
            "heads or classes differ",
        ),
        (_card(input_size=128), "input_size 128 differs"),
        (_card(load_size=200), "loaded at another size"),
        (
            _card(train_data={"catalog_sha256": "cd", "n_train": 10, "n_selection": 5, "n_val": 4}),
            "other data",
        ),
        (_card(kind="encoder"), "must be a classifier"),
    ],
)
def test_members_that_do_not_match_are_refused_in_one_line(other, message):
    from artextract.train.ensemble import check_members

    assert check_members([_card(), _card()], ["a", "b"])["load_size"] == 184
    with pytest.raises(CheckpointError, match=message) as err:
        check_members([_card(), other], ["a", "b"])
    assert "\n" not in str(err.value)


def test_members_without_a_selection_set_are_refused():
    from artextract.train.ensemble import check_members

    td = {"catalog_sha256": "ab", "n_train": 10, "n_selection": 0, "n_val": 4}
    with pytest.raises(CheckpointError, match="no selection set"):
        check_members([_card(train_data=td), _card(train_data=td)], ["a", "b"])


@pytest.mark.parametrize("trainer", ["classifier", "byol"])
def test_training_an_ensemble_directly_is_one_clear_line(tmp_path, capsys, trainer):
    """Members are trained apart and joined afterwards; the trainers say so before writing anything."""
    from artextract.train.__main__ import main

    out = tmp_path / "run"
    code = main([trainer, "--arch", "ensemble", "--collection", str(tmp_path / "none"), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "python -m artextract.train ensemble" in err[0]
    assert not out.exists()


def test_the_split_a_checkpoint_was_trained_on_is_rebuilt_or_refused(tmp_path):
    """What the ensemble and open-set commands rely on: the same selection set, or one clear line."""
    from test_train import make_tiny_catalog

    from artextract.catalog import catalog_path
    from artextract.errors import CatalogError
    from artextract.fileio import sha256_file
    from artextract.train.data import split_as_trained

    root = make_tiny_catalog(tmp_path / "tiny", n=40)
    want = {"catalog_sha256": sha256_file(catalog_path(root)), "n_train": 25, "n_selection": 5, "n_val": 10}
    _, rest, sel, y_sel = split_as_trained(root, want)
    assert (len(rest.train), len(sel), len(rest.val), len(y_sel)) == (25, 5, 10, 5)
    _, _, again, _ = split_as_trained(root, want)  # seeded: the very same paintings
    assert list(again["id"]) == list(sel["id"]) and not set(sel["id"]) & set(rest.train["id"])
    with pytest.raises(CatalogError, match="use its collection, selection size and seed") as err:
        split_as_trained(root, {**want, "n_train": 24})
    assert "\n" not in str(err.value)
    with pytest.raises(CatalogError, match="not the catalog the checkpoint was trained on"):
        split_as_trained(root, {**want, "catalog_sha256": "0" * 64})
    with pytest.raises(CatalogError, match="no selection set"):
        split_as_trained(root, {**want, "n_selection": 0})
