"""The app package: what the pages (``pages/*.py``) are built from.

- :mod:`.data`: cached loaders and pure selection logic (no streamlit; unit-tested without it)
- :mod:`.figures`: plotly figure builders, data in, figure out (no streamlit)
- :mod:`.models`: the classifier and encoder run on an upload, and Grad-CAM (no streamlit)
- :mod:`.cards`: checkpoint cards and training logs for the Models page (no streamlit)
- :mod:`.state`: session keys, URL parameters, the current bundle, selection callbacks
- :mod:`.widgets`: the inspector, galleries and grids
- :mod:`.chart`: the Explore map and Confusion matrices, a Streamlit component drawing plotly figures
  with a small build of plotly.js (``static/chart/``)

Nothing else in the library imports streamlit.
"""
