"""Collections from a ZIP or a server folder: what is refused, the validation report, the written
collection, and background build jobs (progress, cancel, interruption, resume)."""

from __future__ import annotations

import io
import json
import os
import stat
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from artextract import imports, jobs
from artextract.imports import ImportRefused


def jpeg(seed: int, size=(64, 48)) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)).resize(size)
    buf = io.BytesIO()
    img.save(buf, format="JPEG")
    return buf.getvalue()


def make_zip(entries: dict[str, bytes], links: tuple[str, ...] = (), compress=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compress) as z:
        for name, data in entries.items():
            z.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_zip_entries_outside_the_archive_links_and_non_images_are_refused_or_skipped():
    data = make_zip(
        {
            "a/one.jpg": jpeg(1),
            "two.PNG": jpeg(2),
            "../up.jpg": jpeg(3),
            "/abs.jpg": jpeg(4),
            "C:/win.jpg": jpeg(5),
            "notes.txt": b"hi",
            "__MACOSX/._one.jpg": b"x",
            "catalog.csv": b"file,title\none.jpg,One\n",
        },
        links=("a/link.jpg",),
    )
    src = imports.read_zip(data)
    assert sorted(src.files) == ["a/one.jpg", "two.PNG"]
    why = dict(src.skipped)
    assert why["../up.jpg"].startswith("refused") and why["/abs.jpg"].startswith("refused")
    assert why["C:/win.jpg"].startswith("refused") and "link" in why["a/link.jpg"]
    assert why["notes.txt"] == "not an image (.txt)" and "__MACOSX/._one.jpg" not in why
    assert src.csv == b"file,title\none.jpg,One\n"


def test_zip_bombs_and_oversized_archives_are_refused():
    bomb = make_zip({"big.jpg": b"\0" * 5_000_000}, compress=zipfile.ZIP_DEFLATED)
    with pytest.raises(ImportRefused, match="zip bomb"):
        imports.read_zip(bomb)
    with pytest.raises(ImportRefused, match="unpacks to"):
        imports.read_zip(make_zip({"a.jpg": jpeg(1), "b.jpg": jpeg(2)}), max_bytes=1000)
    with pytest.raises(ImportRefused, match="entries"):
        imports.read_zip(make_zip({f"{i}.jpg": jpeg(i) for i in range(5)}), max_entries=3)
    with pytest.raises(ImportRefused, match="not a readable ZIP"):
        imports.read_zip(b"PK\x03\x04 broken")


def test_server_folders_are_confined_to_the_import_root(tmp_path):
    root = tmp_path / "incoming"
    (root / "prints" / "batch1").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    os.symlink(tmp_path / "secret", root / "sneaky")
    assert imports.resolve_folder("prints/batch1", root) == (root / "prints" / "batch1").resolve()
    for bad in ("../secret", "/etc", "prints/../../secret", "C:/x", "", "sneaky"):
        with pytest.raises(ImportRefused):
            imports.resolve_folder(bad, root)
    assert imports.server_folders(root) == ["prints", "prints/batch1"]  # links are not listed
    for bad in ("../x", ".hidden", "a/b", "", "x" * 65, "with space"):
        with pytest.raises(ImportRefused):
            imports.check_name(bad)
    assert imports.check_name(" prints-2026 ") == "prints-2026"


def test_validation_report_and_the_written_collection(tmp_path):
    files = {f"p/{i}.jpg": jpeg(i) for i in range(6)}
    files["p/same-as-0.jpg"] = files["p/0.jpg"]
    files["p/broken.jpg"] = b"\xff\xd8 not a jpeg"
    src = imports.read_zip(make_zip({**files, "readme.md": b"#"}))
    csv = imports.read_csv(
        b"File Name,Title,Painter,Year,Movement\n0.jpg,Zero,Ann,1900,Cubism\n3.JPG,Three,Bo,1901,\n"
        b"gone.jpg,Gone,Cy,1902,\n"
    )
    mapping = imports.guess_mapping(csv.columns)
    assert mapping == {
        "image": "File Name",
        "title": "Title",
        "artist": "Painter",
        "date": "Year",
        "style": "Movement",
    }
    seen = []
    rep, catalog = imports.validate(src, csv, mapping, progress=lambda d, t: seen.append((d, t)))
    assert (rep.images, rep.usable, rep.rows, rep.matched) == (8, 6, 3, 2)
    assert rep.missing == ["gone.jpg"] and [n for n, _ in rep.unreadable] == ["p/broken.jpg"]
    assert rep.duplicates == [["p/0.jpg", "p/same-as-0.jpg"]] and rep.unlisted == 4
    assert [n for n, _ in rep.skipped] == ["readme.md"] and seen[-1] == (8, 8)
    assert len(catalog) == 6 and catalog.set_index("image").loc["p/0.jpg", "artist"] == "Ann"
    assert any("1 missing" in line for line in rep.lines())
    with pytest.raises(ImportRefused, match="column that holds"):
        imports.validate(src, csv, {"title": "Title"})

    dest = imports.write_collection(src, catalog, tmp_path / "mine", source="zip")
    from artextract.catalog import image_path, read_catalog

    cat = read_catalog(dest)
    assert len(cat) == 6 and cat["id"].is_unique and set(cat["source"]) == {"zip"}
    assert cat.loc[cat["original_name"] == "p/3.jpg", "title"].item() == "Three"
    assert all(image_path(dest, r).is_file() for r in cat["image"])
    with pytest.raises(ImportRefused, match="already exists"):
        imports.write_collection(src, catalog, dest, source="zip")
    with pytest.raises(ImportRefused, match="cannot be read"):
        imports.read_csv(b"")


def _cfg(coll: Path, out: Path, tiny_checkpoints, **kw):
    from artextract.build import BuildConfig

    return BuildConfig(
        collection=coll,
        classifier=tiny_checkpoints["classifier"],
        out=out,
        projections=("tsne",),
        progress=False,
        **kw,
    )


def _wait(folder: Path, states=("done", "failed", "cancelled", "interrupted"), timeout=240):
    t0 = time.time()
    while time.time() - t0 < timeout:
        st = jobs.status(folder)
        if st.status in states:
            return st
        time.sleep(0.3)
    raise AssertionError(f"job still {jobs.status(folder).status}")


def test_a_job_builds_in_its_own_process_and_reports_each_stage(tiny_demo, tiny_checkpoints, tmp_path):
    out = tmp_path / "artifacts" / "tiny"
    folder = jobs.start("tiny", _cfg(tiny_demo["collection"], out, tiny_checkpoints), root=tmp_path / "jobs")
    st = _wait(folder)
    assert st.status == "done", (st.error, (folder / "log.txt").read_text()[-2000:])
    names = [s.stage for s in st.stages]
    assert names[:2] == ["classify", "neighbours"] and "duplicates" in names
    assert all(s.state == "done" and s.fraction == 1.0 for s in st.stages)
    events = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "progress" and e["stage"] == "classify" for e in events)
    assert json.loads((out / "manifest.json").read_text())["complete"] is True
    assert [j.name for j in jobs.list_jobs(tmp_path / "jobs")] == ["tiny"]
    with pytest.raises(Exception, match="already running"):
        (folder / "job.json").write_text(
            json.dumps({**json.loads((folder / "job.json").read_text()), "status": "running"})
        )
        (folder / "heartbeat").touch()
        jobs.start("tiny", _cfg(tiny_demo["collection"], out, tiny_checkpoints), root=tmp_path / "jobs")


def test_cancel_interrupt_and_resume(tiny_demo, tiny_checkpoints, tmp_path, monkeypatch):
    out = tmp_path / "artifacts" / "c"
    root = tmp_path / "jobs"
    folder = jobs.start("c", _cfg(tiny_demo["collection"], out, tiny_checkpoints, batch_size=8), root=root)
    jobs.cancel(folder)  # before the first batch: stops at the first progress event
    st = _wait(folder)
    assert st.status == "cancelled" and st.resumable
    assert json.loads((out / "manifest.json").read_text())["complete"] is False  # never a half bundle
    # a job whose process died (no heartbeat) reads as interrupted and resumes
    meta = json.loads((folder / "job.json").read_text())
    (folder / "job.json").write_text(json.dumps({**meta, "status": "running"}))
    old = time.time() - 3600
    os.utime(folder / "heartbeat", (old, old))
    assert jobs.status(folder).status == "interrupted"
    jobs.resume(folder)
    st = _wait(folder)
    assert st.status == "done" and json.loads((out / "manifest.json").read_text())["complete"] is True
    # a damaged job folder reads as failed, without raising
    (folder / "job.json").write_text("{nope")
    assert jobs.status(folder).status == "failed"


def test_a_failed_build_says_why(tiny_checkpoints, tmp_path):
    coll = tmp_path / "coll"
    coll.mkdir()
    pd.DataFrame({"id": ["a"], "image": ["missing.jpg"]}).to_csv(coll / "catalog.csv", index=False)
    folder = jobs.start("bad", _cfg(coll, tmp_path / "out", tiny_checkpoints), root=tmp_path / "jobs")
    st = _wait(folder)
    assert st.status == "failed" and "missing column" in st.error


def test_collections_page_lists_jobs_and_a_damaged_one_fails_with_one_line(
    tiny_bundle, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ARTEXTRACT_BUNDLE", str(tiny_bundle))
    monkeypatch.setenv("ARTEXTRACT_DATA", str(tmp_path / "data"))
    (tmp_path / "data" / "jobs" / "broken").mkdir(parents=True)
    (tmp_path / "data" / "jobs" / "broken" / "job.json").write_text("{nope")
    at = AppTest.from_file(Path(__file__).resolve().parents[1] / "app.py", default_timeout=60).run()
    at.switch_page("pages/collections.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("broken" in m.value and "failed" in m.value for m in at.markdown)
    assert any("job folder unreadable" in e.value for e in at.error)
    at.button(key="collections.resume.broken").click().run()
    assert not at.exception and any("Cannot resume broken" in e.value for e in at.error)
    # the add form: nothing to check until images are given
    assert at.button(key="collections.check").disabled
