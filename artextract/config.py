"""Where things live. Paths come from this file's location or environment variables, never from
the working directory.

- ``ARTEXTRACT_DATA``: collections, artifact bundles and the review database (default ``<project>/data``).
- ``ARTEXTRACT_MODELS``: released checkpoints (default ``<project>/models``).
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("ARTEXTRACT_DATA", PROJECT_ROOT / "data"))


def models_dir() -> Path:
    return Path(os.environ.get("ARTEXTRACT_MODELS", PROJECT_ROOT / "models"))


def collection_dir(name: str) -> Path:
    """Folder of a collection: ``catalog.csv`` plus the images it names."""
    return data_dir() / name


def artifacts_dir(name: str) -> Path:
    """Folder of the artifact bundle built for a collection."""
    return data_dir() / "artifacts" / name


#: the bundle the app and the CLI open by default: the committed public-domain sample of real paintings
DEFAULT_BUNDLE = "sample"


def default_bundle() -> Path:
    """``$ARTEXTRACT_BUNDLE`` or ``data/artifacts/sample`` (what ``make demo`` builds)."""
    env = os.environ.get("ARTEXTRACT_BUNDLE")
    return Path(env).expanduser() if env else artifacts_dir(DEFAULT_BUNDLE)


def review_db_path() -> Path:
    return data_dir() / "review.sqlite"
