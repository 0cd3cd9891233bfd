"""Reading images safely: one function every path goes through (catalog images and uploads).

Accepted: JPEG, PNG, WebP, TIFF, BMP and GIF (first frame). Refused with :class:`BadImageError`:
files over ``max_bytes``, truncated or corrupt data, anything Pillow cannot identify as one of the
accepted formats. An image over ``max_pixels`` (a large museum scan, or a decompression bomb) is decoded
downscaled where the format allows it (JPEG's DCT scaling, 1/2 to 1/8, never more pixels than the limit
in memory) and otherwise refused as "too large: N megapixels (limit M)".

Pillow's own decompression-bomb check is replaced by this one (same purpose, but it refused large
scans as "not a readable image" and could not downscale them): every image this project decodes goes
through :func:`load_image`.
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
Image.MAX_IMAGE_PIXELS = None  # the check below replaces Pillow's (see the module docstring)


def _too_large(label: str, w: int, h: int, max_pixels: int) -> BadImageError:
    return BadImageError(
        f"{label}: too large: {w * h / 1e6:.0f} megapixels ({w}x{h}; limit {max_pixels / 1e6:.0f})"
    )


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
            if w * h > max_pixels and fmt in ("JPEG", "MPO"):
                # decode at 1/2, 1/4 or 1/8 scale: the smallest reduction that fits the limit
                for s in (2, 4, 8):
                    if -(-w // s) * -(-h // s) <= max_pixels:
                        img.draft("RGB", (-(-w // s), -(-h // s)))
                        break
            if img.size[0] * img.size[1] > max_pixels:
                raise _too_large(label, w, h, max_pixels)
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


def load_size_for(input_size: int) -> int:
    """The shorter side this project's trainers shrink every image to before their transforms: 15% above
    the network's input, room for random crops (and what inference repeats for their checkpoints)."""
    return round(1.15 * int(input_size))


def shrink(img: Image.Image, short_side: int) -> Image.Image:
    """Resize so the shorter side is ``short_side`` (bicubic). What the trainers do to every image before
    their transforms (``load_size``), and so what inference does first for a checkpoint they trained."""
    w, h = img.size
    s = short_side / min(w, h)
    if abs(s - 1) < 1e-6:
        return img
    return img.resize(
        (max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BICUBIC, reducing_gap=3.0
    )
