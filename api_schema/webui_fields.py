"""Every field the WebUI's API bodies and sd-webui-controlnet's units take, with the defaults they have there.

The standard is AUTOMATIC1111 WebUI v1.10.1 (`modules/api/models.py`: StableDiffusionTxt2ImgProcessingAPI and
StableDiffusionImg2ImgProcessingAPI, built from the __init__ parameters of `modules/processing.py`'s
StableDiffusionProcessingTxt2Img / Img2Img minus API_NOT_ALLOWED, plus the API's own additions) and
sd-webui-controlnet v1.1.455 (`internal_controlnet/args.py` ControlNetUnit and its `from_dict` aliases).
Stdlib only: the control plane, the container and any client can import it.
"""

from __future__ import annotations

from typing import Any

# StableDiffusionProcessing's fields the API takes, and the fields the API model adds.
_COMMON: dict[str, Any] = {
    "prompt": "",
    "negative_prompt": "",
    "styles": None,
    "seed": -1,
    "subseed": -1,
    "subseed_strength": 0,
    "seed_resize_from_h": -1,
    "seed_resize_from_w": -1,
    "sampler_name": None,
    "scheduler": None,
    "batch_size": 1,
    "n_iter": 1,
    "steps": 50,
    "cfg_scale": 7.0,
    "width": 512,
    "height": 512,
    "restore_faces": None,
    "tiling": None,
    "do_not_save_samples": False,
    "do_not_save_grid": False,
    "eta": None,
    "denoising_strength": None,
    "s_min_uncond": None,
    "s_churn": None,
    "s_tmax": None,
    "s_tmin": None,
    "s_noise": None,
    "override_settings": None,
    "override_settings_restore_afterwards": True,
    "refiner_checkpoint": None,
    "refiner_switch_at": None,
    "disable_extra_networks": False,
    "firstpass_image": None,
    "comments": None,
    # added by modules/api/models.py
    "sampler_index": "Euler",
    "script_name": None,
    "script_args": [],
    "send_images": True,
    "save_images": False,
    "alwayson_scripts": {},
    "force_task_id": None,
    "infotext": None,
}

TXT2IMG_FIELDS: dict[str, Any] = {
    **_COMMON,
    "enable_hr": False,
    "denoising_strength": 0.75,
    "firstphase_width": 0,
    "firstphase_height": 0,
    "hr_scale": 2.0,
    "hr_upscaler": None,
    "hr_second_pass_steps": 0,
    "hr_resize_x": 0,
    "hr_resize_y": 0,
    "hr_checkpoint_name": None,
    "hr_sampler_name": None,
    "hr_scheduler": None,
    "hr_prompt": "",
    "hr_negative_prompt": "",
}

IMG2IMG_FIELDS: dict[str, Any] = {
    **_COMMON,
    "init_images": None,
    "resize_mode": 0,
    "denoising_strength": 0.75,
    "image_cfg_scale": None,
    "mask": None,
    "mask_blur_x": 4,
    "mask_blur_y": 4,
    "mask_blur": None,
    "mask_round": True,
    "inpainting_fill": 0,
    "inpaint_full_res": True,
    "inpaint_full_res_padding": 0,
    "inpainting_mask_invert": 0,
    "initial_noise_multiplier": None,
    "latent_mask": None,
    "include_init_images": False,
}

WEBUI_FIELDS: dict[str, dict[str, Any]] = {"txt2img": TXT2IMG_FIELDS, "img2img": IMG2IMG_FIELDS}

# sd-webui-controlnet's ControlNetUnit (v1.1.455), field -> default.
CONTROLNET_UNIT_FIELDS: dict[str, Any] = {
    "is_ui": False,
    "input_mode": "simple",
    "batch_images": None,
    "output_dir": "",
    "loopback": False,
    "enabled": False,
    "module": "none",
    "model": "None",
    "weight": 1.0,
    "image": None,
    "resize_mode": "Crop and Resize",
    "low_vram": False,
    "processor_res": -1,
    "threshold_a": -1,
    "threshold_b": -1,
    "guidance_start": 0.0,
    "guidance_end": 1.0,
    "pixel_perfect": False,
    "control_mode": "Balanced",
    "inpaint_crop_input_image": True,
    "hr_option": "Both",
    "save_detected_map": True,
    "advanced_weighting": None,
    "effective_region_mask": None,
    "pulid_mode": "Fidelity",
    "union_control_type": "Unknown",
    "ipadapter_input": None,
    "mask": None,
    "batch_mask_dir": None,
    "animatediff_batch": False,
    "batch_modifiers": [],
    "batch_image_files": [],
    "batch_keyframe_idx": None,
}

# ControlNetUnit.legacy_field_alias and mask_alias: old or Forge key -> the field it sets.
CONTROLNET_UNIT_ALIASES: dict[str, str] = {
    "guidance": "guidance_end",
    "lowvram": "low_vram",
    "input_image": "image",
    "mask_image": "mask",
}


def unit_field(index: int, name: str) -> str:
    """The dotted path of a ControlNet unit's field, as the REST errors name it (`...args.0.model`)."""
    return f"alwayson_scripts.controlnet.args.{index}.{name}"
