from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from inference_image.errors import InvalidJob
from inference_image.images import decode_image, decode_mask, encode_image, resize
from inference_image.pool import ModelPool, module_bytes


def test_resize_modes():
    wide = Image.new("RGB", (200, 100), (255, 0, 0))
    wide.paste((0, 0, 255), (0, 0, 20, 100))  # a blue band on the left
    stretched = resize(wide, 64, 64, "Just Resize")
    cropped = resize(wide, 64, 64, "Crop and Resize")
    filled = resize(wide, 64, 64, "Resize and Fill")
    assert stretched.size == cropped.size == filled.size == (64, 64)
    assert np.asarray(stretched)[32, 2][2] > 200  # the band survives a stretch
    assert np.asarray(cropped)[32, 2][0] > 200  # cropping to the centre cuts it off
    assert np.asarray(filled)[2, 32][0] > 200  # the border rows repeat the image's edge


def test_decode_rejects_what_is_not_an_image():
    image = decode_image("data:image/png;base64," + encode_image(Image.new("RGBA", (8, 8))), "init_images[0]")
    assert image.mode == "RGB"
    with pytest.raises(InvalidJob) as err:
        decode_image("bm90IGFuIGltYWdl", "mask")
    assert err.value.field == "mask"


def test_pool_keeps_within_budget_and_evicts_least_recently_used():
    size = module_bytes(torch.nn.Linear(10, 10))
    pool = ModelPool(budget_bytes=2 * size)
    pool.get("a", lambda: torch.nn.Linear(10, 10))
    pool.get("b", lambda: torch.nn.Linear(10, 10))
    pool.get("a", lambda: pytest.fail("a is cached"))
    pool.get("c", lambda: torch.nn.Linear(10, 10))
    assert pool.keys() == ["a", "c"]
    assert pool.used_bytes() <= 2 * size
    assert pool.loads == 3


def test_masks_take_the_alpha_channel_of_transparent_images():
    painted = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    painted.paste((0, 0, 0, 255), (0, 0, 4, 8))  # opaque strokes on the left half mark the area to repaint
    mask = np.asarray(decode_mask(encode_image(painted), "mask"))
    assert mask[:, :4].min() == 255 and mask[:, 4:].max() == 0
    plain = Image.new("RGB", (8, 8), (0, 0, 0))
    plain.paste((255, 255, 255), (4, 0, 8, 8))
    mask = np.asarray(decode_mask(encode_image(plain), "mask"))
    assert mask[:, 4:].min() == 255 and mask[:, :4].max() == 0
