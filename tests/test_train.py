"""Training: label masking, the masked loss, sharding, metrics, CPU smoke runs, resume after SIGKILL,
a 2-process torchrun run and the comparison table. Data: a tiny seeded synthetic catalog in tmp_path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from artextract.catalog import write_catalog
from artextract.errors import CatalogError, CheckpointError
from artextract.train import common as C
from artextract.train.__main__ import main
from artextract.train.byol import knn_probe
from artextract.train.classifier import MaskedMultiHeadLoss, head_metrics
from artextract.train.data import ShardSampler, split_catalog
from artextract.train.data import label_matrix as encode_labels

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
TINY_MODEL = ["--arch", "rla_resnet_demo", "--width", "8", "--rla-channels", "4", "--img-size", "32"]
FAST = ["--workers", "0", "--no-progress", "--precision", "fp32"]


def make_tiny_catalog(root: Path, n: int = 24, size: int = 40, seed: int = 0) -> Path:
    """``n`` tiny JPEGs: style = dominant colour channel, artist = stripe spacing, genre = a bright half.

    Every 5th painting has no artist and every 7th no genre (masked labels); every 4th is in val.
    """
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        s, a, g = i % 3, (i // 3) % 2, (i // 2) % 2
        img = rng.integers(0, 50, (size, size, 3))
        img[..., s] += 150
        img[:: 3 + 3 * a] += 60
        img[:, : size // 2] += 40 * g
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(root / "images" / f"p{i}.jpg", quality=90)
        rows.append(
            {
                "id": f"p{i}",
                "image": f"images/p{i}.jpg",
                "title": f"painting {i}",
                "artist": ["Ann", "Bo"][a] if i % 5 else "",
                "date": "",
                "style": ["Aa", "Bb", "Cc"][s],
                "genre": ["land", "port"][g] if i % 7 else "",
                "split": "val" if i % 4 == 0 else "train",
                "source": "test",
                "source_url": "",
                "license": "",
            }
        )
    write_catalog(pd.DataFrame(rows), root)
    return root


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return make_tiny_catalog(tmp_path / "tiny")


# ----------------------------------------------------------------------------------------- labels, loss
def _cat(rows: list[dict]) -> pd.DataFrame:
    from artextract.catalog import COLUMNS

    base = dict.fromkeys(COLUMNS, "")
    return pd.DataFrame([{**base, "id": str(i), "image": f"{i}.jpg", **r} for i, r in enumerate(rows)])


def test_vocab_from_train_rows_and_missing_labels_are_masked():
    df = _cat(
        [
            {"style": "A", "artist": "x", "genre": "g", "split": "train"},
            {"style": "B", "artist": "", "genre": "g", "split": "train"},
            {"style": "A", "artist": "y", "genre": "g", "split": "train"},
            {"style": "C", "artist": "x", "genre": "g", "split": "val"},  # C never in train -> masked
            {"style": "", "artist": "y", "genre": "g", "split": "val"},
        ]
    )
    split = split_catalog(df)
    assert split.heads == {"style": ["A", "B"], "artist": ["x", "y"]}  # genre has one class: no head
    assert split.y_train.tolist() == [[0, 0], [1, -1], [0, 1]]
    assert split.y_val.tolist() == [[-1, 0], [-1, 1]]
    assert split.val_source == "split column"


def test_no_val_rows_holds_out_a_seeded_fraction():
    df = _cat([{"style": "AB"[i % 2], "split": ""} for i in range(40)])
    a, b = (
        split_catalog(df, ["style"], holdout=0.25, seed=3),
        split_catalog(df, ["style"], holdout=0.25, seed=3),
    )
    assert len(a.val) == 10 and len(a.train) == 30
    assert list(a.val["id"]) == list(b.val["id"]) and "held out" in a.val_source
    assert not set(a.val["id"]) & set(a.train["id"])


def test_nothing_to_classify_says_why():
    with pytest.raises(CatalogError, match="classes"):
        split_catalog(_cat([{"style": "A", "split": "train"}, {"style": "A", "split": "val"}]))


def test_masked_loss_equals_loss_over_labelled_rows_only():
    torch.manual_seed(0)
    logits = {"style": torch.randn(6, 3, requires_grad=True), "artist": torch.randn(6, 4, requires_grad=True)}
    y = torch.tensor([[0, -1], [1, 2], [-1, 3], [2, -1], [0, 0], [-1, -1]])
    crit = MaskedMultiHeadLoss(["style", "artist"])
    total, parts = crit(logits, y)
    with torch.no_grad():
        want_s = torch.nn.functional.cross_entropy(logits["style"][y[:, 0] >= 0], y[:, 0][y[:, 0] >= 0])
        want_a = torch.nn.functional.cross_entropy(logits["artist"][y[:, 1] >= 0], y[:, 1][y[:, 1] >= 0])
    assert parts["style"] == pytest.approx(float(want_s), rel=1e-5)
    assert parts["artist"] == pytest.approx(float(want_a), rel=1e-5)
    assert float(total.detach()) == pytest.approx((float(want_s) + float(want_a)) / 2, rel=1e-5)
    total.backward()
    assert torch.all(logits["style"].grad[y[:, 0] < 0] == 0)  # masked rows get no gradient
    assert torch.any(logits["style"].grad[y[:, 0] >= 0] != 0)


def test_masked_loss_with_a_fully_unlabelled_head_is_finite_and_zero_for_it():
    logits = {"style": torch.randn(4, 3, requires_grad=True), "genre": torch.randn(4, 2, requires_grad=True)}
    y = torch.tensor([[0, -1], [1, -1], [2, -1], [0, -1]])
    total, parts = MaskedMultiHeadLoss(["style", "genre"], label_smoothing=0.1)(logits, y)
    assert torch.isfinite(total) and parts["genre"] == 0.0
    total.backward()
    assert logits["genre"].grad is not None and torch.all(logits["genre"].grad == 0)


def test_class_weighted_masked_loss_matches_torch_weighted_mean():
    from artextract.train.data import class_weights

    y_train = np.array([0, 0, 0, 1, -1, 2])
    w = class_weights(y_train, 3, "inverse")
    assert w[0] < w[1] == w[2]
    logits = {"style": torch.randn(5, 3)}
    y = torch.tensor([[0], [1], [-1], [2], [0]])
    total, _ = MaskedMultiHeadLoss(["style"], weights={"style": w})(logits, y)
    m = y[:, 0] >= 0
    want = torch.nn.functional.cross_entropy(logits["style"][m], y[m, 0], weight=w)
    assert float(total) == pytest.approx(float(want), rel=1e-5)


def test_encode_labels_unknown_class_is_minus_one():
    df = pd.DataFrame({"style": ["A", "Z", ""]})
    assert encode_labels(df, {"style": ["A", "B"]})[:, 0].tolist() == [0, -1, -1]


# ------------------------------------------------------------------------------------ sampler, metrics
def test_shard_sampler_splits_an_epoch_between_ranks_and_resumes_mid_epoch():
    shards = [ShardSampler(10, num_replicas=3, rank=r, seed=5) for r in range(3)]
    for s in shards:
        s.set_epoch(2)
    seen = [list(s) for s in shards]
    assert all(len(x) == 4 for x in seen)  # padded to equal length for DDP
    assert set(sum(seen, [])) == set(range(10))
    again = ShardSampler(10, num_replicas=3, rank=1, seed=5)
    again.set_epoch(2, start=2)
    assert list(again) == seen[1][2:] and len(again) == 2
    other = ShardSampler(10, num_replicas=3, rank=1, seed=5)
    other.set_epoch(3)
    assert list(other) != seen[1]  # a new order each epoch
    ev = [list(ShardSampler(10, num_replicas=3, rank=r, shuffle=False, pad=False)) for r in range(3)]
    assert sorted(sum(ev, [])) == list(range(10))  # eval: every item exactly once


def test_head_metrics_match_sklearn():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    t, p = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    p[:20] = t[:20]
    cm = torch.zeros(4, 4, dtype=torch.int64)
    for a, b in zip(t, p, strict=True):
        cm[a, b] += 1
    m = head_metrics(cm, top5_correct=50, k=5)
    assert m["top1"] == pytest.approx(float((t == p).mean()))
    assert m["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert m["n"] == 50 and m["chance"] == 0.25 and m["top5"] == 1.0


def test_knn_probe_separates_clusters_and_excludes_self():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 10)
    feats = torch.tensor(np.eye(3)[labels] + 0.05 * rng.standard_normal((30, 3)), dtype=torch.float32)
    good = knn_probe(feats, labels, np.zeros(30, bool), k=5)
    assert good["top1"] == 1.0 and good["n"] == 30
    shuffled = knn_probe(feats, rng.permutation(labels), np.zeros(30, bool), k=5)
    assert shuffled["top1"] < 0.7
    # a singleton class cannot be found once the painting itself is excluded
    single = knn_probe(torch.eye(3), np.array([0, 1, 2]), np.zeros(3, bool), k=1)
    assert single["top1"] == 0.0


def test_warmup_cosine_schedule_shape():
    f = C.warmup_cosine(100, 10, min_factor=0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and f(100) == pytest.approx(0.1)
    assert f(30) > f(60) > f(90)


def test_schedule_object_is_saved_with_the_scheduler_and_budget_cuts_epochs():
    model = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    plan = C.warmup_cosine(100, 10, 0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, plan)
    plan.total_steps = 40  # a re-planned schedule travels in the scheduler's state (resume keeps it)
    fresh = C.warmup_cosine(100, 10, 0.0)
    again = torch.optim.lr_scheduler.LambdaLR(torch.optim.SGD(model.parameters(), lr=1.0), fresh)
    again.load_state_dict(sched.state_dict())
    assert fresh.total_steps == 40 and fresh(40) == pytest.approx(0.0)
    env = C.DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    # 10 minutes, 2 used, 1.5 per epoch, 1 done: 1 + 5 more fit
    assert C.epochs_within_budget(600, 120, 90, 1, 30, env) == 6
    assert C.epochs_within_budget(600, 120, 90, 1, 4, env) == 4  # never more than planned
    assert C.epochs_within_budget(60, 120, 90, 1, 30, env) == 1  # over budget: stop after what is done


def test_train_state_is_atomic_and_loads_weights_only(tmp_path):
    C.seed_everything(1)
    state = {"model": {"w": torch.randn(3)}, "epoch": 2, "step": 0, "rng": [C.rng_state()]}
    want = (torch.rand(2), np.random.rand(2), __import__("random").random())
    C.save_train_state(tmp_path, state)
    back = C.load_train_state(tmp_path)
    assert back["epoch"] == 2 and torch.equal(back["model"]["w"], state["model"]["w"])
    C.seed_everything(7)
    C.set_rng_state(back["rng"][0])  # torch, numpy and python streams continue where they were saved
    got = (torch.rand(2), np.random.rand(2), __import__("random").random())
    assert torch.equal(got[0], want[0]) and np.array_equal(got[1], want[1]) and got[2] == want[2]
    assert not list(tmp_path.glob(".*.tmp"))
    (tmp_path / C.STATE_NAME).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="overwrite"):
        C.load_train_state(tmp_path)


# ------------------------------------------------------------------------------------------ smoke runs
def _records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_classifier_cpu_smoke_writes_a_loadable_checkpoint_log_and_curves(tiny, tmp_path):
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "clf"
    argv = ["classifier", "--collection", str(tiny), "--out", str(out), *TINY_MODEL, *FAST]
    assert main([*argv, "--epochs", "2", "--batch-size", "4", "--log-every", "1", "--lr", "3e-3"]) == 0
    for name in ("model.safetensors", "card.json", "train_state.pt", "log.jsonl", "curves.png", "args.yaml"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model, card = load_checkpoint(out)
    assert card["kind"] == "classifier" and card["heads"]["style"] == ["Aa", "Bb", "Cc"]
    assert set(card["heads"]) == {"style", "artist", "genre"} and card["input_size"] == 32
    epochs = [r for r in _records(out) if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    for r in epochs:
        for head in ("style", "artist", "genre"):
            m = r["val"][head]
            assert 0 <= m["top1"] <= m["top5"] <= 1 and 0 <= m["macro_f1"] <= 1
        assert r["val"]["artist"]["n"] < 6  # the val painting without an artist is not counted
    best = max(epochs, key=lambda r: r["mean_top1"])
    assert card["metrics"]["mean_top1"] == pytest.approx(best["mean_top1"])
    assert C.load_train_state(out)["epoch"] == 2
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 32, 32))["artist"].shape == (1, 2)


@pytest.mark.slow
def test_time_budget_stops_after_the_epochs_that_fit_and_ends_the_schedule(tiny, tmp_path):
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "budget"
    argv = ["classifier", "--collection", str(tiny), "--out", str(out), *TINY_MODEL, *FAST]
    assert main([*argv, "--epochs", "5", "--batch-size", "4", "--time-budget", "0.0001"]) == 0
    epochs = [r for r in _records(out) if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0]  # only the first epoch fitted
    state = C.load_train_state(out)
    sched = state["scheduler"]  # the re-planned cosine ends where training ended
    assert state["epoch"] == 1 and sched["lr_lambdas"][0]["total_steps"] == sched["last_epoch"]
    _, card = load_checkpoint(out)
    assert card["training"]["time_budget_min"] == pytest.approx(0.0001)
    assert card["training"]["epochs_planned"] == 5


def test_existing_state_needs_resume_or_overwrite(tiny, tmp_path, capsys):
    out = tmp_path / "clf"
    argv = ["classifier", "--collection", str(tiny), "--out", str(out), *TINY_MODEL, *FAST, "--epochs", "1"]
    assert main(argv) == 0
    assert main(argv) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*argv, "--resume"]) == 0  # already complete: nothing to do
    assert [r["epoch"] for r in _records(out) if r["type"] == "epoch"] == [0]
    assert main([*argv, "--resume", "--epochs", "2"]) == 2  # a different plan is refused, not mixed
    assert "epochs" in capsys.readouterr().err


def test_unknown_command_and_bad_attribute_are_one_line_errors(tiny, tmp_path, capsys):
    assert main(["clasifier"]) == 2
    assert "valid: classifier, byol, compare" in capsys.readouterr().err
    argv = [
        "classifier",
        "--collection",
        str(tiny),
        "--out",
        str(tmp_path / "x"),
        "--attributes",
        "mood",
        *FAST,
    ]
    assert main(argv) == 2
    assert "valid: style, artist, genre" in capsys.readouterr().err


@pytest.mark.slow
def test_byol_cpu_smoke_releases_an_encoder(tiny, tmp_path):
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "byol"
    argv = ["byol", "--collection", str(tiny), "--out", str(out), "--arch", "resnet_demo", "--width", "8"]
    argv += [
        "--img-size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--hidden-dim",
        "32",
        "--projection-dim",
        "16",
    ]
    assert main([*argv, *FAST, "--knn-k", "3"]) == 0
    enc, card = load_checkpoint(out)
    assert card["kind"] == "encoder" and card["heads"] == {} and card["embedding_dim"] == enc.num_features
    assert set(card["metrics"]["knn"]) == {"style", "artist", "genre"}
    recs = [r for r in _records(out) if r["type"] == "epoch"]
    assert len(recs) == 2 and all(np.isfinite(r["train_loss"]) for r in recs)
    assert recs[1]["tau"] > recs[0]["tau"]  # the EMA rate follows its schedule towards 1
    state = C.load_train_state(out)
    assert any(k.startswith("target_encoder.") for k in state["model"])  # the EMA target resumes too


# ---------------------------------------------------------------------------------- resume, torchrun
def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.mark.slow
def test_resume_after_sigkill_mid_epoch_finishes_the_planned_epochs(tiny, tmp_path):
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "run"
    cmd = [
        PY,
        "-m",
        "artextract.train",
        "classifier",
        "--collection",
        str(tiny),
        "--out",
        str(out),
        *TINY_MODEL,
    ]
    cmd += [*FAST, "--epochs", "3", "--batch-size", "2", "--save-every", "1", "--log-every", "1"]
    proc = subprocess.Popen(
        [*cmd, "--sleep-per-step", "0.25"],
        env=_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        log = out / "log.jsonl"
        recs = C.read_log(log) if log.exists() else []
        steps = [r for r in recs if r["type"] == "step" and r["epoch"] == 1 and r["step"] >= 3]
        if steps:
            proc.send_signal(signal.SIGKILL)
            killed_at = steps[-1]
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None, proc.stdout.read().decode()[-2000:]
    assert proc.returncode == -signal.SIGKILL
    state = C.load_train_state(out)  # whatever moment the kill hit, the state file is complete
    assert state["epoch"] == 1 and 1 <= state["step"] < 9  # a mid-epoch state (12 steps per epoch)
    load_checkpoint(out)  # so is the released checkpoint

    done = subprocess.run(
        [*cmd, "--resume"], env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "resumed from" in done.stdout
    recs = _records(out)
    resume = [r for r in recs if r["type"] == "resume"]
    assert resume and resume[-1]["epoch"] == 1 and resume[-1]["step"] >= 1
    assert [r["epoch"] for r in recs if r["type"] == "epoch"] == [0, 1, 2]
    final = C.load_train_state(out)
    assert final["epoch"] == 3 and final["step"] == 0
    model, card = load_checkpoint(out)
    assert card["training"]["epochs_planned"] == 3 and 1 <= card["metrics"]["epoch"] <= 3


@pytest.mark.slow
def test_torchrun_two_processes_one_epoch(tiny, tmp_path):
    from artextract.catalog import read_catalog
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "ddp"
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "artextract.train", "classifier"]
    cmd += [
        "--collection",
        str(tiny),
        "--out",
        str(out),
        *TINY_MODEL,
        *FAST,
        "--epochs",
        "1",
        "--batch-size",
        "4",
    ]
    res = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    _, card = load_checkpoint(out)
    assert card["training"]["world_size"] == 2
    n_val = int((read_catalog(tiny)["split"] == "val").sum())
    (epoch,) = [r for r in _records(out) if r["type"] == "epoch"]  # one writer: rank 0
    assert epoch["val"]["style"]["n"] == n_val  # metrics summed over both ranks' shards
    assert res.stdout.count("epoch 1/1") == 1  # only rank 0 reports


# ------------------------------------------------------------------------------------------- compare
@pytest.mark.slow
def test_compare_writes_a_results_table_with_both_models(tiny, tmp_path):
    from artextract.train.compare import main as compare_main

    argv = [
        "--collection",
        str(tiny),
        "--results",
        str(tmp_path / "results"),
        "--models",
        str(tmp_path / "m"),
    ]
    argv += ["--name", "t", "--width", "8", "--img-size", "32", "--epochs", "1", "--batch-size", "8", *FAST]
    assert compare_main(argv) == 0
    md = (tmp_path / "results" / "t.md").read_text()
    assert "| rla_resnet_demo |" in md and "| resnet_demo |" in md
    assert md.count("| style |") == 3  # both models + the difference table
    data = json.loads((tmp_path / "results" / "t.json").read_text())
    assert [r["arch"] for r in data["runs"]] == ["rla_resnet_demo", "resnet_demo"]
    assert data["runs"][0]["params"] != data["runs"][1]["params"]


@pytest.mark.slow
def test_init_imagenet_from_a_local_file_and_offline_message(tiny, tmp_path, monkeypatch, capsys):
    """--init imagenet with a local torchvision state dict loads the backbone; offline without one: one line."""
    import torchvision

    from artextract.nets import checkpoint as ckpt

    weights = tmp_path / "resnet18-imagenet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), weights)
    out = tmp_path / "init"
    argv = ["classifier", "--collection", str(tiny), "--out", str(out), "--arch", "rla_resnet18",
            "--img-size", "32", "--epochs", "1", "--batch-size", "8", *FAST]  # fmt: skip
    assert main([*argv, "--init", "imagenet", "--imagenet-weights", str(weights)]) == 0
    said = capsys.readouterr()
    assert "loaded" in (said.out + said.err).lower()

    def offline(name):
        raise OSError("no route to host")

    monkeypatch.setattr(ckpt, "_download_torchvision_state_dict", offline)
    assert main([*argv, "--init", "imagenet", "--overwrite"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ImageNet weights" in err[0] and "path" in err[0]


def test_byol_releases_the_last_epoch_unless_told_to_select_on_the_probe(tiny_demo, tmp_path):
    """Selection and reporting never share data by default: the probe only watches."""
    from artextract.train.byol import main

    argv = ["--collection", str(tiny_demo["reference"]), "--arch", "resnet_demo", "--img-size", "48",
            "--epochs", "2", "--batch-size", "16", "--workers", "0", "--no-progress", "--knn-k", "3"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path / "last")]) == 0
    card = json.loads((tmp_path / "last" / "card.json").read_text())
    assert card["metrics"]["epoch"] == 2 and card["selected_on"].startswith("last epoch")
    assert main([*argv, "--out", str(tmp_path / "probe"), "--select", "probe"]) == 0
    card = json.loads((tmp_path / "probe" / "card.json").read_text())
    assert "probe" in card["selected_on"]


def test_selection_set_chooses_and_val_is_reported_once_also_under_torchrun(tiny, tmp_path):
    """--selection-size: epochs compared on train paintings carved out; val evaluated once at the end."""
    from artextract.catalog import read_catalog
    from artextract.nets.checkpoint import load_checkpoint

    out = tmp_path / "sel"
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "artextract.train", "classifier"]
    cmd += ["--collection", str(tiny), "--out", str(out), *TINY_MODEL, *FAST, "--epochs", "2",
            "--batch-size", "4", "--selection-size", "12"]  # fmt: skip
    res = subprocess.run(cmd, env=_env(), cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    _, card = load_checkpoint(out)
    epochs = [r for r in _records(out) if r["type"] == "epoch"]
    assert all(r["evaluated_on"] == "selection" and r["val"]["style"]["n"] <= 12 for r in epochs)
    n_val = int((read_catalog(tiny)["split"] == "val").sum())
    assert card["metrics"]["style"]["n"] == n_val  # the report: all of val, summed over both ranks
    assert card["selection_metrics"]["style"]["n"] <= 12
    assert card["train_data"]["n_selection"] == 12 and card["training"]["wall_s"] > 0
    assert "carved out" in card["selected_on"]


def test_flip_evaluation_averages_each_painting_and_its_mirror() -> None:
    """--report-flip: the reported logits are the mean of the image's and its mirror image's."""
    from artextract.train.classifier import evaluate

    class LeftEdge(torch.nn.Module):  # class 0's logit is the top-left pixel; class 1's a constant 0.5
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"style": torch.stack([x[:, 0, 0, 0], torch.full_like(x[:, 0, 0, 0], 0.5)], dim=1)}

    x = torch.zeros(1, 3, 4, 4)
    x[0, 0, 0, 0] = 0.8  # bright on the left only: class 0 alone, class 1 once mirrored and averaged
    loader = [(x, torch.tensor([[1]]))]
    env = C.DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    heads = {"style": ["a", "b"]}
    plain = evaluate(LeftEdge(), loader, heads, env=env, precision="fp32")
    flipped = evaluate(LeftEdge(), loader, heads, env=env, precision="fp32", flip=True)
    assert plain["val"]["style"]["top1"] == 0.0 and flipped["val"]["style"]["top1"] == 1.0
    assert flipped["val_loss"] == pytest.approx(float(-torch.log_softmax(torch.tensor([0.4, 0.5]), 0)[1]))
