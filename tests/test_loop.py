"""The one training loop (hooks, resume) and the single k-NN, macro-F1 and label-encoder primitives."""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from artextract.analysis.index import cosine_topk, exact_knn
from artextract.analysis.metrics import confusion_scores
from artextract.labels import encode_labels, pretty_label
from artextract.train import common as C
from artextract.train.loop import Loop, Task

BATCH = 4


class Batches:
    """Sampler and loader in one: ``n`` batches an epoch, a pure function of (epoch, index), resumable."""

    def __init__(self, n: int) -> None:
        self.n, self.epoch, self.start = n, 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        self.epoch, self.start = epoch, start

    def __len__(self) -> int:
        return self.n - self.start // BATCH

    def __iter__(self):
        for i in range(self.start // BATCH, self.n):
            g = torch.Generator().manual_seed(100 * self.epoch + i)
            x = torch.randn(BATCH, 2, 1, 1, generator=g)
            yield x, x.flatten(1).sum(1, keepdim=True)


class Toy(Task):
    name = "toy"
    initial_best = {"loss": float("inf"), "epoch": -1}  # noqa: RUF012

    def __init__(self) -> None:
        self.evaluated: list[int] = []
        self.released: list[int] = []

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output, target)

    def evaluate(self) -> dict:
        self.evaluated.append(len(self.evaluated))
        return {"val": {}}

    def keep(self, metrics: dict, best: dict, epoch: int) -> dict | None:
        return {"loss": 0.0, "epoch": epoch}

    def release(self, best: dict) -> None:
        self.released.append(best["epoch"])


def _loop(out, *, n_batches=5, epochs=3, accum=2, state=None, hooks=(), save_every=0):
    args = argparse.Namespace(
        accum_steps=accum, batch_size=BATCH, epochs=epochs, progress=False, clip_grad=1.0, log_every=1,
        save_every=save_every, sleep_per_step=0.0, seed=0, lr=1e-2, weight_decay=0.0, warmup_epochs=0.0,
        min_lr_factor=0.0,
    )  # fmt: skip
    env = C.DistEnv(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    out.mkdir(parents=True, exist_ok=True)
    run = C.Run(args, env, "fp32", out, state, C.now(), C.JsonlLog(out / C.LOG_NAME))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 1))
    batches = Batches(n_batches)
    opt = C.optimisation(model, batches, run)
    task = Toy()
    loop = Loop(
        task, run, model=model, loader=batches, sampler=batches, opt=opt, strict_keys=(), after_step=hooks
    )
    return loop, task, model, opt


def test_after_step_hooks_run_once_per_optimiser_step_in_order(tmp_path):
    calls = []
    loop, task, _, opt = _loop(tmp_path, epochs=2, hooks=[lambda e, s, loss: calls.append((e, s))])
    history = loop.fit()
    # 5 batches with 2-batch accumulation: 3 optimiser steps an epoch (the last one on a single batch)
    assert calls == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
    assert opt.scheduler.last_epoch == 6 and [r["epoch"] for r in history] == [0, 1]
    assert task.evaluated == [0, 1] and task.released == [0, 1]
    steps = [r for r in C.read_log(tmp_path / C.LOG_NAME) if r["type"] == "step"]
    assert [(r["epoch"], r["step"]) for r in steps] == calls  # the loop's own hook runs after the given ones
    assert C.load_train_state(tmp_path)["epoch"] == 2


def test_a_diverged_loss_stops_the_loop_with_the_tasks_message(tmp_path):
    loop, task, _, _ = _loop(tmp_path, epochs=1)
    task.loss = lambda output, target: output.sum() * float("nan")
    with pytest.raises(Exception, match="diverged at epoch 1 step 1"):
        loop.fit()


def test_resume_continues_mid_epoch_and_ends_where_an_uninterrupted_run_does(tmp_path):
    whole, _, model_whole, _ = _loop(tmp_path / "whole")
    whole.fit()

    class Kill(Exception):
        pass

    def kill(epoch: int, step: int, loss: float) -> None:
        if (epoch, step) == (1, 2):  # the training state of (1, 1) was saved by the step before
            raise Kill

    first, _, _, _ = _loop(tmp_path / "cut", hooks=[kill], save_every=1)
    with pytest.raises(Kill):
        first.fit()
    state = C.load_train_state(tmp_path / "cut")
    assert (state["epoch"], state["step"]) == (1, 1)

    calls = []
    again, task, model, _ = _loop(
        tmp_path / "cut", state=state, save_every=1, hooks=[lambda e, s, loss: calls.append((e, s))]
    )
    assert (again.epoch, again.step) == (1, 1)
    history = again.fit()
    assert calls == [(1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert [r["epoch"] for r in history] == [1, 2] and task.evaluated == [0, 1]
    recs = C.read_log(tmp_path / "cut" / C.LOG_NAME)
    assert [(r["epoch"], r["step"]) for r in recs if r["type"] == "resume"] == [(1, 1)]
    assert [r["epoch"] for r in recs if r["type"] == "epoch"] == [0, 1, 2]
    for a, b in zip(model.parameters(), model_whole.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------ primitives
def test_cosine_topk_is_exact_knn_and_excludes_the_query_itself():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 6)).astype(np.float32)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    idx, sims = cosine_topk(unit, unit, 5, chunk=7)
    ref_idx, ref_sims = exact_knn(x, x, 5)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_allclose(sims, ref_sims, rtol=1e-6)
    assert (idx[:, 0] == np.arange(50)).all()  # each vector is its own nearest
    loo, loo_sims = cosine_topk(unit, unit, 4, exclude=np.arange(50), chunk=7)
    np.testing.assert_array_equal(loo, idx[:, 1:])  # without itself: the next four, in order
    np.testing.assert_allclose(loo_sims, sims[:, 1:], rtol=1e-6)
    with pytest.raises(Exception, match="k=50"):
        cosine_topk(unit, unit, 50, exclude=np.arange(50))


def test_confusion_scores_match_sklearn_macro_f1():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(1)
    t, p = rng.integers(0, 5, 80), rng.integers(0, 5, 80)
    p[p == 4] = 3  # class 4 is never predicted: recall 0, precision undefined (0)
    cm = np.zeros((6, 6), dtype=np.int64)  # class 5: neither true nor predicted, left out of the mean
    np.add.at(cm, (t, p), 1)
    s = confusion_scores(cm)
    assert s["macro_f1"] == pytest.approx(f1_score(t, p, average="macro"))
    assert s["precision"][4] == 0.0 and s["f1"][5] == 0.0
    assert np.isnan(confusion_scores(np.zeros((3, 3)))["macro_f1"])


def test_one_label_encoder_for_columns_and_label_matrices():
    from artextract.train.data import label_matrix

    assert encode_labels(["b", "", "zz", "a"], ["a", "b"]).tolist() == [1, -1, -1, 0]
    assert encode_labels([], ["a"]).dtype == np.int64
    df = pd.DataFrame({"style": ["A", "Z"], "genre": ["g", ""]})
    assert label_matrix(df, {"style": ["A"], "genre": ["g"]}).tolist() == [[0, 0], [-1, -1]]


def test_class_names_read_as_a_curator_writes_them():
    """The ArtGAN class names are ASCII with underscores; the app shows WikiArt's and the museums' spelling."""
    shown = {
        "Pop_Art": "Pop Art",
        "Ukiyo_e": "Ukiyo-e",
        "Naive_Art_Primitivism": "Naïve Art (Primitivism)",
        "Post_Impressionism": "Post-Impressionism",
        "Paul_Cezanne": "Paul Cézanne",
        "Pierre_Auguste_Renoir": "Pierre-Auguste Renoir",
        "Salvador_Dali": "Salvador Dalí",
        "Albrecht_Durer": "Albrecht Dürer",
        "genre_painting": "genre painting",
        "Claude Monet": "Claude Monet",  # a catalog that already writes names with spaces
        "(unlabelled)": "(unlabelled)",
    }
    assert {k: pretty_label(k) for k in shown} == shown
