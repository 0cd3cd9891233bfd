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


#: what the Collections page builds an imported collection with: the released checkpoints and the
#: public-domain sample's reference collection (overridable for tests and other deployments)
RELEASED_CLASSIFIER = "ensemble-wikiart"
RELEASED_ENCODER = "ensemble-wikiart"
REFERENCE_COLLECTION = "sample/reference"


def import_build_defaults() -> dict[str, Path | None]:
    """Checkpoints and reference for imported collections (``$ARTEXTRACT_CLASSIFIER``,
    ``$ARTEXTRACT_ENCODER``, ``$ARTEXTRACT_REFERENCE``; the reference is left out if it is absent)."""
    ref = Path(os.environ.get("ARTEXTRACT_REFERENCE", data_dir() / REFERENCE_COLLECTION))
    return {
        "classifier": Path(os.environ.get("ARTEXTRACT_CLASSIFIER", models_dir() / RELEASED_CLASSIFIER)),
        "encoder": Path(os.environ.get("ARTEXTRACT_ENCODER", models_dir() / RELEASED_ENCODER)),
        "reference": ref if (ref / "catalog.csv").is_file() else None,
    }


def collections_dir() -> Path:
    """Where imported collections are written (one folder each: ``catalog.csv`` + ``images/``)."""
    return data_dir() / "collections"
