"""Command-line options become the WebUI API body; syntax errors name the option."""

from __future__ import annotations

import base64
import json

import pytest

from sdcloud.payload_options import OptionError, build_payload, load_payload, parse_controlnet


def test_a_controlnet_spec_becomes_a_unit_with_typed_values_and_the_image_inlined(tmp_path):
    image = tmp_path / "pose.png"
    image.write_bytes(b"\x89PNG fake")

    unit = parse_controlnet(f"module=openpose, model=tiny-cn,image={image},weight=0.6,guidance_end=0.8,"
                            "processor_res=256,pixel_perfect=true,control_mode=Balanced")

    assert unit == {"enabled": True, "module": "openpose", "model": "tiny-cn",
                    "image": base64.b64encode(b"\x89PNG fake").decode(), "weight": 0.6, "guidance_end": 0.8,
                    "processor_res": 256, "pixel_perfect": True, "control_mode": "Balanced"}


@pytest.mark.parametrize(("spec", "message"), [
    ("module=canny,strength=2", "unknown key 'strength'"),
    ("module=canny,weight=heavy", "weight=heavy"),
    ("module=canny,pixel_perfect=maybe", "pixel_perfect=maybe"),
    ("canny", "'canny' is not key=value"),
    ("module=canny,image=/no/such/file.png", "cannot read image"),
])
def test_a_bad_controlnet_spec_is_rejected_naming_what_is_wrong(spec, message):
    with pytest.raises(OptionError, match=message):
        parse_controlnet(spec)


def test_options_given_override_the_payload_file_and_absent_ones_keep_it(tmp_path):
    file = tmp_path / "payload.json"
    overrides = {"sd_vae": "file-vae", "CLIP_stop_at_last_layers": 2}
    file.write_text(json.dumps({"prompt": "from file", "steps": 30, "override_settings": overrides}))
    init = tmp_path / "init.png"
    init.write_bytes(b"init")

    payload = build_payload(load_payload(file), {"prompt": None, "steps": 5, "seed": None},
                            {"sd_model_checkpoint": "sd15", "sd_vae": None}, ["module=canny,model=cn"],
                            init_images=[init])

    assert payload == {
        "prompt": "from file", "steps": 5,
        "override_settings": {"sd_vae": "file-vae", "CLIP_stop_at_last_layers": 2, "sd_model_checkpoint": "sd15"},
        "alwayson_scripts": {"controlnet": {"args": [{"enabled": True, "module": "canny", "model": "cn"}]}},
        "init_images": [base64.b64encode(b"init").decode()],
    }


def test_a_payload_file_must_be_a_json_object(tmp_path):
    file = tmp_path / "payload.json"
    file.write_text("[1, 2]")

    with pytest.raises(OptionError, match="JSON object"):
        load_payload(file)
    file.write_text("{nope")
    with pytest.raises(OptionError, match="not JSON"):
        load_payload(file)
