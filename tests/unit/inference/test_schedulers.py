"""Every WebUI sampler name and schedule type maps to a diffusers scheduler."""

from __future__ import annotations

import json

import pytest

from api_schema.samplers import SAMPLERS
from inference_image.checkpoints import CONFIGS
from inference_image.errors import InvalidJob
from inference_image.schedulers import resolved_schedule, scheduler_for, webui_sampler_name

BASE = json.loads((CONFIGS / "sd15" / "scheduler" / "scheduler_config.json").read_text())


@pytest.mark.parametrize(
    ("sampler", "schedule", "cls", "options"),
    [
        ("Euler", "Automatic", "EulerDiscreteScheduler", {"use_karras_sigmas": False}),
        ("Euler a", "Automatic", "EulerAncestralDiscreteScheduler", {}),
        ("DPM++ 2M", "Automatic", "DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
        ("DPM++ 2M Karras", "Automatic", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("DPM++ 2M", "Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("DPM++ 2M", "Exponential", "DPMSolverMultistepScheduler", {"use_exponential_sigmas": True}),
        ("DPM++ SDE Karras", "Automatic", "DPMSolverSinglestepScheduler", {"use_karras_sigmas": True}),
        ("DPM++ 2M SDE", "Automatic", "DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++"}),
        ("DDIM", "Automatic", "DDIMScheduler", {"timestep_spacing": "leading"}),
        ("UniPC", "Automatic", "UniPCMultistepScheduler", {}),
        ("LMS Karras", "Automatic", "LMSDiscreteScheduler", {"use_karras_sigmas": True}),
        ("Heun", "Automatic", "HeunDiscreteScheduler", {"timestep_spacing": "linspace"}),
        ("DPM2 Karras", "Automatic", "KDPM2DiscreteScheduler", {"use_karras_sigmas": True}),
        ("DPM2 a", "Automatic", "KDPM2AncestralDiscreteScheduler", {}),
    ],
)
def test_sampler_table(sampler, schedule, cls, options):
    scheduler = scheduler_for(sampler, schedule, BASE)
    assert type(scheduler).__name__ == cls
    for key, value in options.items():
        assert scheduler.config[key] == value
    assert scheduler.config["beta_schedule"] == "scaled_linear"  # the model's own training schedule is kept


def test_every_webui_sampler_has_a_scheduler():
    for name in SAMPLERS:
        assert scheduler_for(name, "Automatic", BASE) is not None


def test_unknown_names_are_invalid_and_list_the_supported_ones():
    with pytest.raises(InvalidJob) as err:
        scheduler_for("Restart", "Automatic", BASE)
    assert err.value.field == "sampler_name"
    assert "DPM++ 2M Karras" in err.value.message
    with pytest.raises(InvalidJob) as err:
        scheduler_for("Euler", "Polyexponential", BASE)
    assert err.value.field == "scheduler"


def test_infotext_names_follow_webui_1_9():
    assert (webui_sampler_name("DPM++ 2M Karras"), resolved_schedule("DPM++ 2M Karras", "Automatic")) == (
        "DPM++ 2M",
        "Karras",
    )
    assert (webui_sampler_name("Euler a"), resolved_schedule("Euler a", "Automatic")) == ("Euler a", "Automatic")
