"""Sampler and schedule names as the AUTOMATIC1111 WebUI spells them.

The control plane validates against these lists; the container maps each one to a diffusers
scheduler. Legacy names that carry their schedule ("DPM++ 2M Karras") are accepted as the WebUI does.
"""

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


def split_sampler(sampler_name: str, scheduler: str = "Automatic") -> tuple[str, str]:
    """Return (base sampler, schedule type), folding a legacy ' Karras' suffix into the schedule."""
    if sampler_name.endswith(" Karras") and scheduler == "Automatic":
        return sampler_name.removesuffix(" Karras"), "Karras"
    return sampler_name, scheduler
