"""Duplicates: pairs of paintings that show the same picture (re-catalogued works, copies, versions)."""

from __future__ import annotations

import contextlib

import streamlit as st

from artextract import review
from artextract.analysis.duplicates import MIN_SIM
from artextract.app import data, pairs, state, widgets
from artextract.text import md_escape

NS = "duplicates"
PER_PAGE = 8

state.ensure_app_navigation()
st.title("Near duplicates")
b = state.current_bundle()
key = data.bundle_key(b)
if b.duplicate_pairs("collection") is None:
    st.info("This bundle was built before near-duplicate search; run `artextract build` again to add it.")
    st.stop()
st.caption(
    "Pairs whose pictures line up: same composition, whatever the file size, crop (up to about a fifth), "
    "brightness or slight recolouring. The score is the best correlation of small greyscale thumbnails "
    "over three framings; 1.00 is the same picture. Decide each pair: the verdict is kept per collection."
)

scopes = ["collection"] + (["reference"] if b.reference is not None else [])
c1, c2, c3, c4, c5 = st.columns([2, 2, 1, 1.3, 1.3])
scope = c1.radio("Pairs", scopes, format_func=pairs.DUPLICATE_SCOPES.get, horizontal=True, key=f"{NS}.scope")
min_sim = c2.slider("Minimum similarity", MIN_SIM, 1.0, 0.90, 0.01, key=f"{NS}.min_sim")
queue = c3.selectbox("Show", pairs.PAIR_QUEUES, key=f"{NS}.queue")
records = c4.selectbox(
    "Catalogue records",
    list(pairs.RECORD_FILTERS),
    key=f"{NS}.records",
    help="What the two records of a pair say: different artists (an attribution to settle), dates or "
    "titles while something else links them; records that agree on every field both fill (the same work "
    "filed twice?); or records that share no artist, title or date (two works that only look alike?)",
)
detail = c5.selectbox(
    "Fine detail",
    list(pairs.DETAIL_FILTERS),
    key=f"{NS}.detail",
    help="Whether the two pictures' fine detail agrees (a 48 px thumbnail of their centres, less its blur): "
    "a copy or the same picture agrees; two pictures that only share a layout (two round portraits, two "
    "etchings on pale paper) differ. Worked out for the pairs listed, the first time it is asked.",
)
state.reviewer_input()

verdict_of = state.pair_verdicts(b)
with st.spinner("Comparing the pairs' fine detail…") if detail != "Any" else contextlib.nullcontext():
    table = pairs.duplicate_table(
        b, key, scope, float(min_sim), queue, tuple(sorted(verdict_of.items())), records, detail
    )
shown = (
    queue.lower()
    + ("" if records == "Any" else f"; catalogue records: {records.lower()}")
    + ("" if detail == "Any" else f"; fine detail: {detail.split(' (')[0].lower()}")
)
st.markdown(f"**{len(table):,} pair(s)** at similarity ≥ {min_sim:.2f} ({shown})")
if table.empty:
    st.info("No pair here. Lower the minimum similarity or show another queue or kind of records.")
    st.stop()

st.download_button(
    "Export these pairs (CSV)",
    lambda: data.to_csv_bytes(pairs.pairs_export(b, table, scope)),  # made when clicked
    on_click="ignore",
    file_name=f"{b.name}-{scope}-pairs.csv",
    mime="text/csv",
    key=f"{NS}.export",
    help="The pairs listed here (every page), each with its similarity, whether its fine detail agrees, "
    "its verdict, the fields its two catalogue records disagree on, and both records",
)

pages = max(1, -(-len(table) // PER_PAGE))
page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key=f"{NS}.page")) if pages > 1 else 1


def _decide(pair: str, verdict: str) -> None:
    name = state.reviewer_name()
    if not name:
        st.session_state[f"{NS}.msg"] = ("error", "Enter your name first: each verdict records who made it.")
        return
    try:
        review.record_pair(pair, b.name, verdict, reviewer=name)
        st.session_state[f"{NS}.msg"] = ("ok", f"Recorded “{verdict}” for {pair}.")
    except review.ReviewError as exc:
        st.session_state[f"{NS}.msg"] = ("error", str(exc))


msg = st.session_state.pop(f"{NS}.msg", None)
if msg:
    (st.success if msg[0] == "ok" else st.error)(msg[1])

ref = b.reference
for i, row in table.iloc[(page - 1) * PER_PAGE : page * PER_PAGE].iterrows():
    a, o = int(row["a"]), int(row["b"])
    path_a = data.painting_path(b, a)
    path_b = data.painting_path(ref if scope == "reference" else b, o)
    other_items = ref.items if scope == "reference" else b.items
    with st.container(border=True, key=f"{NS}-pair-{i}"):
        head = f"**Similarity {row['sim']:.3f}**"
        if row["verdict"]:
            head += f" · verdict: **{row['verdict']}**"
        st.markdown(head)
        left, right = st.columns(2)
        for col, path, item, where in (
            (left, path_a, b.items.iloc[a], b.name),
            (right, path_b, other_items.iloc[o], "reference" if scope == "reference" else b.name),
        ):
            with col:
                widgets.show_image(path, max_side=360)
                st.markdown(
                    f"**{md_escape(item.get('title', '')) or '(untitled)'}**  \n"
                    f"{md_escape(data.artist_of(item)) or 'unknown artist'}"
                    + (f", {md_escape(item['date'])}" if item.get("date") else "")
                    + f"  \n:gray[{md_escape(item['id'])} · {md_escape(where)}]"
                )
        st.markdown(pairs.records_sentence(*pairs.record_disagreements(b.items.iloc[a], other_items.iloc[o])))
        if not isinstance(path_a, Exception) and not isinstance(path_b, Exception):
            diff = pairs.pair_difference(str(path_a), str(path_b))
            st.caption(f"Difference (right vs left): {diff['summary']}")
        named = bool(state.reviewer_name())
        for col, (label, verdict, tag) in zip(
            st.columns([1, 1, 2])[:2],
            (("Duplicate", "duplicate", "dup"), ("Distinct", "distinct", "distinct")),
            strict=True,
        ):
            col.button(
                label,
                key=f"{NS}.{tag}.{row['pair']}",
                on_click=_decide,
                args=(row["pair"], verdict),
                type="primary" if verdict == "duplicate" else "secondary",
                width="stretch",
                disabled=not named,
            )
