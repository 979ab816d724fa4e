"""Images in and out: base64 decoding, the WebUI resize modes, PNG with the infotext chunk."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from api_schema import s3_layout
from inference_image.errors import InvalidJob


def _open(data: str, field: str) -> Image.Image:
    if data.startswith("data:"):
        data = data.split(",", 1)[-1]
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=False)))
        image.load()
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidJob(f"{field} is not a base64-encoded PNG or JPEG image", field) from exc
    return image


def decode_mask(data: str, field: str) -> Image.Image:
    """An inpainting mask as "L" (white is repainted): the alpha channel of a transparent RGBA image, as
    the WebUI's `create_binary_mask` takes it, else the image's luminance."""
    image = _open(data, field)
    if image.mode == "RGBA" and image.getextrema()[-1] != (255, 255):
        return image.split()[-1].point(lambda x: 255 if x > 128 else 0)
    return image.convert("L")


def decode_image(data: str, field: str) -> Image.Image:
    """A base64 PNG/JPEG (with or without a `data:` prefix) as an RGB image; InvalidJob names the field."""
    image = _open(data, field)
    if image.mode == "RGBA":  # flatten on white as the WebUI does
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


def encode_image(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def resize(image: Image.Image, width: int, height: int, mode: str) -> Image.Image:
    """The WebUI's resize modes: stretch, cover and centre-crop, or fit and fill the borders."""
    if image.size == (width, height):
        return image
    if mode == "Just Resize":
        return image.resize((width, height), Image.Resampling.LANCZOS)
    src_w, src_h = image.size
    cover = mode == "Crop and Resize"
    ratio = max(width / src_w, height / src_h) if cover else min(width / src_w, height / src_h)
    new_w, new_h = max(1, round(src_w * ratio)), max(1, round(src_h * ratio))
    scaled = image.resize((new_w, new_h), Image.Resampling.LANCZOS)
    canvas = Image.new(image.mode, (width, height))
    canvas.paste(scaled, ((width - new_w) // 2, (height - new_h) // 2))
    if not cover:  # stretch the edge rows/columns into the borders, as "Resize and Fill" does
        if new_w < width:
            left = (width - new_w) // 2
            canvas.paste(scaled.crop((0, 0, 1, new_h)).resize((left, new_h)), (0, (height - new_h) // 2))
            right = width - new_w - left
            if right:
                canvas.paste(
                    scaled.crop((new_w - 1, 0, new_w, new_h)).resize((right, new_h)),
                    (left + new_w, (height - new_h) // 2),
                )
        if new_h < height:
            top = (height - new_h) // 2
            canvas.paste(scaled.crop((0, 0, new_w, 1)).resize((new_w, top)), ((width - new_w) // 2, 0))
            bottom = height - new_h - top
            if bottom:
                canvas.paste(
                    scaled.crop((0, new_h - 1, new_w, new_h)).resize((new_w, bottom)),
                    ((width - new_w) // 2, top + new_h),
                )
    return canvas


def png_bytes(image: Image.Image, infotext: str | None) -> bytes:
    """The PNG the WebUI saves: the infotext in a `parameters` text chunk (none for a detected map)."""
    info = PngImagePlugin.PngInfo()
    if infotext is not None:
        info.add_text("parameters", infotext)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def upload_pngs(s3: Any, bucket: str, prefix: str, pngs: list[tuple[Image.Image, str | None]]) -> list[str]:
    """Each (image, infotext) as {prefix}image_N.png, in order; returns the keys."""
    keys = []
    for n, (image, infotext) in enumerate(pngs):
        key = s3_layout.image_key(prefix, n)
        s3.put_object(Bucket=bucket, Key=key, Body=png_bytes(image, infotext), ContentType="image/png")
        keys.append(key)
    return keys
