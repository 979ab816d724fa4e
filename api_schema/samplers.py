"""Sampler and schedule names as the AUTOMATIC1111 WebUI spells them, and the forms its API takes.

The control plane validates against these lists; the container maps each one to a diffusers
scheduler. The WebUI takes a sampler by name or alias ("k_euler_a"), in legacy names that carry their
schedule ("DPM++ 2M Karras"), and a scheduler by label or name in any case ("automatic").
"""

from __future__ import annotations

# The samplers sd-cloud runs, and the legacy names with a schedule suffix (the panel lists these).
SAMPLERS: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DPM++ SDE",
    "DPM++ SDE Karras",
    "DPM++ 2M SDE",
    "DPM++ 2M SDE Karras",
    "DDIM",
    "UniPC",
    "LMS",
    "LMS Karras",
    "Heun",
    "DPM2",
    "DPM2 Karras",
    "DPM2 a",
    "DPM2 a Karras",
)

SCHEDULE_TYPES: tuple[str, ...] = ("Automatic", "Uniform", "Karras", "Exponential")

# Every sampler of WebUI v1.10.1 (modules/sd_samplers_*.py) with its aliases.
WEBUI_SAMPLERS: dict[str, tuple[str, ...]] = {
    "DPM++ 2M": ("k_dpmpp_2m",),
    "DPM++ SDE": ("k_dpmpp_sde",),
    "DPM++ 2M SDE": ("k_dpmpp_2m_sde",),
    "DPM++ 2M SDE Heun": ("k_dpmpp_2m_sde_heun",),
    "DPM++ 2S a": ("k_dpmpp_2s_a",),
    "DPM++ 3M SDE": ("k_dpmpp_3m_sde",),
    "Euler a": ("k_euler_a", "k_euler_ancestral"),
    "Euler": ("k_euler",),
    "LMS": ("k_lms",),
    "Heun": ("k_heun",),
    "DPM2": ("k_dpm_2",),
    "DPM2 a": ("k_dpm_2_a",),
    "DPM fast": ("k_dpm_fast",),
    "DPM adaptive": ("k_dpm_ad",),
    "Restart": ("restart",),
    "DDIM": ("ddim",),
    "DDIM CFG++": ("ddim_cfgpp",),
    "PLMS": ("plms",),
    "UniPC": ("unipc",),
    "LCM": ("k_lcm",),
}

# Every schedule type of WebUI v1.10.1 (modules/sd_schedulers.py): label -> name and aliases.
WEBUI_SCHEDULERS: dict[str, tuple[str, ...]] = {
    "Automatic": ("automatic",),
    "Uniform": ("uniform",),
    "Karras": ("karras",),
    "Exponential": ("exponential",),
    "Polyexponential": ("polyexponential",),
    "SGM Uniform": ("sgm_uniform", "SGMUniform"),
    "KL Optimal": ("kl_optimal",),
    "Align Your Steps": ("align_your_steps",),
    "Simple": ("simple",),
    "Normal": ("normal",),
    "DDIM": ("ddim",),
    "Beta": ("beta",),
}

_SAMPLER_BY_NAME = {n.lower(): label for label, names in WEBUI_SAMPLERS.items() for n in (label, *names)}
_SCHEDULE_BY_NAME = {n.lower(): label for label, names in WEBUI_SCHEDULERS.items() for n in (label, *names)}
_BASE_SAMPLERS = tuple(name for name in SAMPLERS if name in WEBUI_SAMPLERS)


def canonical_schedule(name: str | None) -> str:
    """A scheduler as the WebUI takes it (label or name, any case; empty is Automatic) -> its label."""
    label = _SCHEDULE_BY_NAME.get((name or "Automatic").strip().lower())
    if label is None:
        raise ValueError(f"unknown scheduler '{name}'; supported: {', '.join(SCHEDULE_TYPES)}")
    if label not in SCHEDULE_TYPES:
        raise ValueError(f"scheduler '{label}' is not implemented by sd-cloud; supported: {', '.join(SCHEDULE_TYPES)}")
    return label


def canonical_sampler(name: str) -> tuple[str, str | None]:
    """A sampler as the WebUI takes it (name or alias, any case, optionally with a schedule suffix) ->
    (the sampler's name, the suffix's schedule label or None); ValueError names what is wrong."""
    text = name.strip()
    schedule = None
    if text.lower() not in _SAMPLER_BY_NAME:
        for option, label in sorted(_SCHEDULE_BY_NAME.items(), key=lambda item: -len(item[0])):
            if text.lower().endswith(" " + option):
                text, schedule = text[: -len(option) - 1], label
                break
    sampler = _SAMPLER_BY_NAME.get(text.lower())
    if sampler is None:
        raise ValueError(f"unknown sampler '{name}'; supported: {', '.join(SAMPLERS)}")
    if sampler not in _BASE_SAMPLERS:
        raise ValueError(f"sampler '{sampler}' is not implemented by sd-cloud; supported: {', '.join(SAMPLERS)}")
    if schedule is not None and schedule not in SCHEDULE_TYPES:
        raise ValueError(f"scheduler '{schedule}' is not implemented by sd-cloud; "
                         f"supported: {', '.join(SCHEDULE_TYPES)}")
    return sampler, schedule


def split_sampler(sampler_name: str, scheduler: str = "Automatic") -> tuple[str, str]:
    """Return (base sampler, schedule type): a legacy suffix ("DPM++ 2M Karras") is the schedule unless
    the scheduler names one itself, as the WebUI's API does."""
    sampler, suffix = canonical_sampler(sampler_name)
    return sampler, suffix if suffix is not None and scheduler == "Automatic" else scheduler
