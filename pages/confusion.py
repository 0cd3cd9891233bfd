"""Confusion: one matrix per attribute (val split); click a cell to see its paintings."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from artextract.app import chart, data, figures, state, widgets
from artextract.text import md_escape

state.ensure_app_navigation()
st.title("Confusion")
b = state.current_bundle(switcher=False)
key = data.bundle_key(b)
attrs, unscored = data.scored_attributes(b)
# a page load that lands here draws the open tab's matrix first, and the collection switcher and the
# per-class table once a matrix has drawn: a fresh browser loads the scripts of Streamlit's widgets and
# tables (1.2 MB for tables) the first time one is shown, and the matrix's frame waited for them
# (state.map_before_controls)
matrix_first = bool(attrs) and state.map_before_controls(
    "confusion", *(f"confusion.{a}.chart" for a in attrs)
)
if not matrix_first:
    state.draw_switcher()
if unscored:
    st.info(data.unscored_message(b, unscored))
if not attrs:
    st.markdown("**What the classifier sees in this collection** (predicted classes)")
    cols = st.columns(len(b.attributes) or 1)
    for a, col in zip(b.attributes, cols, strict=False):
        with col:
            st.caption(data.attribute_label(a))
            st.bar_chart(data.predicted_counts(b, a), horizontal=True, height=260)
    st.stop()

mode = st.segmented_control(
    "Show", ["Counts", "Row-normalised"], default="Counts", key="confusion.mode", width="content"
)
normalise = mode == "Row-normalised"
verdict_of = state.verdicts(b)

# only the open tab is built (a click on another reruns the page): each matrix is a chart frame that
# loads plotly.js, and each per-class table Streamlit's table script, so a fresh browser drew three of
# each before the first matrix showed
tabs = st.tabs([data.attribute_label(a) for a in attrs], key="confusion.tab", on_change="rerun")
for attr, tab in zip(attrs, tabs, strict=True):
    ns = f"confusion.{attr}"
    state.init_state({f"{ns}.cell": None, f"{ns}.focus": None, f"{ns}.history": []})
    m = b.metrics[attr]
    if not tab.open:
        continue
    with tab:
        c = st.columns(4)
        c[0].metric(
            "Accuracy",
            data.fmt(m.get("accuracy")),
            help=f"{m.get('n', 0)} paintings ({m.get('split', 'val')})",
        )
        c[1].metric("Top-5", data.fmt(m.get("top5")))
        c[2].metric("Macro-F1", data.fmt(m.get("macro_f1")))
        uniform, majority = data.chance_levels(m)
        c[3].metric("Chance / majority", f"{data.fmt(uniform)} / {data.fmt(majority)}")
        matrix, table = st.columns([2, 1])
        with matrix:
            try:
                spec = figures.confusion_json(b, key, attr, normalise)
                height = figures.confusion_figure(b, key, attr, normalise)["layout"]["height"]
            except Exception:
                if matrix_first:  # no matrix will report: show the error with the collection switcher
                    state.controls_now(f"{ns}.chart")
                raise
            chart.plotly_chart(
                spec,
                key=f"{ns}.chart",
                height=height,
                on_change=state.cell_callback(ns, f"{ns}.chart"),
                config={"displaylogo": False, "responsive": True},
                report_drawn=matrix_first,
            )
        with table:
            st.markdown(f"**Per class** ({m.get('split', 'val')})")
            if matrix_first:
                continue
            per_class = data.per_class_table(b, attr)
            for c in ("recall", "precision"):  # nothing to measure reads "—", not "None"
                per_class[c] = ["—" if pd.isna(v) else f"{v:.2f}" for v in per_class[c]]
            st.dataframe(
                per_class,
                hide_index=True,
                column_order=["class", "recall", "precision", "support"],
                height=min(35 * (len(per_class) + 1) + 3, 600),  # every class shown, up to 16
                column_config={  # narrow columns, so the whole table fits beside the matrix
                    "class": st.column_config.TextColumn(width=140),
                    "recall": st.column_config.TextColumn(
                        width=52,
                        help="of the paintings catalogued as this class, the share predicted so (the row's diagonal)",
                    ),
                    "precision": st.column_config.TextColumn(
                        "prec.",
                        width=52,
                        help="of the paintings predicted as this class, the share catalogued so",
                    ),
                    "support": st.column_config.NumberColumn(
                        "n", width=42, help="paintings catalogued as this class"
                    ),
                },
            )
        cell = st.session_state[f"{ns}.cell"]
        if cell is None:
            st.caption("Click a cell to see the paintings in it.")
            continue
        t, p = cell
        rows = data.cell_rows(b, attr, t, p)
        classes = b.classes[attr]
        st.subheader(
            f"Catalogued {md_escape(data.pretty_label(classes[t]))}, "
            f"predicted {md_escape(data.pretty_label(classes[p]))}: {len(rows)} painting(s)"
        )
        gal, insp = st.columns([3, 2], gap="medium")
        with gal:
            widgets.gallery(b, rows.tolist(), ns=ns)
        with insp:
            focus = st.session_state[f"{ns}.focus"]
            if focus is not None:
                widgets.inspector(b, int(focus), ns=ns, verdict_of=verdict_of)
            elif len(rows):
                st.info("Pick “Inspect” under a painting to open it here.")
