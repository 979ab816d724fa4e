"""hr_upscaler names as the WebUI takes them, and the hires fields of a txt2img body."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from api_schema.payload import parse_payload
from api_schema.upscalers import LATENT_UPSCALE_MODES, Upscaler, parse_upscaler

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.mark.parametrize(("name", "expected"), [
    (None, Upscaler("latent", "Latent")),
    ("Latent", Upscaler("latent", "Latent")),
    ("latent (bicubic antialiased)", Upscaler("latent", "Latent (bicubic antialiased)")),
    (" Latent (nearest-exact) ", Upscaler("latent", "Latent (nearest-exact)")),
    ("None", Upscaler("pixel", "None")),
    ("lanczos", Upscaler("pixel", "Lanczos")),
    ("Nearest", Upscaler("pixel", "Nearest")),
    ("4x-UltraSharp", Upscaler("model", "4x-UltraSharp")),
    ("R-ESRGAN 4x+", Upscaler("model", "R-ESRGAN 4x+")),
    ("Latent (trilinear)", Upscaler("model", "Latent (trilinear)")),
])
def test_upscaler_names(name, expected):
    assert parse_upscaler(name) == expected


def test_the_latent_family_is_the_webuis():
    assert LATENT_UPSCALE_MODES["Latent"] == ("bilinear", False)
    assert LATENT_UPSCALE_MODES["Latent (antialiased)"] == ("bilinear", True)
    assert len(LATENT_UPSCALE_MODES) == 6


def test_an_empty_upscaler_name_is_refused():
    with pytest.raises(ValueError, match="hr_upscaler"):
        parse_upscaler("  ")


def test_hires_fields_in_the_forms_the_webui_takes():
    parsed = parse_payload("txt2img", {
        "enable_hr": True, "hr_upscaler": "latent (bicubic)", "hr_sampler_name": "DPM++ 2M Karras",
        "hr_checkpoint_name": "Use same checkpoint", "refiner_checkpoint": "None", "refiner_switch_at": 0.8,
        "alwayson_scripts": {"controlnet": {"args": [{"model": "cn", "image": PNG, "hr_option": "high res only"},
                                                     {"model": "cn", "image": PNG, "hr_option": 1}]}}})
    assert parsed.hr_upscaler == "Latent (bicubic)"
    assert (parsed.hr_sampler_name, parsed.hr_scheduler) == ("DPM++ 2M", "Karras")
    assert parsed.hr_checkpoint_name is None and parsed.refiner is None
    assert [u.hr_option for u in parsed.controlnet_units] == ["High res only", "Low res only"]
    assert [u.applies(None) for u in parsed.controlnet_units] == [True, True]
    assert [(u.applies(False), u.applies(True)) for u in parsed.controlnet_units] == [(False, True), (True, False)]
    assert parse_payload("txt2img", {"enable_hr": True, "hr_sampler_name": "Use same sampler"}).hr_sampler_name is None


@pytest.mark.parametrize(("switch_at", "refiner"), [(None, "r"), (0.0, "r"), (0.8, "r"), (1.0, None)])
def test_the_refiner_takes_over_unless_it_switches_at_the_end(switch_at, refiner):
    body = {"refiner_checkpoint": "r", **({"refiner_switch_at": switch_at} if switch_at is not None else {})}
    assert parse_payload("img2img", {"init_images": [PNG], **body}).refiner == refiner


def test_bad_hires_values_are_named():
    with pytest.raises(ValidationError) as caught:
        parse_payload("txt2img", {"enable_hr": True, "hr_scale": 0.5, "hr_sampler_name": "Magic",
                                  "hr_scheduler": "Sometimes",
                                  "alwayson_scripts": {"controlnet": {"args": [{"model": "cn", "image": PNG,
                                                                                "hr_option": "Never"}]}}})
    fields = {".".join(str(p) for p in e["loc"]) for e in caught.value.errors()}
    assert fields == {"hr_scale", "hr_sampler_name", "hr_scheduler", "alwayson_scripts.controlnet.args.0.hr_option"}


def test_the_hires_prompt_keeps_the_prompts_loras():
    assert parse_payload("txt2img", {"enable_hr": True, "prompt": "a <lora:x:1>", "hr_prompt": "b <lora:x:1>"})
    with pytest.raises(ValidationError, match="LoRA tags of hr_prompt"):
        parse_payload("txt2img", {"enable_hr": True, "prompt": "a <lora:x:1>", "hr_prompt": "b"})
