import json

import numpy as np
import pytest

from artextract.stages import BuildCancelled, Event, Stage, run_stages


class Ctx:
    def __init__(self, value: int = 1) -> None:
        self.value = value
        self.calls: list[str] = []
        self.manifest: dict = {}


def _write(name: str, steps: int = 3):
    def run(ctx: Ctx, progress) -> None:
        ctx.calls.append(name)
        for i in range(steps):
            progress(i + 1, steps)
        (ctx.out / f"{name}.txt").write_text(str(ctx.value))
        ctx.manifest.setdefault("info", {})[name] = ctx.value

    return run


def _stages() -> list[Stage]:
    return [
        Stage(
            "a",
            inputs=lambda c: (c.value,),
            outputs=lambda c: ["a.txt"],
            run=_write("a"),
            carries=("info.a",),
        ),
        Stage("b", inputs=lambda c: (c.keys["a"], 1), outputs=lambda c: ["b.txt"], run=_write("b")),
        Stage(
            "c",
            inputs=lambda c: (7,),
            outputs=lambda c: ["c.txt"],
            run=_write("c"),
            enabled=lambda c: c.value > 5,
        ),
    ]


def _run(tmp_path, ctx, old=None, **kw):
    ctx.out = tmp_path
    manifest: dict = {"stages": {}}
    ctx.manifest = manifest
    res = run_stages(
        _stages(),
        ctx,
        out=tmp_path,
        manifest=manifest,
        old=old or {},
        manifest_name="m.json",
        log=lambda m: None,
        **kw,
    )
    return res, manifest


def test_runner_skips_fresh_stages_carries_their_fields_and_reruns_downstream_of_a_change(tmp_path):
    events: list[Event] = []
    res, m1 = _run(tmp_path, Ctx(1), on_event=events.append)
    assert res.ran == ["a", "b"] and res.skipped == []  # c is disabled
    assert [e.kind for e in events if e.stage == "a"] == ["start", "progress", "progress", "progress", "done"]
    assert [(e.done, e.total) for e in events if e.kind == "progress" and e.stage == "b"] == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    assert json.loads((tmp_path / "m.json").read_text())["stages"].keys() == {"a", "b"}

    ctx = Ctx(1)
    res, m2 = _run(tmp_path, ctx, old=m1)
    assert res.ran == [] and res.skipped == ["a", "b"] and ctx.calls == []
    assert m2["info"]["a"] == 1  # carried from the previous manifest

    (tmp_path / "b.txt").unlink()  # a missing output makes its stage stale, nothing else
    ctx = Ctx(1)
    res, m3 = _run(tmp_path, ctx, old=m2)
    assert ctx.calls == ["b"]

    ctx = Ctx(9)  # a new input reruns its stage and every stage whose key includes its key
    res, _ = _run(tmp_path, ctx, old=m3)
    assert ctx.calls == ["a", "b", "c"]


def test_cancel_stops_at_the_next_event_and_a_rerun_resumes_after_the_finished_stages(tmp_path):
    seen: list[Event] = []
    with pytest.raises(BuildCancelled, match="cancelled"):
        _run(tmp_path, Ctx(1), on_event=seen.append, cancel=lambda: any(e.stage == "b" for e in seen))
    m = json.loads((tmp_path / "m.json").read_text())
    assert list(m["stages"]) == ["a"]  # b was stopped before it finished: not recorded
    ctx = Ctx(1)
    res, _ = _run(tmp_path, ctx, old=m)
    assert res.skipped == ["a"] and ctx.calls == ["b"]


def test_event_estimates_the_time_left_from_its_rate():
    assert Event("x", "progress", 25, 100, seconds=10.0).eta_seconds() == pytest.approx(30.0)
    assert Event("x", "progress", 0, 100, seconds=1.0).eta_seconds() is None
    assert Event("x", "start").eta_seconds() is None


def test_build_reports_progress_per_stage_and_cancels_mid_embedding_then_resumes(
    tiny_demo, tiny_checkpoints, tmp_path
):
    from artextract.build import BuildConfig, build_bundle

    cfg = BuildConfig(
        collection=tiny_demo["collection"],
        classifier=tiny_checkpoints["classifier"],
        out=tmp_path / "b",
        projections=("tsne",),
        batch_size=16,
    )
    events: list[Event] = []

    def mid_embedding() -> bool:
        return any(e.stage == "classify" and e.done >= 32 for e in events)

    with pytest.raises(BuildCancelled):
        build_bundle(cfg, log=lambda m: None, on_event=events.append, cancel=mid_embedding)
    prog = [e for e in events if e.stage == "classify" and e.kind == "progress"]
    assert prog and prog[-1].total == 120 and 32 <= prog[-1].done < 120  # stopped within a batch or two
    m = json.loads((cfg.out / "manifest.json").read_text())
    assert m["complete"] is False and m["stages"] == {} and not (cfg.out / "embeddings.npy").exists()

    events.clear()
    with pytest.raises(BuildCancelled):  # cancelled once the second stage has started: it finishes
        build_bundle(
            cfg,
            log=lambda m: None,
            on_event=events.append,
            cancel=lambda: any(e.stage == "neighbours" for e in events),
        )
    prog = [e for e in events if e.stage == "classify" and e.kind == "progress"]
    assert len(prog) >= 3 and prog[-1].done == prog[-1].total == 120  # one event per batch at least
    assert [e.done for e in prog] == sorted(e.done for e in prog)
    m = json.loads((cfg.out / "manifest.json").read_text())
    assert m["complete"] is False and list(m["stages"]) == ["classify", "neighbours"]
    report = build_bundle(cfg, log=lambda m: None, on_event=lambda e: None)
    assert report.skipped == ["classify", "neighbours"] and {"tsne", "outliers", "metrics"} <= set(report.ran)
    m = json.loads((cfg.out / "manifest.json").read_text())
    assert m["complete"] is True
    assert np.load(cfg.out / "embeddings.npy").shape[0] == 120
