"""Reading images safely: one function every path goes through (catalog images and uploads).

Accepted: JPEG, PNG, WebP, TIFF, BMP and GIF (first frame). Refused with :class:`BadImageError`:
files over ``max_bytes``, images over ``max_pixels`` (decompression bombs), truncated or corrupt
data, anything Pillow cannot identify as one of the accepted formats.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from .errors import BadImageError

ACCEPTED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "MPO"})
MAX_BYTES = 50 * 1024 * 1024  # 50 MB: a large museum TIFF still fits
MAX_PIXELS = 80_000_000  # ~ 9000 x 9000


def load_image(
    source: str | Path | bytes,
    *,
    name: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_pixels: int = MAX_PIXELS,
) -> Image.Image:
    """Decode ``source`` (a path or raw bytes) to an RGB image, fully loaded and verified."""
    label = name or (str(source) if not isinstance(source, bytes) else "upload")
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise BadImageError(f"{label}: file not found") from None
        except OSError as exc:
            raise BadImageError(f"{label}: cannot read ({exc.strerror})") from None
        if size > max_bytes:
            raise BadImageError(f"{label}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise BadImageError(f"{label}: {len(data) / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB limit")
    if not data:
        raise BadImageError(f"{label}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format
            if fmt not in ACCEPTED_FORMATS:
                raise BadImageError(
                    f"{label}: format {fmt} is not accepted; use JPEG, PNG, WebP, TIFF, BMP or GIF"
                )
            w, h = img.size
            if w * h > max_pixels:
                raise BadImageError(
                    f"{label}: {w}x{h} pixels is over the {max_pixels / 1e6:.0f} megapixel limit"
                )
            if w < 1 or h < 1:
                raise BadImageError(f"{label}: image has no pixels")
            img.seek(0)  # first frame of an animated GIF/WebP/TIFF
            img.load()
            rgb = img.convert("RGB")
    except BadImageError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{label}: not a readable image ({exc.__class__.__name__})") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise BadImageError(f"{label}: corrupt or truncated image ({exc})") from None
    return rgb
