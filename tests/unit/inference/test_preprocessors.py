"""ControlNet preprocessors run on local weights: the plain ones, and each network family on random weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from inference_image.controlnet import pixel_perfect_resolution
from inference_image.errors import InvalidJob
from inference_image.preprocessors import Preprocessors


def picture() -> Image.Image:
    image = Image.new("RGB", (96, 64), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 10, 60, 50), outline=(0, 0, 0), width=3)
    draw.line((0, 60, 95, 5), fill=(30, 30, 30), width=2)
    return image


@pytest.fixture(scope="module")
def pre() -> Preprocessors:
    return Preprocessors("cpu")


@pytest.mark.parametrize(
    "module",
    ["none", "canny", "invert", "lineart_standard", "scribble_xdog", "lineart_standard (from white bg & black line)"],
)
def test_plain_preprocessors(pre, module):
    out = pre.run(module, picture(), 64, -1, -1, {})
    assert out.mode == "RGB"
    pixels = np.asarray(out)
    if module != "none":
        assert min(out.size) == 64  # detected at the processor resolution
        assert pixels.max() > pixels.min()  # something was detected


def test_canny_thresholds_matter(pre):
    low = np.asarray(pre.run("canny", picture(), 64, 1, 2, {}))
    high = np.asarray(pre.run("canny", picture(), 64, 250, 255, {}))
    assert (low > 0).sum() > (high > 0).sum()


def save(tmp_path: Path, name: str, state: dict) -> Path:
    path = tmp_path / f"{name}.pth"
    torch.save(state, str(path))
    return path


def test_network_preprocessors_on_random_weights(pre, tmp_path):
    from controlnet_aux.hed import ControlNetHED_Apache2
    from controlnet_aux.lineart import Generator

    torch.manual_seed(0)
    files = {
        "sk_model": save(tmp_path, "sk_model", Generator(3, 1, 3).state_dict()),
        "ControlNetHED": save(tmp_path, "ControlNetHED", ControlNetHED_Apache2().state_dict()),
    }
    for module in ("lineart_realistic", "lineart", "scribble_hed"):
        out = pre.run(module, picture(), 64, -1, -1, files)
        assert out.mode == "RGB" and min(out.size) == 64


def test_openpose_with_hands_on_the_sample_weights(pre, tmp_path):
    from sdcloud_tools.sample_models import write_sample_models

    models = write_sample_models(tmp_path)
    files = {"body_pose_model": models["openpose_body"], "hand_pose_model": models["openpose_hand"]}
    for module in ("openpose", "openpose_hand", "openpose_full"):  # full: no face weights, body and hands
        assert pre.run(module, picture(), 64, -1, -1, files).mode == "RGB"


def test_missing_annotator_is_a_clear_error(pre):
    with pytest.raises(InvalidJob, match="needs the annotator model"):
        pre.run("depth", picture(), 64, -1, -1, {})


def test_pixel_perfect_matches_the_extension():
    image = Image.new("RGB", (1024, 768))
    assert pixel_perfect_resolution(image, 512, 512, "Crop and Resize") == 512
    assert pixel_perfect_resolution(image, 512, 512, "Resize and Fill") == 384
    assert pixel_perfect_resolution(image, 768, 512, "Just Resize") == 576  # max(512/768, 768/1024) * 768


def test_sample_models_are_deterministic(tmp_path):
    from sdcloud_tools.sample_models import REGISTRATION, write_sample_models

    first = write_sample_models(tmp_path / "a")
    second = write_sample_models(tmp_path / "b")
    assert set(first) == set(REGISTRATION)
    assert {"checkpoint", "controlnet", "vae", "lora", "embedding"} <= set(first)
    for key in first:
        assert first[key].read_bytes() == second[key].read_bytes(), key


def test_openpose_hands_found_are_drawn(pre, tmp_path, monkeypatch):
    """Random weights find no hands, so this gives the detector a pose with one hand: controlnet_aux draws hands
    with matplotlib's colours, which the inference extra must install (a job with hands failed without it)."""
    from controlnet_aux.open_pose import BodyResult, Keypoint, OpenposeDetector, PoseResult

    from sdcloud_tools.sample_models import write_sample_models

    models = write_sample_models(tmp_path)
    files = {"body_pose_model": models["openpose_body"], "hand_pose_model": models["openpose_hand"]}
    hand = [Keypoint(0.2 + 0.03 * i, 0.2 + 0.025 * i) for i in range(21)]
    pose = PoseResult(BodyResult([None] * 18, 0.0, 0), hand, None, None)
    monkeypatch.setattr(OpenposeDetector, "detect_poses", lambda self, image, include_hand, include_face: [pose])
    for module in ("openpose_hand", "openpose_full"):
        drawn = np.asarray(pre.run(module, picture(), 64, -1, -1, files))
        assert drawn.any(), module  # the hand's bones and joints on the black canvas
    assert not np.asarray(pre.run("openpose", picture(), 64, -1, -1, files)).any()  # body only: nothing found
