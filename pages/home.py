"""Home: what is loaded, collection counts and headline metrics."""

from __future__ import annotations

import streamlit as st

from artextract.app import data, models, state

state.ensure_app_navigation()
st.title("ArtExtract")
st.caption("See a painting collection through deep learning: classify, explore, find outliers, find similar.")

b = state.current_bundle()
summary = data.bundle_summary(b, state.verdicts(b))
if summary["warning"]:
    st.warning(summary["warning"])

st.subheader(f"Collection: {b.name}")
c = st.columns(5)
c[0].metric("Paintings", f"{summary['paintings']:,}")
c[1].metric("Train / val", f"{summary['train']:,} / {summary['val']:,}")
c[2].metric("Flagged outliers", f"{summary['flagged']:,}", help=f"outlier score ≥ {b.outlier_threshold:.2f}")
c[3].metric("Reviewed", f"{summary['reviewed']:,}")
c[4].metric("Reference paintings", f"{summary['reference']:,}" if summary["reference"] else "none")

scored, unscored = data.scored_attributes(b)
st.subheader(f"Classifier on {data.metrics_split_label(b)}")
if scored:
    table = data.headline_metrics(b)
    st.dataframe(
        table[table["attribute"].isin(scored)],
        hide_index=True,
        column_config={
            k: st.column_config.NumberColumn(k, format="%.3f")
            for k in ("accuracy", "top-5", "macro-F1", "chance", "majority")
        },
    )
    gate_line = models.open_set_summary(b)
    if gate_line:
        st.caption(gate_line)
if unscored:
    st.info(data.unscored_message(b, unscored))

st.subheader("Where to go")
st.page_link(
    "pages/explore.py",
    label="Explore the map of the collection and inspect paintings",
    icon=":material/scatter_plot:",
)
st.page_link(
    "pages/confusion.py", label="See where the classifier confuses classes", icon=":material/grid_on:"
)
st.page_link(
    "pages/similar.py", label="Find reference paintings similar to an upload", icon=":material/image_search:"
)
st.page_link("pages/review.py", label="Review flagged paintings", icon=":material/fact_check:")
st.page_link(
    "pages/duplicates.py",
    label="Check pairs that show the same picture (copies, versions, re-catalogued works)",
    icon=":material/content_copy:",
)
st.page_link(
    "pages/collections.py",
    label="Add a collection of your own: a ZIP or a folder of images, with an optional catalog",
    icon=":material/library_add:",
)
st.page_link("pages/models.py", label="Model cards and training curves", icon=":material/model_training:")

with st.expander("Bundle details"):
    st.write(f"Folder: `{b.root}`")
    st.json(summary["manifest"], expanded=False)
