"""What sd-cloud does with each field of a WebUI body: THE table of what is not implemented, and the screen.

A field of the WebUI or ControlNet catalogue (`api_schema.webui_fields`) is either implemented (a field of
the pydantic models in `api_schema.payload`) or listed in NOT_IMPLEMENTED here with the values at which it
changes nothing: at those it is accepted and reported as a warning, at any other it is an error naming it.
Unknown keys and other extensions' `alwayson_scripts` are accepted with a warning, as the WebUI ignores
them. To implement a feature, delete its rows here and add its fields to the pydantic models.
Stdlib only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from api_schema.webui_fields import CONTROLNET_UNIT_ALIASES, CONTROLNET_UNIT_FIELDS, WEBUI_FIELDS


class Problem(NamedTuple):
    """A warning or an error about one field; `field` is a dotted path inside the payload."""

    field: str
    message: str


class Ignored(NamedTuple):
    """When a field sd-cloud does not run changes nothing, so that it can be accepted with a warning."""

    feature: str  # what the field asks for, e.g. "hires fix"
    values: tuple[Any, ...] = ()  # values that ask for nothing (the defaults)
    unless: str | None = None  # or any value while this body field is off, as the WebUI ignores it then
    always: bool = False  # or any value at all: it never changes the images


# Body fields, both tasks.
_COMMON: dict[str, Ignored] = {
    "styles": Ignored("saved prompt styles", (None, [])),
    "subseed_strength": Ignored("variation seeds", (None, 0)),
    "seed_resize_from_h": Ignored("resize seed from height", (None, -1, 0)),
    "seed_resize_from_w": Ignored("resize seed from width", (None, -1, 0)),
    "restore_faces": Ignored("face restoration", (None, False)),
    "tiling": Ignored("tiling", (None, False)),
    "do_not_save_samples": Ignored("saving on the server (images are always kept in S3)", always=True),
    "do_not_save_grid": Ignored("grids", always=True),
    "eta": Ignored("a sampler eta", (None, 0, 1)),
    "s_min_uncond": Ignored("s_min_uncond", (None, 0)),
    "s_churn": Ignored("sampler noise settings", (None, 0)),
    "s_tmax": Ignored("sampler noise settings", (None, 0)),
    "s_tmin": Ignored("sampler noise settings", (None, 0)),
    "s_noise": Ignored("sampler noise settings", (None, 1)),
    "override_settings_restore_afterwards": Ignored("keeping overridden settings (they apply to one job here)",
                                                    always=True),
    "disable_extra_networks": Ignored("disabling extra networks", (None, False)),
    "firstpass_image": Ignored("a given first-pass image", (None, "")),
    "comments": Ignored("comments", always=True),
    "script_name": Ignored("selectable scripts", (None, "", "None")),
    "script_args": Ignored("selectable scripts", (None, []), unless="script_name"),
    "send_images": Ignored("leaving images out of the answer (they are in S3)", always=True),
    "save_images": Ignored("saving on the server (images are always kept in S3)", always=True),
    "force_task_id": Ignored("task ids (the job id is sd-cloud's)", always=True),
    "infotext": Ignored("fields read from an infotext", (None, "")),
}

NOT_IMPLEMENTED: dict[str, dict[str, Ignored]] = {
    "txt2img": {
        **_COMMON,
        "firstphase_width": Ignored("first-phase sizes", (None, 0)),
        "firstphase_height": Ignored("first-phase sizes", (None, 0)),
    },
    "img2img": {
        **_COMMON,
        "image_cfg_scale": Ignored("image CFG scale (instruct-pix2pix models only)", always=True),
        "initial_noise_multiplier": Ignored("an initial noise multiplier", (None, 1)),
        "latent_mask": Ignored("a latent mask", (None, "")),
        "include_init_images": Ignored("returning the init images", always=True),
    },
}

# ControlNet unit fields; `unless` names a field of the body.
UNIT_NOT_IMPLEMENTED: dict[str, Ignored] = {
    "is_ui": Ignored("UI state", always=True),
    "input_mode": Ignored("batch and merge input modes", (None, "simple")),
    "batch_images": Ignored("batch input", (None, "", [])),
    "output_dir": Ignored("batch output", (None, "")),
    "loopback": Ignored("batch loopback", (None, False)),
    "low_vram": Ignored("low VRAM mode (memory only)", always=True),
    "inpaint_crop_input_image": Ignored("inpaint cropping (no inpaint preprocessors)", always=True),
    "advanced_weighting": Ignored("advanced weighting", (None, [])),
    "effective_region_mask": Ignored("an effective region mask", (None, "")),
    "pulid_mode": Ignored("PuLID", always=True),
    "union_control_type": Ignored("ControlNet union models", (None, "Unknown")),
    "ipadapter_input": Ignored("IP-Adapter inputs", (None, [])),
    "mask": Ignored("a ControlNet mask", (None, "")),
    "batch_mask_dir": Ignored("batch masks", (None, "")),
    "animatediff_batch": Ignored("AnimateDiff batches", (None, False)),
    "batch_modifiers": Ignored("batch modifiers", (None, [])),
    "batch_image_files": Ignored("batch files", (None, [])),
    "batch_keyframe_idx": Ignored("batch keyframes", (None, "", [])),
}

# Unit values the extension replaces by the preprocessor's default when out of range (-1 means the default).
_UNIT_RANGES = (("processor_res", 64, 2048), ("threshold_a", 0, 1024), ("threshold_b", 0, 1024))
NOT_IMPLEMENTED_ANY = {name for rules in NOT_IMPLEMENTED.values() for name in rules}
OVERRIDE_SETTINGS: tuple[str, ...] = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers")
CONTROLNET_SCRIPT = "controlnet"


def is_set(value: Any) -> bool:
    """Whether a body field is on in the WebUI's sense (a switch, a number, a name, a list)."""
    if isinstance(value, str):
        return value.strip() not in ("", "None")
    return bool(value)


def _at(values: tuple[Any, ...], value: Any) -> bool:
    # 0 and 0.0 are one value, False is not 0: a bool only matches a bool
    return any(value is v or (isinstance(value, bool) == isinstance(v, bool) and v is not None and value == v)
               for v in values)


def _judge(path: str, rule: Ignored, value: Any, body: dict[str, Any], name: str) -> tuple[bool, Problem | None]:
    """(accepted, the warning or the error) for a field sd-cloud does not run; no problem of its own for one
    that only matters with a switch that is refused already (script_args with a script_name)."""
    if rule.unless is not None and is_set(body.get(rule.unless)) and rule.unless in NOT_IMPLEMENTED_ANY:
        return False, None
    if rule.always:
        return True, Problem(path, f"ignored: sd-cloud does not implement {rule.feature}, and this value asks "
                                   "for nothing that changes the images")
    if _at(rule.values, value):
        return True, Problem(path, f"ignored: sd-cloud does not implement {rule.feature}; {value!r} is its default")
    if rule.unless is not None and not is_set(body.get(rule.unless)):
        return True, Problem(path, f"ignored: {rule.unless} is off, so the WebUI ignores it too")
    last = rule.values[-1] if rule.values else None
    default = "leave it out" if last in (None, "") else f"leave it at {last!r}"
    off = f" (or turn {rule.unless} off)" if rule.unless else ""
    return False, Problem(path, f"sd-cloud does not implement {rule.feature} ({name}={value!r}): {default}{off}")


def _record(judged: tuple[bool, Problem | None], warnings: list[Problem], errors: list[Problem]) -> None:
    accepted, problem = judged
    if problem is not None:
        (warnings if accepted else errors).append(problem)


class Screened(NamedTuple):
    payload: dict[str, Any]  # the implemented fields only, unit aliases renamed, other scripts left out
    warnings: list[Problem]
    errors: list[Problem]


def screen(task: str, body: dict[str, Any]) -> Screened:
    """Sort a WebUI body's keys: implemented ones are kept, the others become warnings or errors."""
    known, rules = WEBUI_FIELDS[task], NOT_IMPLEMENTED[task]
    kept: dict[str, Any] = {}
    warnings: list[Problem] = []
    errors: list[Problem] = []
    for name, value in body.items():
        if name in rules:
            _record(_judge(name, rules[name], value, body, name), warnings, errors)
        elif name not in known:
            warnings.append(Problem(name, "ignored: not a field of the WebUI's API"))
        elif name == "sampler_index":
            if body.get("sampler_name") in (None, ""):
                kept["sampler_name"] = value  # the WebUI runs `sampler_name or sampler_index`
            elif value not in (None, "", body.get("sampler_name")):
                warnings.append(Problem(name, "ignored: sampler_name is given and takes precedence"))
        elif name == "override_settings":
            kept[name] = _screen_settings(value, warnings)
        elif name == "alwayson_scripts":
            kept[name] = _screen_scripts(value, body, warnings, errors)
        elif value is not None and not (name == "sampler_name" and value == ""):
            kept[name] = value  # the WebUI's API fields are all optional: null means the default
    return Screened(kept, warnings, errors)


def _screen_settings(value: Any, warnings: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return value if value is not None else {}
    kept = {}
    for name, setting in value.items():
        if name in OVERRIDE_SETTINGS:
            kept[name] = setting
        else:
            warnings.append(Problem(f"override_settings.{name}", "ignored: sd-cloud does not apply this setting"))
    return kept


def _screen_scripts(value: Any, body: dict[str, Any], warnings: list[Problem], errors: list[Problem]) -> Any:
    if not isinstance(value, dict):
        return value if value is not None else {}
    kept: dict[str, Any] = {}
    for name, script in value.items():
        if name.lower() != CONTROLNET_SCRIPT:
            warnings.append(Problem(f"alwayson_scripts.{name}", "ignored: sd-cloud runs no extension but ControlNet"))
        elif isinstance(script, dict) and isinstance(script.get("args"), list):
            args = [_screen_unit(f"alwayson_scripts.{CONTROLNET_SCRIPT}.args.{i}", unit, body, warnings, errors)
                    for i, unit in enumerate(script["args"])]
            kept[CONTROLNET_SCRIPT] = {"args": args}
        else:
            kept[CONTROLNET_SCRIPT] = script  # the model names what is wrong with it
    return kept


def _screen_unit(path: str, unit: Any, body: dict[str, Any], warnings: list[Problem],
                 errors: list[Problem]) -> Any:
    if not isinstance(unit, dict):
        return unit
    unit = dict(unit)
    for alias, name in CONTROLNET_UNIT_ALIASES.items():
        value = unit.pop(alias, None)
        if value is None:
            continue
        if unit.get(name) is None:
            unit[name] = value
        elif unit[name] != value:
            errors.append(Problem(f"{path}.{alias}", f"{alias} is an older name of {name}, which says otherwise: "
                                                     "send one of them"))
    if not unit_enabled(unit):
        return {"enabled": False}  # the extension skips it whatever else it holds
    kept: dict[str, Any] = {}
    for name, low, high in _UNIT_RANGES:
        value = unit.get(name)
        if isinstance(value, (int, float)) and value != -1 and not low <= value <= high:
            warnings.append(Problem(f"{path}.{name}", f"{value} is out of range ({low}..{high}): the preprocessor's "
                                                      "default is used, as the extension does"))
            unit[name] = -1
    for name, value in unit.items():
        if name in UNIT_NOT_IMPLEMENTED:
            _record(_judge(f"{path}.{name}", UNIT_NOT_IMPLEMENTED[name], value, body, name), warnings, errors)
        elif name not in CONTROLNET_UNIT_FIELDS:
            warnings.append(Problem(f"{path}.{name}", "ignored: not a field of a ControlNet unit"))
        elif value is not None:
            kept[name] = value
    return kept


def unit_enabled(unit: dict[str, Any]) -> bool:
    """A unit runs when `enabled` is true; one that leaves `enabled` out runs when it names a model (sd-cloud's
    clients and the extension's API before v1.1.4 count such a unit as enabled)."""
    if "enabled" in unit:
        return unit["enabled"] not in (False, None, 0, "false", "False")
    return is_set(unit.get("model"))
