"""Review: the queue of flagged paintings; record "confirmed" or "dismissed" with a note."""

from __future__ import annotations

import streamlit as st

from artextract import review
from artextract.app import data, state, widgets

NS = "review"

state.ensure_app_navigation()
st.title("Review flagged paintings")
b = state.current_bundle()
state.init_state({f"{NS}.focus": None, f"{NS}.history": []})
verdict_of = state.verdicts(b)

show = st.segmented_control(
    "Show",
    ["To review", "Confirmed", "Dismissed", "All flagged"],
    default="To review",
    key=f"{NS}.show",
    on_change=state.focus_row,
    args=(NS, None),
    kwargs={"push": False},
)
queue = data.review_queue(b, verdict_of, show or "All flagged", state.reviewers(b))
done = sum(1 for pid in data.flagged_ids(b) if pid in verdict_of)
st.caption(
    f"{done} of {len(data.flagged_ids(b))} flagged paintings reviewed (outlier score ≥ {b.outlier_threshold:.2f}). "
    "Verdicts are saved at once and kept across restarts."
)

left, right = st.columns([2, 3], gap="medium")
with left:
    if queue.empty:
        if show == "To review":
            st.success("Nothing here.")
        else:
            st.info("Nothing here.")
    else:
        st.dataframe(
            queue.drop(columns=["row"]),
            key=f"{NS}.table",
            hide_index=True,
            on_select=state.table_callback(NS, f"{NS}.table", queue["row"].tolist()),
            selection_mode="single-row",
            # what shows in the narrow column: score, title, what it is flagged on, artist; no verdict
            # columns in a queue without verdicts; the reasons in full last (and in the inspector)
            column_order=["outlier_score", "title", "on", "artist"]
            + ([] if show == "To review" else ["verdict", "reviewer"])
            + ["reasons"],
            column_config={
                "outlier_score": st.column_config.ProgressColumn(
                    "score", min_value=0.0, max_value=1.0, format="%.2f", width=70
                ),
                "title": st.column_config.TextColumn("title", width="medium"),
                "on": st.column_config.TextColumn(
                    "flagged on",
                    width="small",
                    help="the attributes whose labels look wrong, strongest first",
                ),
                "artist": st.column_config.TextColumn("artist", width="small"),
                "reasons": st.column_config.TextColumn("why flagged", width="large"),
            },
        )
    st.download_button(
        "Export verdicts (CSV)",
        # made when clicked (the verdicts as they are then), not read from the database on every run
        lambda: review.export_csv(bundle_name=b.name).encode("utf-8"),
        on_click="ignore",
        file_name=f"{b.name}-verdicts.csv",
        mime="text/csv",
        key=f"{NS}.export",
    )

with right:
    focus = st.session_state[f"{NS}.focus"]
    if focus is None and not queue.empty:
        focus = int(queue["row"].iloc[0])
        st.session_state[f"{NS}.focus"] = focus
    if focus is not None:
        widgets.inspector(
            b, int(focus), ns=NS, verdict_of=verdict_of, advance_after_verdict=show == "To review"
        )
