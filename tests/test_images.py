import io

import pytest
from PIL import Image

from artextract.errors import BadImageError
from artextract.images import MAX_BYTES, MAX_PIXELS, load_image


def _encode(fmt: str, size=(32, 24), mode="RGB", **kw) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 60) if mode == "RGB" else 128).save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF", "BMP"])
def test_accepted_formats_decode_to_rgb(fmt):
    img = load_image(_encode(fmt))
    assert img.mode == "RGB" and img.size == (32, 24)


def test_gif_gives_its_first_frame():
    frames = [Image.new("P", (16, 16), i) for i in (10, 200)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    assert load_image(buf.getvalue()).size == (16, 16)


def test_truncated_jpeg_is_refused():
    data = _encode("JPEG", size=(256, 256))
    with pytest.raises(BadImageError, match="corrupt|truncated|readable"):
        load_image(data[: len(data) // 3])


def test_non_image_and_empty_bytes_are_refused():
    with pytest.raises(BadImageError, match="not a readable image"):
        load_image(b"<html>not an image</html>", name="x.jpg")
    with pytest.raises(BadImageError, match="empty"):
        load_image(b"")


def test_decompression_bomb_is_refused_before_decoding():
    # A small PNG that declares a huge canvas.
    data = _encode("PNG", size=(12000, 12000), mode="L")
    with pytest.raises(BadImageError, match=r"too large: 144 megapixels .*limit 10\)"):
        load_image(data, max_pixels=10_000_000)


def test_size_cap_and_missing_file(tmp_path):
    p = tmp_path / "big.png"
    p.write_bytes(_encode("PNG"))
    with pytest.raises(BadImageError, match="over the"):
        load_image(p, max_bytes=10)
    with pytest.raises(BadImageError, match="not found"):
        load_image(tmp_path / "nope.jpg")


def test_unsupported_format_is_named():
    with pytest.raises(BadImageError, match="not accepted"):
        load_image(_encode("PPM"))


def test_a_large_png_scan_is_refused_as_too_large_not_unreadable():
    """12,000 x 12,000 px in 0.45 MB: under the byte cap, over the pixel limit, and no format trick."""
    img = Image.new("RGB", (12000, 12000), (200, 100, 50))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert len(buf.getvalue()) < MAX_BYTES
    with pytest.raises(BadImageError, match=r"too large: 144 megapixels \(12000x12000; limit 80\)"):
        load_image(buf.getvalue(), name="scan.png")


def test_a_large_jpeg_scan_is_decoded_downscaled():
    img = Image.new("RGB", (12000, 9000), (30, 60, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=50)
    out = load_image(buf.getvalue(), name="scan.jpg")
    assert out.size == (6000, 4500) and out.size[0] * out.size[1] <= MAX_PIXELS
    assert out.getpixel((10, 10)) == pytest.approx((30, 60, 90), abs=3)
    # the same rule with a smaller limit picks a stronger reduction (1/8 here)
    small = load_image(buf.getvalue(), name="scan.jpg", max_pixels=2_000_000)
    assert small.size == (1500, 1125)
