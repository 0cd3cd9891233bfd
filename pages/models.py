"""Models: each checkpoint's card, training curves and metrics."""

from __future__ import annotations

import streamlit as st

from artextract.app import cards, data, state
from artextract.errors import BundleError

state.ensure_app_navigation()
st.title("Models")
try:
    b = data.load_bundle()
except BundleError as exc:
    st.warning(f"No bundle loaded ({exc}); showing the checkpoints under models/.")
    b = None

found = cards.checkpoint_dirs(b)
if not found:
    st.info("No checkpoints found. Train some with 'python -m artextract.train classifier|byol'.")
    st.stop()

for label, cdir in found.items():
    card = cards.read_card(str(cdir), cards.mtime(cdir / "card.json"))
    with st.expander(label, expanded=True):
        if card is None:
            st.error(f"{cdir}: card.json is missing or unreadable")
            continue
        st.markdown(cards.card_summary(card, cdir))
        metrics = cards.card_metrics(card)
        if not metrics.empty:
            st.markdown("**Validation metrics (from the card)**")
            st.dataframe(
                metrics,
                hide_index=True,
                column_config={
                    c: st.column_config.NumberColumn(format="%.3f")
                    for c in metrics.columns
                    if metrics[c].dtype.kind == "f"
                },
            )
            st.caption(cards.metrics_note(card))
        gate_note = cards.open_set_note(cdir)
        if gate_note:
            st.markdown(gate_note)
        log = cards.read_log(str(cdir), cards.mtime(cdir / "log.jsonl"))
        curves = cards.curve_columns(log)
        if curves:
            st.markdown("**Training curves**")
            cols = st.columns(min(3, len(curves)))
            for i, (name, columns) in enumerate(curves.items()):
                with cols[i % len(cols)]:
                    st.caption(name)
                    st.vega_lite_chart(*cards.curve_chart(log, columns), height=220)
        elif (cdir / "curves.png").is_file():
            st.image(str(cdir / "curves.png"), caption="Training curves")
        elif card.get("arch") == "ensemble":
            st.caption("An ensemble of trained networks: each member's training is on its card (Full card).")
        else:
            st.caption("No training log next to this checkpoint.")
        with st.popover("Full card"):
            st.json(card)
