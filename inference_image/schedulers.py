"""WebUI sampler + schedule type -> a diffusers scheduler built from the pipeline's own scheduler config."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from api_schema.samplers import SAMPLERS, SCHEDULE_TYPES, split_sampler
from inference_image.errors import InvalidJob


@dataclass(frozen=True)
class SamplerSpec:
    scheduler: str  # diffusers class name
    options: dict[str, Any] = field(default_factory=dict)
    k_diffusion: bool = True  # WebUI runs it through k-diffusion, whose default schedule is linspace


SAMPLER_TABLE: dict[str, SamplerSpec] = {
    "Euler": SamplerSpec("EulerDiscreteScheduler"),
    "Euler a": SamplerSpec("EulerAncestralDiscreteScheduler"),
    "DPM++ 2M": SamplerSpec("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ SDE": SamplerSpec("DPMSolverSinglestepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "DPM++ 2M SDE": SamplerSpec(
        "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}
    ),
    "DDIM": SamplerSpec("DDIMScheduler", {"set_alpha_to_one": False}, k_diffusion=False),
    "UniPC": SamplerSpec("UniPCMultistepScheduler", k_diffusion=False),
    "LMS": SamplerSpec("LMSDiscreteScheduler"),
    "Heun": SamplerSpec("HeunDiscreteScheduler"),
    "DPM2": SamplerSpec("KDPM2DiscreteScheduler"),
    "DPM2 a": SamplerSpec("KDPM2AncestralDiscreteScheduler"),
}

_SCHEDULE_FLAGS = {"Karras": "use_karras_sigmas", "Exponential": "use_exponential_sigmas"}


def scheduler_for(sampler_name: str, schedule_type: str, base_config: dict[str, Any]) -> Any:
    """A scheduler for the WebUI sampler name and schedule type; InvalidJob names the field at fault."""
    import diffusers

    if sampler_name not in SAMPLERS:
        raise InvalidJob(f"unknown sampler '{sampler_name}'; supported: {', '.join(SAMPLERS)}", "sampler_name")
    if schedule_type not in SCHEDULE_TYPES:
        raise InvalidJob(f"unknown scheduler '{schedule_type}'; supported: {', '.join(SCHEDULE_TYPES)}", "scheduler")
    base, schedule = split_sampler(sampler_name, schedule_type)
    spec = SAMPLER_TABLE[base]
    cls = getattr(diffusers, spec.scheduler)
    options = dict(spec.options)
    if spec.k_diffusion:
        options["timestep_spacing"] = "linspace"
    flag = _SCHEDULE_FLAGS.get(schedule)
    if flag is not None:
        if flag not in inspect.signature(cls.__init__).parameters:
            raise InvalidJob(
                f"sampler '{base}' has no '{schedule}' schedule type; use Automatic or Uniform", "scheduler"
            )
        options[flag] = True
    return cls.from_config(dict(base_config), **options)


def resolved_schedule(sampler_name: str, schedule_type: str) -> str:
    """The schedule type the infotext reports (the WebUI writes the one it ran)."""
    return split_sampler(sampler_name, schedule_type)[1]


def webui_sampler_name(sampler_name: str) -> str:
    """The sampler name the WebUI writes in the infotext: legacy ' Karras' names are split since WebUI 1.9."""
    return split_sampler(sampler_name, "Automatic")[0]
