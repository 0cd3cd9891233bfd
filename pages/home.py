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

# Home is the page a fresh browser opens first: its numbers and table are Markdown, which every page has
# loaded, not st.metric and st.dataframe, each a script (the data grid's 1.2 MB) for that browser to
# fetch and compile before it draws them (bench/app.py --home)
st.subheader(f"Collection: {b.name}")
stats = [
    ("Paintings", f"{summary['paintings']:,}", None),
    ("Train / val", f"{summary['train']:,} / {summary['val']:,}", None),
    ("Flagged outliers", f"{summary['flagged']:,}", f"outlier score ≥ {b.outlier_threshold:.2f}"),
    ("Reviewed", f"{summary['reviewed']:,}", None),
    ("Reference paintings", f"{summary['reference']:,}" if summary["reference"] else "none", None),
]
for col, (label, value, tip) in zip(st.columns(len(stats)), stats, strict=True):
    col.markdown(data.stat_html(label, value), unsafe_allow_html=True, help=tip)

scored, unscored = data.scored_attributes(b)
st.subheader(f"Classifier on {data.metrics_split_label(b)}")
if scored:
    table = data.headline_metrics(b)
    st.markdown(
        data.markdown_table(table[table["attribute"].isin(scored)], whole=("classes", "paintings scored"))
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
    st.markdown(data.manifest_markdown(summary["manifest"]))
