"""Small split files with the real ArtGAN quirks, and a tiny WikiArt folder, for tests."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

STYLES = ["Impressionism", "Realism", "Symbolism"]
ARTISTS = ["Claude_Monet", "Ilya_Repin"]
GENRES = ["landscape", "portrait"]


def write_splits(
    folder: Path,
    *,
    style: dict[str, list[str]],
    artist: dict[str, list[str]] | None = None,
    genre: dict[str, list[str]] | None = None,
    bare_genre_classes: bool = False,
) -> Path:
    """Write split files like the published ones. Each dict maps split -> raw row bodies
    ("path,idx" for style/genre; the artist writer turns "path,idx" into "path,,idx")."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "style_class.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(STYLES)))
    (folder / "artist_class").write_text("".join(f"{i} {n}\n" for i, n in enumerate(ARTISTS)))
    genre_classes = GENRES if bare_genre_classes else [f"{i} {n}" for i, n in enumerate(GENRES)]
    (folder / "genre_class").write_text("".join(f"{n}\n" for n in genre_classes))
    for split, rows in style.items():
        (folder / f"style_{split}.csv").write_bytes("".join(f"{r}\r\n" for r in rows).encode())
    for split, rows in (genre or {"train": [], "val": []}).items():
        (folder / f"genre_{split}.csv").write_bytes("".join(f"{r}\r\n" for r in rows).encode())
    for split, rows in (artist or {"train": [], "val": []}).items():
        body = "(Path to image),, (Groundtruth class) \n\n" + "".join(
            f"{r.rsplit(',', 1)[0]},,{r.rsplit(',', 1)[1]}\n" if "," in r else f"{r}\n" for r in rows
        )
        (folder / f"artist_{split}").write_text(body)
    return folder


def jpeg(seed: int, size: int = 16) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def make_images(root: Path, rel_paths: list[str]) -> None:
    for i, rel in enumerate(rel_paths):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(jpeg(i))
