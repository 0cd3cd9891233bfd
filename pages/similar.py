"""Similar: the nearest reference paintings to an upload or to a painting of the collection."""

from __future__ import annotations

import streamlit as st

from artextract.app import data, models, state, widgets
from artextract.errors import ArtExtractError
from artextract.text import md_escape

NS = "similar"

state.ensure_app_navigation()
st.title("Similar paintings")
b = state.current_bundle()
ref = b.reference
if ref is None:
    st.warning("This bundle has no reference collection to search; rebuild it with one ('artextract build').")
    st.stop()
# the classifier and encoder load (seconds, the first time) while the curator picks a painting
models.warm_up(b)
origin = data.sources_line(ref.items)
st.caption(
    f"Searching {len(ref.items):,} reference paintings" + (f": {md_escape(origin)}." if origin else ".")
)

source = st.radio(
    "Query", ["Upload a painting", "A painting from the collection"], horizontal=True, key=f"{NS}.source"
)
k = st.slider("How many neighbours", 1, 48, 12, key=f"{NS}.k")

# a query is worked out once (decoded, classified, searched for the same picture): a rerun with another
# neighbour count, or a click in the grid, finds its answer remembered (models.remembered_answer)
answer, query, query_label, query_id = None, None, "", None
if source == "Upload a painting":
    upload = st.file_uploader(
        f"JPEG, PNG, WebP, TIFF, BMP or GIF (first frame), up to {data.UPLOAD_MAX_MB} MB",
        type=list(data.UPLOAD_TYPES),
        key=f"{NS}.upload",
        max_upload_size=data.UPLOAD_MAX_MB,
    )
    if upload is not None:
        query_id, query_label = data.upload_id(upload), upload.name
        answer = models.remembered_answer(b, query_id)
        if answer is None:
            try:
                query = data.read_upload(upload)
            except ArtExtractError as exc:
                st.error(f"Cannot use this upload: {exc}")
                query_id = None
else:
    needle = st.text_input("Search title, artist or id", key=f"{NS}.search")
    matches = data.search_items(b, data.bundle_key(b), needle)
    if len(matches) == 0:
        st.info("No painting matches.")
    else:
        row = st.selectbox(
            f"Painting ({len(matches):,} match{'es' if len(matches) != 1 else ''}, first 200 listed)",
            matches[:200].tolist(),
            format_func=lambda r: data.painting_label(b, r),
            key=f"{NS}.pick",
        )
        query_id, query_label = f"painting:{int(row)}", data.painting_label(b, row)
        answer = models.remembered_answer(b, query_id)
        if answer is None:
            try:
                query = data.painting_image(b, row)
            except ArtExtractError as exc:
                st.error(f"Cannot read this painting: {exc}")
                query_id = None

if query_id is not None:
    try:
        if answer is None:
            with st.spinner("Searching…"):
                answer = models.answer_query(b, query_id, query)
        hits = b.reference.search(answer.embedding, k)
    except ArtExtractError as exc:
        st.error(str(exc))
        st.stop()
    qcol, pcol = st.columns([1, 2])
    with qcol:
        st.image(answer.shown, caption=query_label, width="stretch")
    with pcol:
        st.markdown("**The classifier sees**")
        st.dataframe(data.label_table(answer.labels, answer.gated), hide_index=True)
        widgets.open_set_note(b, answer.gated)
    if answer.same_problem:
        st.warning(f"Cannot check whether this is a reference painting: {answer.same_problem}")
    for sp in answer.same:
        text, link = st.columns([5, 1], vertical_alignment="center")
        text.success(
            f"**The same picture as** *{md_escape(sp.label)}*, in {md_escape(sp.where)} "
            f"(layout match {sp.sim:.2f}): its record is what the catalogue knows of this painting."
        )
        if sp.url:
            link.link_button("Its page ↗", sp.url, key=f"{NS}.same.{sp.row}")
    st.subheader(f"{len(hits)} nearest reference paintings")
    widgets.neighbour_grid(ref, hits, ns=NS)
