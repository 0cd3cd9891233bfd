"""ArtExtract: see a painting collection through deep learning.

The library behind the Streamlit app: catalogs (``catalog``), sources that produce them
(``sources``), models (``nets``), batched inference (``infer``), training (``train``, a separate
entry point), analysis (``analysis``) and the artifact bundle that ``build`` writes and the app reads
(``build``, ``bundle``). Nothing here imports streamlit, and nothing does work at import time.
"""

__version__ = "0.1.0"
