"""The shared widgets: painting images, the inspector with its review controls, galleries, grids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from .. import review
from ..analysis.open_set import stops
from ..bundle import Bundle
from ..catalog import image_path
from ..errors import ArtExtractError
from ..text import md_escape, safe_url
from .data import (
    INSPECT_COLUMNS,
    artist_of,
    bundle_key,
    group_reasons,
    image_bytes,
    labels_markdown,
    painting_path,
    pretty_label,
    provenance,
    search_items,
)
from .models import cam_attribute, class_activation_maps, open_set_gate, row_gated
from .pairs import same_picture
from .state import _go_back, focus_row, reviewer_input, reviewer_name, reviewers, share_link, verdicts


def show_image(
    path: Path | ArtExtractError, *, max_side: int = 512, caption: str | None = None, width: Any = "stretch"
) -> None:
    if isinstance(path, ArtExtractError):
        st.warning(f"Image unavailable: {path}")
        return
    data, err = image_bytes(str(path), max_side)
    if data is None:
        st.warning(f"Image unavailable: {err}")
    else:
        st.image(data, caption=caption, width=width)


def show_error(exc: ArtExtractError) -> None:
    st.error(str(exc))


def _record(ns: str, b: Bundle, row: int, verdict: str, advance: bool) -> None:
    item = b.items.iloc[row]
    note = st.session_state.get(f"{ns}.note", "")
    name = reviewer_name()
    if not name:
        st.session_state[f"{ns}.review_msg"] = (
            "error",
            "Enter your name first: each verdict records who made it.",
        )
        return
    try:
        review.record(str(item["id"]), b.name, verdict, note, reviewer=name)
    except review.ReviewError as exc:
        st.session_state[f"{ns}.review_msg"] = ("error", str(exc))
        return
    st.session_state[f"{ns}.review_msg"] = (
        "ok",
        f"Recorded “{verdict}” for {item.get('title') or item['id']}.",
    )
    st.session_state[f"{ns}.note"] = ""
    if advance:  # the page picks the next painting in its queue
        focus_row(ns, None, push=False)


def verdict_controls(b: Bundle, row: int, ns: str, current: dict[str, str], *, advance: bool = False) -> None:
    """Confirm/dismiss buttons with a note, recording to the review database."""
    pid = str(b.items.iloc[row]["id"])
    now = current.get(pid)
    if now:
        by = reviewers(b).get(pid, "")
        st.markdown(f"**Verdict:** {now}" + (f" (by {md_escape(by)})" if by else ""))
    reviewer_input()
    named = bool(reviewer_name())
    st.text_input("Note (optional)", key=f"{ns}.note", placeholder="why, what to fix in the catalog…")
    c1, c2 = st.columns(2)
    c1.button(
        "Confirm: catalog problem",
        key=f"{ns}.confirm",
        on_click=_record,
        args=(ns, b, row, "confirmed", advance),
        type="primary" if now != "confirmed" else "secondary",
        width="stretch",
        disabled=not named,
    )
    c2.button(
        "Dismiss: false alarm",
        key=f"{ns}.dismiss",
        on_click=_record,
        args=(ns, b, row, "dismissed", advance),
        width="stretch",
        disabled=not named,
    )
    msg = st.session_state.pop(f"{ns}.review_msg", None)
    if msg:
        (st.success if msg[0] == "ok" else st.error)(msg[1])


def inspector(
    b: Bundle,
    row: int,
    *,
    ns: str,
    verdict_of: dict[str, str] | None = None,
    n_neighbours: int = 6,
    review_controls: bool = True,
    advance_after_verdict: bool = False,
) -> None:
    """The painting, large: metadata and source link, catalog vs predicted labels with top-3
    probabilities, outlier score and reasons, review verdict, and clickable nearest paintings."""
    if not 0 <= row < len(b.items):
        st.warning(f"Row {row} is not in this bundle ({len(b.items)} paintings).")
        return
    item = b.items.iloc[row]
    verdict_of = verdict_of if verdict_of is not None else verdicts(b)
    with st.container(border=True, key=f"{ns.replace('.', '-')}-inspector"):
        hist = st.session_state.get(f"{ns}.history", [])
        head, back = st.columns([6, 1], vertical_alignment="center")
        title = str(item.get("title", "") or "(untitled)")
        head.markdown(f"### {md_escape(title)}")
        back.button(
            "←",
            key=f"{ns}.back",
            on_click=_go_back,
            args=(ns,),
            disabled=not hist,
            help="Back to the previous painting",
        )
        show_image(painting_path(b, row), max_side=640, width=420)
        meta = {c: str(item.get(c, "")) for c in INSPECT_COLUMNS if c in b.items.columns}
        st.markdown(
            f"**{md_escape(artist_of(item)) or 'unknown artist'}**"
            + (f", {md_escape(meta['date'])}" if meta.get("date") else "")
            + "".join(f"  \n:gray[{md_escape(line)}]" for line in provenance(meta) if line)
        )
        url = safe_url(item.get("source_url", ""))
        if url:
            st.link_button("Source record ↗", url)
        with st.popover("Share a link to this painting"):
            st.caption("Opens this painting in the Explore inspector, in this collection.")
            st.code(share_link(b, row), language=None)
        same_picture_list(b, row, ns)
        gated = row_gated(b, row)
        st.markdown(labels_markdown(b, row, gated))
        open_set_note(b, gated)
        why(b, row, ns)
        score = float(item.get("outlier_score", 0.0) or 0.0)
        flagged = score >= b.outlier_threshold
        st.markdown(
            f"**Outlier score** {score:.2f}"
            + (" — **flagged** ⚑" if flagged else f" (flagged from {b.outlier_threshold:.2f})")
        )
        reasons = group_reasons(str(item.get("outlier_reasons", "") or ""), b.attributes)
        if reasons:
            st.markdown("\n".join(f"- {md_escape(r)}" for r in reasons))
        if review_controls:
            verdict_controls(b, row, ns, verdict_of, advance=advance_after_verdict)
        elif verdict_of.get(str(item["id"])):
            st.markdown(f"**Verdict:** {verdict_of[str(item['id'])]}")
        neighbours = b.neighbours_of(row, n_neighbours)
        if neighbours:
            st.markdown("**Nearest paintings in the collection**")
            cols = st.columns(3)
            for i, (j, sim) in enumerate(neighbours):
                with cols[i % 3]:
                    show_image(painting_path(b, j), max_side=200)
                    nb = b.items.iloc[j]
                    st.caption(
                        f"{md_escape(nb.get('title', ''))} — {md_escape(artist_of(nb))} · sim {sim:.2f}"
                    )
                    st.button(
                        "Open",
                        key=f"{ns}.nb.{i}",
                        on_click=focus_row,
                        args=(ns, j),
                        width="stretch",
                    )


def same_picture_list(b: Bundle, row: int, ns: str) -> None:
    """The paintings that show the same picture (near duplicates whose records share an artist, title or
    date), each with what its record says otherwise; one in the collection opens in the inspector."""
    same = same_picture(b, row)
    if not same:
        return
    st.markdown("**The same picture elsewhere?**")
    for k, sp in enumerate(same):
        st.markdown(
            f"*{md_escape(sp.label)}*, in {md_escape(sp.where)} · layout match {sp.sim:.2f}  \n"
            f":gray[{sp.sentence}]"
        )
        if sp.scope == "collection":
            st.button("Open it", key=f"{ns}.same.{k}", on_click=focus_row, args=(ns, sp.row))
        elif sp.url:
            st.link_button("Its page ↗", sp.url, help="The reference painting's page")


def open_set_note(b: Bundle, gated: dict[str, dict[str, float]]) -> None:
    """One caption per gated head: which classes the model knows and what the gate made of this painting;
    or, when the gate stored beside the classifier cannot be used, why (once, and the labels stand)."""
    gate, problem = open_set_gate(b)
    if problem:
        st.caption(f":orange[Open-set check not used: {md_escape(problem)}]")
    if gate is None:
        return
    for attr, g in gated.items():
        n = len(gate.classes)
        if not stops(g["p_known"], g["threshold"]):
            st.caption(f"The classifier knows {n} {attr}s; this painting looks like the work of one of them.")
            continue
        names = ", ".join(pretty_label(c) for c in gate.classes)
        st.caption(
            f"The classifier knows {n} {attr}s ({md_escape(names)}). A check on the painting's features, "
            f"fitted on paintings by them and by others, says none of them made this one, so no {attr} is "
            "named (the closest are listed)."
        )


def why(b: Bundle, row: int, ns: str) -> None:
    """Toggle: Grad-CAM maps for the predicted and the catalog's class, over the crop the network saw."""
    attr = cam_attribute(b)
    if not st.toggle(f"Why this {attr}? (class-activation map)", key=f"{ns}.cam"):
        return
    try:
        with st.spinner("Drawing the class-activation map…"):  # the classifier loads the first time
            maps = class_activation_maps(b, bundle_key(b), int(row), attr)
    except ArtExtractError as exc:
        st.warning(f"No map: {exc}")
        return
    cols = st.columns(len(maps))
    for col, (caption, img) in zip(cols, maps, strict=True):
        col.image(img, caption=caption, width="stretch")
    st.caption(
        "Grad-CAM on the classifier's last stage: bright where the evidence for that class lies, over the "
        "centre crop the network sees. Coarse by design: the last stage sees the painting as a small grid."
    )


def gallery(b: Bundle, rows: Sequence[int], *, ns: str, per_page: int = 12, cols: int = 4) -> None:
    """Thumbnails of ``rows`` (paged); "Inspect" shows one in the ``ns`` inspector."""
    rows = list(rows)
    if not rows:
        st.info("No paintings here.")
        return
    pages = max(1, -(-len(rows) // per_page))
    page = 1
    if pages > 1:
        page = int(
            st.number_input(
                f"Page (of {pages})", 1, pages, 1, key=f"{ns}.page", help=f"{len(rows)} paintings"
            )
        )
    chunk = rows[(page - 1) * per_page : page * per_page]
    grid = st.columns(cols)
    for i, r in enumerate(chunk):
        with grid[i % cols]:
            show_image(painting_path(b, r), max_side=220)
            it = b.items.iloc[r]
            st.caption(f"{md_escape(it.get('title', ''))} — {md_escape(artist_of(it))}")
            st.button("Inspect", key=f"{ns}.g.{r}", on_click=focus_row, args=(ns, r), width="stretch")


#: How many matches the Explore search box lists (the count says how many there are in all).
FIND_LIMIT = 8


def find_painting(b: Bundle, ns: str, limit: int = FIND_LIMIT) -> None:
    """A search box over the paintings' titles, artists and ids; each of the first ``limit`` matches is a
    button that opens it in the ``ns`` inspector (and so rings it on the map)."""
    needle = st.text_input(
        "Find a painting",
        key=f"{ns}.find",
        placeholder="Title, artist or id",
        help="Opens the painting on the right and rings it on the map.",
    )
    if not needle.strip():
        return
    matches = search_items(b, bundle_key(b), needle)
    if len(matches) == 0:
        st.caption("No painting matches.")
        return
    more = f", the first {limit}" if len(matches) > limit else ""
    st.caption(f"{len(matches):,} match{'es' if len(matches) != 1 else ''}{more}:")
    for r in matches[:limit].tolist():
        it = b.items.iloc[r]
        date = str(it.get("date", "") or "")
        label = f"{it.get('title', '') or '(untitled)'} — {artist_of(it) or 'unknown artist'}"
        st.button(
            md_escape(label + (f", {date}" if date else "")),
            key=f"{ns}.find.{r}",
            on_click=focus_row,
            args=(ns, r),
            type="tertiary",
        )


def neighbour_grid(ref: Any, hits: pd.DataFrame, *, ns: str, cols: int = 4) -> None:
    """Reference hits: image, similarity, title, artist, date and a link to the source record."""
    grid = st.columns(cols)
    for i, hit in enumerate(hits.itertuples(index=False)):
        h = hit._asdict()
        with grid[i % cols], st.container(border=True, key=f"{ns}-hit-{i}"):
            try:
                path: Path | ArtExtractError = image_path(ref.collection_dir, str(h.get("image", "")))
            except ArtExtractError as exc:
                path = exc
            show_image(path, max_side=300)
            st.markdown(
                f"**{h.get('rank')}. {md_escape(h.get('title')) or '(untitled)'}**  \n"
                f"{md_escape(artist_of(h)) or 'unknown artist'}"
                + (f", {md_escape(h['date'])}" if h.get("date") else "")
            )
            st.caption(f"similarity {float(h.get('score', 0.0)):.3f}")
            url = safe_url(h.get("source_url"))
            if url:
                st.link_button("Source record ↗", url)
