"""Explore: the collection as a t-SNE/UMAP map; click or lasso paintings to inspect and export them."""

from __future__ import annotations

import functools

import streamlit as st

from artextract.app import chart, data, figures, prerender, state, widgets

NS = "explore"
CHART = f"{NS}.chart"
MAP_HEIGHT = prerender.MAP_HEIGHT

state.ensure_app_navigation()
st.title("Explore")
# a page load that lands here draws the map first, with the controls' first values, and the controls
# (the collection switcher too) as soon as the map has drawn (state.map_before_controls)
map_first = state.map_before_controls(NS, CHART)
# what a link's first run may say (an unknown collection or painting) goes in a container that is
# always there: the map keeps its place, and its frame, when the next run says nothing
with st.container():
    b = state.current_bundle(switcher=not map_first)
    key = data.bundle_key(b)
    state.init_state({f"{NS}.selected": [], f"{NS}.focus": None, f"{NS}.history": []})
    verdict_of = state.verdicts(b)
    state.focus_from_url(NS, b)  # a shared link (?painting=<id>) opens its painting

if map_first and (not b.projections or len(b.items) == 0):
    state.controls_now(CHART)  # no map to wait for
if not b.projections:
    st.info(
        "This bundle has no map: rebuild it with projections, e.g. `artextract build --projections umap,tsne`."
    )
    st.stop()

options = data.colour_options(b)
if map_first:  # the values the controls will start at (the map in /explore's HTML page draws them too)
    projection, colour_label, threshold, flagged_only, filters = prerender.first_values(b)
else:
    with st.sidebar:
        widgets.find_painting(b, NS)
        st.subheader("Map")
        projection = st.radio(
            "Projection",
            b.projections,
            format_func=lambda p: {"tsne": "t-SNE", "umap": "UMAP"}.get(p, p),
            horizontal=True,
            key=f"{NS}.projection",
        )
        colour_label = st.selectbox("Colour by", list(options), key=f"{NS}.colour")
        threshold = st.slider(
            "Outlier threshold",
            0.0,
            1.0,
            float(b.outlier_threshold),
            0.01,
            key=f"{NS}.threshold",
            help="Paintings scoring at least this are flagged (ringed on the map).",
        )
        flagged_only = st.checkbox("Flagged only", key=f"{NS}.flagged_only")
        st.subheader("Filter")
        filters = tuple(
            (
                a,
                tuple(
                    st.multiselect(
                        data.attribute_label(a),
                        data.filter_values(b, key, a),
                        format_func=data.pretty_label,  # Pop Art, Paul Cézanne; the catalog's values kept
                        key=f"{NS}.filter.{a}",
                    )
                ),
            )
            for a in b.attributes
            if a in b.items.columns
        )

rows = data.filtered_rows(b, key, filters, flagged_only, threshold)
is_everything = len(rows) == len(b.items)
focus = st.session_state[f"{NS}.focus"]
# a painting opened by the search box, a link or a walk may be one the filters keep off the map
hidden = focus is not None and not is_everything and not bool((rows == int(focus)).any())
st.caption(prerender.map_caption(len(rows), len(b.items), hidden))

# the map rings the painting open in the inspector, unless a double-click on the map took the ring away
ringed = None if focus == st.session_state.get(f"{NS}.unringed") else focus
left, right = st.columns([3, 2], gap="medium")
with left:
    if len(rows) == 0:
        st.info("No painting matches these filters.")
    else:
        try:
            spec = prerender.map_spec(
                b,
                projection,
                colour_label,
                None if is_everything else tuple(rows.tolist()),
                threshold,
                verdict_of,
            )
        except Exception:
            if map_first:  # no map will report: show the error with the controls and the switcher
                state.controls_now(CHART)
            raise
        mark = data.map_mark(b, projection, ringed, None if is_everything else rows)
        # a new chart frame (a page load, or the page reached from another) has the map shown in the
        # page itself at once, while it loads under it, and hides that once it has drawn the map; later
        # runs keep the element, empty, so nothing moves
        first_view = (
            chart.is_new(CHART) and figures.first_view_wanted() and len(rows) <= figures.FIRST_VIEW_MAX_POINTS
        )
        picture = figures.first_view_html(spec, None if mark is None else mark[1:]) if first_view else ""
        st.html(picture or "<div></div>")  # (st.html refuses an empty body)
        chart.plotly_chart(
            spec,
            key=CHART,
            height=MAP_HEIGHT,
            on_change=state.selection_callback(NS, CHART),
            config={"scrollZoom": True, "displaylogo": False, "responsive": True},
            mark=mark,
            report_drawn=map_first,
        )
    selected = st.session_state[f"{NS}.selected"]
    # a lasso or a box of several paintings gets a table to pick from and export; one clicked painting
    # is in the inspector already (a table of it fetched the browser's 1.2 MB table script on the first
    # click, and the next click waited behind it: 1.3-1.7 s instead of 0.3-0.5 s)
    if len(selected) > 1:
        table = data.selection_table(b, selected, verdict_of)
        st.markdown(f"**{len(selected):,} selected** — pick a row to inspect it")
        st.dataframe(
            data.readable_table(b, selected, table),  # the export below keeps the catalog's values
            key=f"{NS}.table",
            hide_index=True,
            on_select=state.table_callback(NS, f"{NS}.table", selected),
            selection_mode="single-row",
            column_config={"source_url": st.column_config.LinkColumn("source")},
        )
        st.download_button(
            "Export selection (CSV)",
            functools.partial(data.to_csv_bytes, table),  # made when clicked, not on every run
            on_click="ignore",
            file_name=f"{b.name}-selection.csv",
            mime="text/csv",
            key=f"{NS}.export",
        )

with right:
    state.painting_to_url(b, focus)
    if focus is None:
        st.info("Click a point or lasso a group on the map to open a painting here.")
    else:
        widgets.inspector(b, int(focus), ns=NS, verdict_of=verdict_of)
