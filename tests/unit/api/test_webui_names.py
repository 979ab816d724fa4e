"""Names in every form the WebUI and the ControlNet extension take them, and what the screen makes of each field."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from api_schema.controlnet_modes import canonical_control_mode, canonical_resize_mode
from api_schema.images import image_problem
from api_schema.payload import PAYLOAD_MODELS, ControlNetUnit, parse_payload
from api_schema.preprocessors import PREPROCESSOR_ALIASES, canonical_preprocessor
from api_schema.samplers import canonical_sampler, canonical_schedule
from api_schema.support import NOT_IMPLEMENTED, UNIT_NOT_IMPLEMENTED, screen
from api_schema.validation_errors import problems
from api_schema.webui_fields import CONTROLNET_UNIT_FIELDS, WEBUI_FIELDS

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def errors_of(task: str, payload: dict) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        parse_payload(task, payload)
    return {".".join(str(p) for p in e["loc"]): e["msg"] for e in caught.value.errors()}


@pytest.mark.parametrize(("given", "sampler", "schedule"), [
    ("Euler a", "Euler a", None), ("euler A", "Euler a", None), ("k_euler_a", "Euler a", None),
    ("DPM++ 2M Karras", "DPM++ 2M", "Karras"), ("dpm++ 2m karras", "DPM++ 2M", "Karras"),
    ("DPM++ 2M SDE Exponential", "DPM++ 2M SDE", "Exponential"), ("k_dpmpp_2m", "DPM++ 2M", None),
    ("DDIM", "DDIM", None), ("Euler uniform", "Euler", "Uniform"),
])
def test_sampler_names_aliases_and_schedule_suffixes(given, sampler, schedule):
    assert canonical_sampler(given) == (sampler, schedule)


@pytest.mark.parametrize(("given", "words"), [
    ("Magic", "unknown sampler 'Magic'"), ("PLMS", "sampler 'PLMS' is not implemented"),
    ("DPM++ 2M Beta", "scheduler 'Beta' is not implemented"),
])
def test_unknown_and_unimplemented_samplers_are_told_apart(given, words):
    with pytest.raises(ValueError, match=words):
        canonical_sampler(given)


@pytest.mark.parametrize(("given", "label"), [
    (None, "Automatic"), ("", "Automatic"), ("automatic", "Automatic"), ("KARRAS", "Karras"),
    ("exponential", "Exponential"), ("Uniform", "Uniform"),
])
def test_scheduler_labels_and_names_in_any_case(given, label):
    assert canonical_schedule(given) == label


def test_a_legacy_sampler_name_sets_the_schedule_unless_the_scheduler_names_one():
    assert parse_payload("txt2img", {"sampler_name": "DPM++ 2M Karras"}).scheduler == "Karras"
    explicit = parse_payload("txt2img", {"sampler_name": "DPM++ 2M Karras", "scheduler": "exponential"})
    assert (explicit.sampler_name, explicit.scheduler) == ("DPM++ 2M", "Exponential")


def test_sampler_index_is_the_alias_of_sampler_name():
    assert parse_payload("txt2img", {"sampler_index": "DDIM"}).sampler_name == "DDIM"
    assert parse_payload("txt2img", {"sampler_name": None, "sampler_index": "Heun"}).sampler_name == "Heun"
    assert parse_payload("txt2img", {"sampler_index": "Heun", "sampler_name": ""}).sampler_name == "Heun"
    both = parse_payload("txt2img", {"sampler_name": "Euler", "sampler_index": "DDIM"})
    assert both.sampler_name == "Euler"
    assert [w.field for w in both.warnings] == ["sampler_index"]
    assert errors_of("txt2img", {"sampler_index": "Magic"})["sampler_name"].startswith("unknown sampler 'Magic'")


@pytest.mark.parametrize(("given", "name"), [
    (0, "Just Resize"), (1, "Crop and Resize"), (2, "Resize and Fill"), (3, "Just Resize"),
    ("Crop and Resize", "Crop and Resize"), ("Scale to Fit (Inner Fit)", "Crop and Resize"),
    ("Inner Fit (Scale to Fit)", "Crop and Resize"), ("Envelope (Outer Fit)", "Resize and Fill"),
    ("Outer Fit (Shrink to Fit)", "Resize and Fill"),
])
def test_resize_mode_forms(given, name):
    assert canonical_resize_mode(given) == name


@pytest.mark.parametrize(("given", "name"), [
    (0, "Balanced"), (1, "My prompt is more important"), (2, "ControlNet is more important"),
    ("Balanced", "Balanced"), ("ControlNet is more important", "ControlNet is more important"),
    ("PROMPT", "My prompt is more important"),
])
def test_control_mode_forms(given, name):
    assert canonical_control_mode(given) == name


@pytest.mark.parametrize("bad", [4, -1, "Stretch", True, None])
def test_bad_resize_and_control_modes_name_the_forms(bad):
    with pytest.raises(ValueError, match="resize_mode must be one of"):
        canonical_resize_mode(bad)
    with pytest.raises(ValueError, match="control_mode must be one of"):
        canonical_control_mode(bad)


@pytest.mark.parametrize(("alias", "label"), sorted(PREPROCESSOR_ALIASES.items()))
def test_every_module_alias_of_the_extension_has_its_label(alias, label):
    try:
        assert canonical_preprocessor(alias) == label
    except ValueError as exc:  # the label is one of the extension's that sd-cloud does not run
        assert f"'{label}' is not implemented by sd-cloud" in str(exc)


def test_module_names():
    assert canonical_preprocessor("depth") == "depth_midas"
    assert canonical_preprocessor("None") == "none"
    with pytest.raises(ValueError, match="unknown ControlNet preprocessor 'segment'"):
        canonical_preprocessor("segment")


def unit_payload(**unit):
    return {"alwayson_scripts": {"controlnet": {"args": [{"enabled": True, "model": "cn", **unit}]}}}


def test_unit_aliases_and_forms_the_extension_takes():
    parsed = parse_payload("txt2img", unit_payload(
        input_image=PNG, lowvram=True, guidance=0.5, mask=None, module="depth", resize_mode=2, control_mode=1,
        processor_res=-1, threshold_a=-1, threshold_b=-1, pixel_perfect=True, is_ui=True, hr_option="Both"))
    [unit] = parsed.controlnet_units
    assert (unit.image, unit.guidance_end, unit.module, unit.resize_mode, unit.control_mode) == (
        PNG, 0.5, "depth_midas", "Resize and Fill", "My prompt is more important")
    warned = {w.field.rsplit(".", 1)[1] for w in parsed.warnings}
    assert warned == {"low_vram", "mask", "is_ui", "hr_option"}


@pytest.mark.parametrize("image", [{"image": PNG, "mask": None}, [PNG, None], PNG])
def test_unit_image_forms(image):
    assert parse_payload("txt2img", unit_payload(image=image)).controlnet_units[0].image == PNG


def test_an_img2img_unit_may_leave_its_image_out_a_txt2img_one_not():
    unit = unit_payload(image="")
    assert parse_payload("img2img", {**unit, "init_images": [PNG]}).controlnet_units[0].image is None
    assert list(errors_of("txt2img", unit)) == ["alwayson_scripts.controlnet.args.0.image"]


def test_a_unit_without_enabled_runs_when_it_names_a_model_and_disabled_units_are_skipped_whole():
    parsed = parse_payload("txt2img", {"alwayson_scripts": {"ControlNet": {"args": [
        {"model": "cn", "image": PNG}, {"module": "magic"}, {"enabled": False, "weight": "heavy", "mask": PNG}]}}})
    assert [u.enabled for u in parsed.alwayson_scripts.controlnet.args] == [True, False, False]
    assert parsed.warnings == []


def test_out_of_range_preprocessor_values_fall_back_to_the_default_with_a_warning():
    parsed = parse_payload("txt2img", unit_payload(image=PNG, processor_res=-100, threshold_a=-5))
    unit = parsed.controlnet_units[0]
    assert (unit.processor_res, unit.threshold_a) == (-1, -1)
    assert len(parsed.warnings) == 2


def test_an_alias_contradicting_its_field_is_an_error():
    assert list(errors_of("txt2img", unit_payload(image=PNG, guidance=0.5, guidance_end=1.0))) == [
        "alwayson_scripts.controlnet.args.0.guidance"]


def test_fields_not_implemented_are_warnings_at_ignorable_values_and_errors_otherwise():
    # Given: defaults, other extensions, unknown keys
    screened = screen("txt2img", {
        "styles": [], "eta": 0, "bogus": 1, "alwayson_scripts": {"ADetailer": {"args": [False]}},
        "override_settings": {"samples_format": "png"}, "script_args": [1, 2]})
    assert screened.errors == []
    assert {w.field for w in screened.warnings} == {
        "styles", "eta", "bogus", "alwayson_scripts.ADetailer", "override_settings.samples_format", "script_args"}
    # When the values ask for what is not implemented: an error each, none for what only follows a refused switch
    refused = screen("txt2img", {"styles": ["x"], "firstphase_width": 256, "script_name": "x/y/z plot",
                                 "script_args": [1], "infotext": "Steps: 5"})
    assert {e.field for e in refused.errors} == {"styles", "firstphase_width", "script_name", "infotext"}
    assert refused.warnings == []


def test_implemented_fields_that_their_switch_turns_off_are_warnings():
    # hires fields while enable_hr is off, refiner_switch_at without a refiner, hr_option outside the hires fix
    unit = {"model": "cn", "image": PNG, "hr_option": "Low res only"}
    parsed = parse_payload("txt2img", {
        "enable_hr": False, "hr_scale": 4, "hr_upscaler": "R-ESRGAN 4x+", "denoising_strength": 0.7,
        "refiner_switch_at": 0.8, "alwayson_scripts": {"controlnet": {"args": [unit]}}})
    assert {w.field for w in parsed.warnings} == {"denoising_strength", "hr_scale", "hr_upscaler",
                                                  "refiner_switch_at", "alwayson_scripts.controlnet.args.0.hr_option"}
    hires = parse_payload("txt2img", {"enable_hr": True, "hr_scale": 4, "refiner_checkpoint": "r",
                                      "refiner_switch_at": 0.8, "alwayson_scripts": {"controlnet": {"args": [unit]}}})
    assert hires.warnings == []


def test_every_field_of_the_catalogue_is_implemented_or_in_the_table_and_nothing_else_is():
    for task, rules in NOT_IMPLEMENTED.items():
        implemented = set(PAYLOAD_MODELS[task].model_fields)
        assert set(rules) <= set(WEBUI_FIELDS[task]), task
        assert implemented <= set(WEBUI_FIELDS[task]), task
        assert set(WEBUI_FIELDS[task]) - implemented - set(rules) == {"sampler_index"}, task  # an alias
    assert set(UNIT_NOT_IMPLEMENTED) | set(ControlNetUnit.model_fields) == set(CONTROLNET_UNIT_FIELDS)
    assert not set(UNIT_NOT_IMPLEMENTED) & set(ControlNetUnit.model_fields)


def test_null_means_the_default_as_in_the_webui():
    parsed = parse_payload("txt2img", {"sampler_name": None, "scheduler": None, "steps": None, "styles": None})
    assert (parsed.sampler_name, parsed.scheduler, parsed.steps) == ("Euler a", "Automatic", 20)
    assert parse_payload("img2img", {"init_images": [PNG], "mask": ""}).mask is None


def jpeg() -> str:
    return base64.b64encode(b"\xff\xd8\xff\xe0" + b"\0" * 20).decode()


@pytest.mark.parametrize(("value", "problem"), [
    (PNG, None), ("data:image/png;base64," + PNG, None), (jpeg(), None),
    (base64.b64encode(b"RIFF\0\0\0\0WEBPVP8 ").decode(), None), (PNG.rstrip("="), None),
    ("bm90IGFuIGltYWdl", "does not decode as a PNG, JPEG or WebP image"), ("%%%", "is not base64"),
    ("data:image/png;base64,@@", "is not base64"), ("https://example.com/cat.png", "is not base64"),
])
def test_image_strings(value, problem):
    found = image_problem(value)
    assert (found is None) if problem is None else (problem in (found or ""))


def test_bad_image_strings_are_listed_beside_the_body_s_other_problems():
    unit = {"model": "cn", "image": "%%%"}
    body = {"init_images": [PNG, "bm90IGFuIGltYWdl"], "mask": "%%%", "steps": 0,
            "alwayson_scripts": {"controlnet": {"args": [unit, {**unit, "enabled": False}]}}}

    with pytest.raises(ValidationError) as caught:
        parse_payload("img2img", body)

    found = {p.field: p.message for p in problems(caught.value)}
    assert sorted(found) == ["alwayson_scripts.controlnet.args.0.image", "init_images.1", "mask", "steps"], found
    assert found["init_images.1"] == "the image does not decode as a PNG, JPEG or WebP image"
    assert found["mask"].startswith("the image is not base64")
