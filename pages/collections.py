"""Collections: add a collection from a ZIP or a server folder (with an optional CSV), check it, build it
in the background with per-stage progress, cancel or resume, and open it when it is ready."""

from __future__ import annotations

import hashlib

import streamlit as st

from artextract import config, imports, jobs
from artextract.app import state
from artextract.build import BuildConfig
from artextract.errors import ArtExtractError

NS = "collections"
ZIP_MAX_MB = 1024
NONE = "(none)"

state.ensure_app_navigation()
st.title("Collections")
state.bundle_switcher()
st.caption(
    "Bring in a collection of your own: a ZIP of images or a folder on this server, with an optional CSV of "
    "titles, artists, dates, styles, genres and links. It is checked first, then built in the background "
    "with the released models: predictions, maps, outliers, near duplicates and similar reference paintings."
)


def _fmt_seconds(s: float | None) -> str:
    if s is None:
        return "estimating…"
    return f"{s:.0f} s left" if s < 90 else f"{s / 60:.1f} min left"


def _resume(folder) -> None:
    try:
        jobs.resume(folder)
    except (ArtExtractError, OSError, ValueError) as exc:  # e.g. already running, or a damaged job folder
        st.session_state[f"{NS}.job_error"] = f"Cannot resume {folder.name}: {exc}"


# ------------------------------------------------------------------------------------------ builds
@st.fragment(run_every=1.0)
def builds() -> None:
    """Every build job with a progress bar per stage; refreshed every second, from the job folders (so a
    page reload or a server restart shows the same)."""
    err = st.session_state.pop(f"{NS}.job_error", None)
    if err:
        st.error(err)
    all_jobs = jobs.list_jobs()
    if not all_jobs:
        st.caption("No builds yet.")
        return
    for job in all_jobs:
        with st.container(border=True, key=f"{NS}-job-{job.name}"):
            label = {
                "running": "building",
                "done": "ready",
                "failed": "failed",
                "cancelled": "cancelled (resumable)",
                "interrupted": "interrupted: the build process stopped (resumable)",
            }[job.status]
            st.markdown(f"**{job.name}** · {label} · started {job.started[:19].replace('T', ' ')}")
            if job.active:
                st.caption(f"Current stage: {_fmt_seconds(job.eta_seconds())} (later stages not estimated)")
            for sp in job.stages:
                text = f"{sp.stage}: " + (
                    {"done": f"done in {sp.seconds:.1f} s", "skipped": "up to date"}.get(sp.state)
                    or (
                        f"{sp.done:,} / {sp.total:,} · {_fmt_seconds(sp.eta_seconds())}"
                        if sp.total > 1
                        else f"running for {sp.elapsed():.0f} s"
                    )
                )
                st.progress(sp.fraction, text=text)
            if job.error and job.status == "failed":
                st.error(job.error)
            c1, c2, _ = st.columns(3)
            if job.active:
                c1.button("Cancel", key=f"{NS}.cancel.{job.name}", on_click=jobs.cancel, args=(job.folder,))
            if job.resumable:
                c1.button("Resume", key=f"{NS}.resume.{job.name}", on_click=_resume, args=(job.folder,))
            if job.status == "done" and c2.button(
                "Open in the app", key=f"{NS}.open.{job.name}", type="primary"
            ):
                st.session_state[state.BUNDLE_KEY] = job.bundle.name
                st.switch_page("pages/explore.py", query_params={"bundle": job.bundle.name})


# ------------------------------------------------------------------------------------------ add
st.subheader("Add a collection")
name = st.text_input("Name", key=f"{NS}.name", placeholder="e.g. prints-2026", max_chars=64)
kind = st.radio("Images from", ["A ZIP file", "A folder on the server"], horizontal=True, key=f"{NS}.kind")
source = None
source_id = ""
try:
    if kind == "A ZIP file":
        up = st.file_uploader(
            f"ZIP of images (up to {ZIP_MAX_MB} MB)",
            type=["zip"],
            key=f"{NS}.zip",
            max_upload_size=ZIP_MAX_MB,
        )
        if up is not None:
            source_id = f"zip:{up.file_id}"  # read (and checked) once per uploaded file, not per rerun
    else:
        root = imports.import_root()
        folders = imports.server_folders(root)
        st.caption(f"Folders under the import root `{root}` (set ARTEXTRACT_IMPORT_ROOT to change it).")
        if not folders:
            st.info("No folder in the import root yet: copy a folder of images there.")
        else:
            rel = st.selectbox("Folder", folders, key=f"{NS}.folder")
            source_id = f"folder:{rel}"
    if source_id and st.session_state.get(f"{NS}.source_id") != source_id:
        st.session_state.pop(f"{NS}.source", None)
        st.session_state[f"{NS}.source"] = (
            imports.read_zip(up.getvalue())
            if source_id.startswith("zip:")
            else imports.read_folder(imports.resolve_folder(rel, root))
        )
        st.session_state[f"{NS}.source_id"] = source_id
    source = st.session_state.get(f"{NS}.source") if source_id else None
except ArtExtractError as exc:
    st.session_state.pop(f"{NS}.source_id", None)
    st.error(str(exc))
    source = None

csv_up = st.file_uploader("Catalog CSV (optional)", type=["csv"], key=f"{NS}.csv")
csv = None
mapping: dict[str, str] = {}
try:
    csv_bytes = csv_up.getvalue() if csv_up is not None else (source.csv if source is not None else None)
    if csv_bytes:
        csv = imports.read_csv(csv_bytes)
except ArtExtractError as exc:
    st.error(str(exc))
if csv is not None:
    st.markdown(
        "**Map the CSV's columns**" + (" (the catalog.csv found with the images)" if csv_up is None else "")
    )
    guess = imports.guess_mapping(csv.columns)
    options = [NONE, *csv.columns]
    cols = st.columns(4)
    for i, field in enumerate(("image", *imports.MAPPABLE)):
        label = "image file name" if field == "image" else field.replace("_", " ")
        pick = cols[i % 4].selectbox(
            label,
            options,
            index=options.index(guess[field]) if field in guess else 0,
            key=f"{NS}.map.{field}",
        )
        if pick != NONE:
            mapping[field] = pick

check_key = (
    source_id,
    hashlib.sha256(csv.to_csv().encode()).hexdigest() if csv is not None else "",
    tuple(sorted(mapping.items())),
)
if st.button("Check", key=f"{NS}.check", disabled=source is None, type="secondary"):
    bar = st.progress(0.0, text="checking images…")
    try:
        if source_id.startswith("folder:"):  # a folder may have changed since it was picked: read it again
            source = st.session_state[f"{NS}.source"] = imports.read_folder(imports.resolve_folder(rel, root))
        report, catalog = imports.validate(
            source,
            csv,
            mapping,
            progress=lambda d, t: bar.progress(d / max(t, 1), text=f"checking images: {d}/{t}"),
        )
        st.session_state[f"{NS}.checked"] = (check_key, report, catalog)
    except ArtExtractError as exc:
        st.session_state.pop(f"{NS}.checked", None)
        st.error(str(exc))
    bar.empty()

checked = st.session_state.get(f"{NS}.checked")
if checked is not None and checked[0] == check_key and source is not None:
    _, report, catalog = checked
    st.markdown("**Validation report**")
    m = st.columns(6)
    m[0].metric("Images", report.images)
    m[1].metric("Usable", report.usable)
    m[2].metric("CSV rows", report.rows)
    m[3].metric("Missing", len(report.missing), help="named in the CSV, not found among the images")
    m[4].metric("Unreadable", len(report.unreadable))
    m[5].metric("Duplicate files", sum(len(g) - 1 for g in report.duplicates))
    for line in report.lines():
        st.markdown(f"- {line}")
    details = {
        "Unreadable images": [f"{n}: {why}" for n, why in report.unreadable],
        "Skipped entries": [f"{n}: {why}" for n, why in report.skipped],
        "Missing images": report.missing,
        "Identical files": [" = ".join(g) for g in report.duplicates],
    }
    for title, items in details.items():
        if items:
            with st.expander(f"{title} ({len(items)})"):
                st.text("\n".join(items[:500]) + ("\n…" if len(items) > 500 else ""))
    if report.usable < 3:
        st.warning("At least 3 usable images are needed to build a collection.")
    elif st.button("Build this collection", key=f"{NS}.build", type="primary"):
        try:
            cname = imports.check_name(name)
            out = config.artifacts_dir(cname)
            if out.exists():
                raise imports.ImportRefused(f"a bundle named {cname!r} already exists; choose another name")
            coll = imports.write_collection(
                source, catalog, config.collections_dir() / cname, source=source_id.split(":")[0]
            )
            d = config.import_build_defaults()
            cfg = BuildConfig(
                collection=coll,
                classifier=d["classifier"],
                out=out,
                name=cname,
                reference=d["reference"],
                encoder=d["encoder"] if d["reference"] else None,
            )
            jobs.start(cname, cfg)
            st.session_state.pop(f"{NS}.checked", None)
            st.success(f"Building {cname} in the background: follow it below.")
        except ArtExtractError as exc:
            st.error(str(exc))

st.subheader("Builds")
builds()
