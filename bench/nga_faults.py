"""The NGA open-data downloader end to end against a local fault-injecting IIIF server (no network).

Builds the four NGA tables for N paintings with the published column lists (read from
``../shared/data/nga_opendata/schema_*.sql``) and the real ``constituents.csv`` beside them, points
every ``iiifurl`` at a local :class:`FaultServer` (``tests/fault_server.py``), injects a mix of faults
(HTTP 500, 503 then ok, 429 + Retry-After then ok, a hang past the timeout, truncated bodies, an HTML
page served as image/jpeg, a body over the size cap, a 404, a slow drip) and runs ``run_nga`` twice
over the same folder: the second run resumes (verified files are skipped without a request; only the
failures are asked for again). Before the second run the server "recovers" the HTTP 500 and hanging
images, so the rerun completes those; the rest stays broken. Prints each run's summary line, the
requests each run made, and checks that every file under ``images/`` decodes (no partial file under
a final name). Exits 1 if any outcome differs from what the faults imply.

Usage::

    .venv/bin/python bench/nga_faults.py                  # 40 paintings at 64 px, in a temp folder
    .venv/bin/python bench/nga_faults.py --n 100 --size 128 --out nga-demo   # keep the folder
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fault_server import FaultServer, jpeg_bytes  # noqa: E402
from PIL import Image  # noqa: E402

from artextract.catalog import read_catalog  # noqa: E402
from artextract.sources import nga  # noqa: E402
from artextract.sources.download import DEFAULT_MAX_BYTES  # noqa: E402

NGA_DATA = Path(os.environ.get("ARTEXTRACT_SHARED_DATA", ROOT.parent / "shared" / "data")) / "nga_opendata"

# (label, FaultServer route, outcome of run 1, outcome of run 2 ("skipped": not requested again))
FAULTS = [
    ("HTTP 500", ("status", 500), "failed", "downloaded"),  # healed before run 2
    ("HTTP 500", ("status", 500), "failed", "downloaded"),
    ("HTTP 503 once then ok", ("status_then_ok", 1, 503), "downloaded", "skipped"),
    ("HTTP 503 once then ok", ("status_then_ok", 1, 503), "downloaded", "skipped"),
    ("HTTP 429 + Retry-After 1 s once then ok", ("429_then_ok", 1, "1"), "downloaded", "skipped"),
    ("HTTP 429 + Retry-After 1 s once then ok", ("429_then_ok", 1, "1"), "downloaded", "skipped"),
    (
        "hang {hang:g} s (past the {timeout:g} s timeout)",
        ("hang", None),
        "failed",
        "downloaded",
    ),  # healed before run 2
    ("truncated body (always)", ("truncate",), "failed", "failed"),
    ("truncated body once then ok", ("truncate_then_ok", 1), "downloaded", "skipped"),
    ("HTML page as image/jpeg", ("html",), "failed", "failed"),
    ("Content-Length 1 GB (over the size cap)", ("huge",), "failed", "failed"),
    ("HTTP 404", ("404",), "failed", "failed"),
    ("slow drip (within limits)", ("slow",), "downloaded", "skipped"),
]
HEALED = ("status", "hang")  # faults the server recovers from between the two runs


# ---------------------------------------------------------------------------------------- tables
def schema_columns(path: Path) -> list[str]:
    """Column names from a psql ``\\d`` listing (the NGA's published ``schema_<table>.sql``)."""
    cols, started = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("---"):
            started = True
        elif started and "|" in line:
            cols.append(line.split("|")[0].strip())
    return cols


def write_table(path: Path, header: list[str], rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=header)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in header})


def real_artists(n: int) -> list[dict]:
    """The first ``n`` individual artists of NGA objects in the real constituents table."""
    with open(NGA_DATA / "constituents.csv", newline="", encoding="utf-8") as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["artistofngaobject"] == "1" and r["constituenttype"] == "individual"
        ]
    return rows[:n]


def build_tables(folder: Path, n: int, iiif_base: str, seed: int = 0) -> tuple[list[str], dict[str, int]]:
    """Write the four tables for ``n`` open-access paintings plus a few rows the selection must drop.

    Returns the IIIF uuid of each painting (in object-id order) and the expected selection counts.
    """
    need = ["constituents.csv"] + [f"schema_{t}.sql" for t in nga.TABLES]
    missing = [f for f in need if not (NGA_DATA / f).is_file()]
    if missing:
        raise SystemExit(
            f"error: {NGA_DATA} lacks {', '.join(missing)}; this demo builds its tables from the NGA's "
            "published headers there (set ARTEXTRACT_SHARED_DATA to the folder holding nga_opendata/)"
        )
    headers = {t: schema_columns(NGA_DATA / f"schema_{t}.sql") for t in nga.TABLES}
    rng = random.Random(seed)
    artists = real_artists(n)
    folder.mkdir(parents=True, exist_ok=True)
    objects, images, links, uuids = [], [], [], []
    for i in range(n):
        oid, artist = str(1000 + i), artists[i % len(artists)]
        year = rng.randint(1450, 1920)
        objects.append(
            dict(objectid=oid, accessionnum=f"{year + 100}.{i % 9 + 1}.{i + 1}",
                 title=f"_Study No. {i + 1}_", displaydate=f"c. {year}", medium="oil on canvas",
                 attribution=artist["forwarddisplayname"], classification="Painting")
        )  # fmt: skip
        u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        uuids.append(u)
        images.append(
            dict(uuid=u, iiifurl=f"{iiif_base}/{u}", viewtype="primary", sequence="1",
                 width="4000", height="3000", depictstmsobjectid=oid)
        )  # fmt: skip
        if i % 5 == 0:  # an alternate view listed first: the primary one must be chosen (else a 404)
            alt = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            images.insert(
                -1,
                dict(uuid=alt, iiifurl=f"{iiif_base}/{alt}", viewtype="alternate", sequence="0",
                     depictstmsobjectid=oid),
            )  # fmt: skip
        links.append(
            dict(objectid=oid, constituentid=artist["constituentid"], displayorder="1",
                 roletype="artist", role="painter")
        )  # fmt: skip
    # rows that must not be selected: a drawing and a print with open images, a painting whose only
    # image is fair-use restricted (maxpixels set), a painting without any image
    extra = [("Drawing", "open"), ("Print", "open"), ("Painting", "restricted"), ("Painting", None)]
    for j, (cls, image) in enumerate(extra):
        oid = str(9000 + j)
        objects.append(dict(objectid=oid, title=f"Not selected {j}", classification=cls))
        if image:
            u = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            restricted = "640" if image == "restricted" else ""
            images.append(
                dict(uuid=u, iiifurl=f"{iiif_base}/{u}", viewtype="primary", sequence="0",
                     maxpixels=restricted, depictstmsobjectid=oid)
            )  # fmt: skip
    write_table(folder / "objects.csv", headers["objects"], objects)
    write_table(folder / "published_images.csv", headers["published_images"], images)
    write_table(folder / "objects_constituents.csv", headers["objects_constituents"], links)
    shutil.copyfile(NGA_DATA / "constituents.csv", folder / "constituents.csv")
    counts = {"objects": len(objects), "paintings": n + 2, "open_access": n, "selected": n}
    return uuids, counts


# ------------------------------------------------------------------------------------------- run
def check_images(out: Path, failed_keys: set[str]) -> str:
    """Every file under images/ decodes, none is a temporary, failures left nothing; the catalog agrees."""
    files = sorted(p for p in (out / "images").rglob("*") if p.is_file())
    temps = [p.name for p in files if p.name.startswith(".") and p.name.endswith(".tmp")]
    assert not temps, f"temporary files left: {temps}"
    for p in files:
        with Image.open(p) as im:
            im.load()  # raises on a truncated or non-image file
    leftovers = [k for k in failed_keys if (out / "images" / f"{k.removeprefix('nga-')}.jpg").exists()]
    assert not leftovers, f"failed downloads left files: {leftovers}"
    cat = read_catalog(out)
    assert sorted(out / p for p in cat["image"]) == files, "catalog rows and files under images/ differ"
    return (
        f"check: all {len(files)} file(s) under images/ decode with PIL; no temporary or partial file; "
        f"nothing under a final name for the {len(failed_keys)} failure(s); catalog.csv lists exactly "
        f"these {len(cat)} row(s)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=40, help="paintings (default 40)")
    ap.add_argument("--size", type=int, default=64, help="IIIF box size in pixels (default 64)")
    ap.add_argument("--out", type=Path, help="collection folder, new or empty (default: a temp folder)")
    ap.add_argument("--workers", type=int, default=4, help="download threads (default 4)")
    ap.add_argument("--timeout", type=float, default=2.0, help="downloader timeout, s (default 2)")
    ap.add_argument("--retries", type=int, default=2, help="downloader retries (default 2)")
    args = ap.parse_args(argv)
    if args.n < len(FAULTS) + 1:
        ap.error(f"--n must be at least {len(FAULTS) + 1} ({len(FAULTS)} faulty images and some ok ones)")
    if args.out is not None and args.out.exists() and any(args.out.iterdir()):
        ap.error(f"--out {args.out} is not empty; the first run must start from nothing")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="nga_faults_") as tmp:
        out = args.out or Path(tmp) / "nga"
        return demo(args, out, t0)


def demo(args: argparse.Namespace, out: Path, t0: float) -> int:
    hang_s = args.timeout + 3.0
    faults = [
        (
            label.format(hang=hang_s, timeout=args.timeout),
            (route[0], hang_s) if route[0] == "hang" else route,
            r1,
            r2,
        )
        for label, route, r1, r2 in FAULTS
    ]
    with FaultServer({}) as srv:
        iiif = srv.url("iiif")
        uuids, want_counts = build_tables(out / "tables", args.n, iiif)
        tail = f"full/!{args.size},{args.size}/0/default.jpg"
        path_of = {f"nga-{1000 + i}": f"iiif/{u}/{tail}" for i, u in enumerate(uuids)}
        # faults go to a seeded random choice of paintings; the rest are served as they should be
        keys = sorted(path_of)
        faulty = random.Random(1).sample(keys, len(faults))
        plan = {k: ("ok", ("ok",), "downloaded", "skipped") for k in keys}
        plan.update(zip(faulty, faults, strict=True))
        for i, k in enumerate(keys):
            srv.routes[path_of[k]] = plan[k][1]
            srv.bodies[path_of[k]] = jpeg_bytes(i, args.size)

        kinds: dict[str, int] = {}
        for label, *_ in faults:
            kinds[label] = kinds.get(label, 0) + 1
        shown = ", ".join(f"{c} {k}" for k, c in kinds.items())
        print(
            f"local IIIF server: {iiif} (no network); tables with the NGA's published headers in {out / 'tables'}"
        )
        print(
            f"faults injected into {len(faults)} of {args.n} images: {shown}; the other "
            f"{args.n - len(faults)} ok; downloader: {args.workers} workers, {args.retries} retries, "
            f"timeout {args.timeout:g} s, size cap {DEFAULT_MAX_BYTES / 1e6:.1f} MB"
        )
        kw = dict(
            size=args.size,
            workers=args.workers,
            retries=args.retries,
            timeout=args.timeout,
            backoff=0.25,
            progress=False,
            log=lambda m: None,
        )

        s1 = nga.run_nga(out, tables=out / "tables", **kw)
        after1 = dict(srv.counts)
        print(f"\nrun 1: {s1.summary_line()}")
        print("  " + s1.downloads.failure_report(examples=1).replace("\n", "\n  "))
        print(f"  requests to the server: {sum(after1.values())} for {len(after1)} URL(s); ok={s1.ok}")
        assert s1.counts == want_counts, f"selection counts {s1.counts} != {want_counts}"

        healed = [k for k in keys if plan[k][1][0] in HEALED]
        for k in healed:
            srv.routes[path_of[k]] = ("ok",)
        print(
            f"\nbetween runs the server recovers {len(healed)} image(s) (the HTTP 500s and the hang); "
            "truncated, HTML, too-large and 404 stay broken"
        )

        s2 = nga.run_nga(out, tables=out / "tables", **kw)
        after2 = dict(srv.counts)
        print(f"\nrun 2 (resume): {s2.summary_line()}")
        asked = {p: after2[p] - after1.get(p, 0) for p in after2 if after2[p] != after1.get(p, 0)}
        failed1 = {path_of[r.key] for r in s1.downloads.failures}
        to_failed = sum(n for p, n in asked.items() if p in failed1)
        print(
            f"  requests to the server: {sum(asked.values())}: {to_failed} for the {len(failed1)} image(s) "
            f"that failed in run 1, {sum(asked.values()) - to_failed} for the {args.n - len(failed1)} "
            f"verified ones; ok={s2.ok}"
        )

    # every painting ended as its fault implies, and the rerun asked only for run 1's failures
    got = [{r.key: r.status for r in s.downloads.results} for s in (s1, s2)]
    wrong = [
        f"{k} ({plan[k][0]}): run {n + 1} {got[n][k]}, expected {plan[k][2 + n]}"
        for k in keys
        for n in (0, 1)
        if got[n][k] != plan[k][2 + n]
    ]
    if set(asked) - failed1:
        wrong.append(f"run 2 requested verified image(s): {sorted(set(asked) - failed1)}")
    print(check_images(out, {r.key for r in s2.downloads.failures}))
    if wrong:
        print("UNEXPECTED:\n  " + "\n  ".join(wrong))
        return 1
    print(f"every painting ended as its fault implies; whole demo {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
