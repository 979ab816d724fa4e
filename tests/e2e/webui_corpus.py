"""Real WebUI request bodies, as public clients and tests send them, for the corpus test.

Each body is copied from its source (named in `source`) with only the model names, the sizes (64x64) and the
step counts (1-2) changed for the tiny models; image fields carry a small PNG where the source sends one.
Sources:
- the WebUI's own API tests: stable-diffusion-webui v1.10.1 test/test_txt2img.py, test/test_img2img.py
- sd-webui-controlnet v1.1.455: tests/web_api/template.py (txt2img_payload, img2img_payload, default_unit),
  tests/web_api/generation_test.py, example/txt2img_example/api_txt2img.py
- webuiapi 0.9.17 (PyPI, Python): WebUIApi.txt2img / img2img with their defaults, ControlNetUnit.to_dict,
  the ADetailer placeholder it adds when the server has that extension
- stable-diffusion-api 0.0.7 (npm, JavaScript): StableDiffusionApi.txt2img / img2img defaults, ControlNetUnit.toJson
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Body(NamedTuple):
    name: str
    task: str
    source: str
    payload: dict[str, Any]


SIZE = {"width": 64, "height": 64}


def corpus(checkpoint: str, controlnet: str, png: str) -> list[Body]:
    """Every body, for a checkpoint and a ControlNet model name and a base64 PNG (raw)."""
    data_url = "data:image/png;base64," + png
    settings = {"sd_model_checkpoint": checkpoint}

    webui_txt2img = {  # test/test_txt2img.py simple_txt2img_request
        "batch_size": 1, "cfg_scale": 7, "denoising_strength": 0, "enable_hr": False, "eta": 0,
        "firstphase_height": 0, "firstphase_width": 0, "height": 64, "n_iter": 1, "negative_prompt": "",
        "prompt": "example prompt", "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
        "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 2,
        "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64,
        "override_settings": settings,
    }
    webui_img2img = {  # test/test_img2img.py simple_img2img_request
        "batch_size": 1, "cfg_scale": 7, "denoising_strength": 0.75, "eta": 0, "height": 64,
        "include_init_images": False, "init_images": [data_url], "inpaint_full_res": False,
        "inpaint_full_res_padding": 0, "inpainting_fill": 0, "inpainting_mask_invert": False, "mask": None,
        "mask_blur": 4, "n_iter": 1, "negative_prompt": "", "override_settings": settings, "prompt": "example prompt",
        "resize_mode": 0, "restore_faces": False, "s_churn": 0, "s_noise": 1, "s_tmax": 0, "s_tmin": 0,
        "sampler_index": "Euler a", "seed": -1, "seed_resize_from_h": -1, "seed_resize_from_w": -1, "steps": 2,
        "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False, "width": 64,
    }

    cn_unit = {  # tests/web_api/template.py default_unit
        "control_mode": "Balanced", "enabled": True, "guidance_end": 1, "guidance_start": 0, "pixel_perfect": True,
        "processor_res": 512, "resize_mode": "Crop and Resize", "threshold_a": -1, "threshold_b": -1, "weight": 1,
        "module": "canny", "model": controlnet,
    }
    cn_txt2img = {  # tests/web_api/template.py txt2img_payload
        "batch_size": 1, "cfg_scale": 7, "comments": {}, "disable_extra_networks": False, "do_not_save_grid": False,
        "do_not_save_samples": False, "enable_hr": False, "height": 64, "hr_negative_prompt": "", "hr_prompt": "",
        "hr_resize_x": 0, "hr_resize_y": 0, "hr_scale": 2, "hr_second_pass_steps": 0, "hr_upscaler": "Latent",
        "n_iter": 1, "negative_prompt": "", "override_settings": settings, "override_settings_restore_afterwards": True,
        "prompt": "(masterpiece: 1.3), (highres: 1.3), best quality,", "restore_faces": False, "s_churn": 0.0,
        "s_min_uncond": 0, "s_noise": 1.0, "s_tmax": None, "s_tmin": 0.0, "sampler_name": "Euler a",
        "script_args": [], "script_name": None, "seed": 42, "seed_enable_extras": True, "seed_resize_from_h": -1,
        "seed_resize_from_w": -1, "steps": 2, "styles": [], "subseed": -1, "subseed_strength": 0, "tiling": False,
        "width": 64,
    }
    cn_img2img = {  # tests/web_api/template.py img2img_payload (APITestTemplate adds init_images)
        "batch_size": 1, "cfg_scale": 7, "height": 64, "width": 64, "n_iter": 1, "steps": 2, "sampler_name": "Euler a",
        "prompt": "(masterpiece: 1.3), (highres: 1.3), best quality,", "negative_prompt": "", "seed": 42,
        "seed_enable_extras": False, "seed_resize_from_h": 0, "seed_resize_from_w": 0, "subseed": -1,
        "subseed_strength": 0, "override_settings": settings, "override_settings_restore_afterwards": False,
        "do_not_save_grid": False, "do_not_save_samples": False, "s_churn": 0, "s_min_uncond": 0, "s_noise": 1,
        "s_tmax": None, "s_tmin": 0, "script_args": [], "script_name": None, "styles": [],
        "denoising_strength": 0.75, "initial_noise_multiplier": 1, "inpaint_full_res": 0,
        "inpaint_full_res_padding": 32, "inpainting_fill": 1, "inpainting_mask_invert": 0, "mask_blur_x": 4,
        "mask_blur_y": 4, "mask_blur": 4, "resize_mode": 0, "init_images": [png],
    }

    def cn_test(base: dict[str, Any], *units: dict[str, Any], image: bool) -> dict[str, Any]:
        """APITestTemplate: the default unit with the test's overrides; txt2img units get the image."""
        args = [{**cn_unit, **unit, **({"image": png} if image else {})} for unit in units]
        return {**base, "alwayson_scripts": {"ControlNet": {"args": args}}}

    webuiapi_txt2img = {  # WebUIApi.txt2img() defaults (sampler "Euler a", scheduler "automatic")
        "enable_hr": False, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 0, "hr_resize_x": 0,
        "hr_resize_y": 0, "hr_checkpoint_name": None, "hr_sampler_name": None, "hr_scheduler": None, "hr_prompt": "",
        "hr_negative_prompt": "", "denoising_strength": 0.7, "firstphase_width": 0, "firstphase_height": 0,
        "prompt": "a cat", "styles": [], "seed": -1, "subseed": -1, "subseed_strength": 0.0, "seed_resize_from_h": 0,
        "seed_resize_from_w": 0, "batch_size": 1, "n_iter": 1, "steps": 2, "cfg_scale": 7.0, **SIZE,
        "restore_faces": False, "tiling": False, "do_not_save_samples": False, "do_not_save_grid": False,
        "negative_prompt": "", "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
        "override_settings": settings, "override_settings_restore_afterwards": True, "sampler_name": "Euler a",
        "scheduler": "automatic", "sampler_index": "Euler a", "script_name": None, "script_args": [],
        "send_images": True, "save_images": False, "alwayson_scripts": {},
    }
    webuiapi_img2img = {  # WebUIApi.img2img(images=[...]) defaults
        "init_images": [data_url], "resize_mode": 0, "denoising_strength": 0.75, "mask_blur": 4, "inpainting_fill": 0,
        "inpaint_full_res": True, "inpaint_full_res_padding": 0, "inpainting_mask_invert": 0,
        "initial_noise_multiplier": 1, "prompt": "a cat", "styles": [], "seed": -1, "subseed": -1,
        "subseed_strength": 0, "seed_resize_from_h": 0, "seed_resize_from_w": 0, "batch_size": 1, "n_iter": 1,
        "steps": 2, "cfg_scale": 7.0, "image_cfg_scale": 1.5, **SIZE, "restore_faces": False, "tiling": False,
        "do_not_save_samples": False, "do_not_save_grid": False, "negative_prompt": "", "eta": 1.0, "s_churn": 0,
        "s_tmax": 0, "s_tmin": 0, "s_noise": 1, "override_settings": settings,
        "override_settings_restore_afterwards": True, "sampler_name": "Euler a", "scheduler": "automatic",
        "sampler_index": "Euler a", "include_init_images": False, "script_name": None, "script_args": [],
        "send_images": True, "save_images": False, "alwayson_scripts": {},
    }

    def webuiapi_unit(**changes: Any) -> dict[str, Any]:
        """ControlNetUnit(...).to_dict() with its defaults."""
        unit = {"image": "", "mask": None, "module": "none", "model": controlnet, "weight": 1.0,
                "resize_mode": "Resize and Fill", "low_vram": False, "processor_res": 512, "threshold_a": 64,
                "threshold_b": 64, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced",
                "pixel_perfect": False, "hr_option": "Both", "enabled": True}
        return {**unit, **changes}

    js_txt2img = {  # StableDiffusionApi.txt2img() defaults (defaultSampler "Euler a")
        "enable_hr": False, "hr_scale": 2, "hr_upscaler": "Latent", "hr_second_pass_steps": 0, "hr_resize_x": 0,
        "hr_resize_y": 0, "denoising_strength": 0.7, "firstphase_width": 0, "firstphase_height": 0,
        "prompt": "a computer", "styles": [], "seed": -1, "subseed": -1, "subseed_strength": 0.0,
        "seed_resize_from_h": 0, "seed_resize_from_w": 0, "batch_size": 1, "n_iter": 1, "steps": 2, "cfg_scale": 7.0,
        **SIZE, "restore_faces": False, "tiling": False, "do_not_save_samples": False, "do_not_save_grid": False,
        "negative_prompt": "", "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
        "override_settings": settings, "override_settings_restore_afterwards": True, "script_args": [],
        "script_name": None, "send_images": True, "save_images": False,
        "alwayson_scripts": {"ControlNet": {"args": []}}, "sampler_name": "Euler a",
        "use_deprecated_controlnet": False,
    }
    js_img2img = {  # StableDiffusionApi.img2img({init_images}) defaults
        "init_images": [png], "resize_mode": 0, "denoising_strength": 0.75, "image_cfg_scale": 1.5, "mask": None,
        "mask_blur": 4, "inpainting_fill": 0, "inpaint_full_res": True, "inpaint_full_res_padding": 0,
        "inpainting_mask_invert": 0, "initial_noise_multiplier": 1, "prompt": "a computer", "styles": [], "seed": -1,
        "subseed": -1, "subseed_strength": 0, "seed_resize_from_h": 0, "seed_resize_from_w": 0,
        "sampler_name": "Euler a", "batch_size": 1, "n_iter": 1, "steps": 2, "cfg_scale": 7.0, **SIZE,
        "restore_faces": False, "tiling": False, "do_not_save_samples": False, "do_not_save_grid": False,
        "negative_prompt": "", "eta": 1.0, "s_churn": 0, "s_tmax": 0, "s_tmin": 0, "s_noise": 1,
        "override_settings": settings, "override_settings_restore_afterwards": True, "script_args": [],
        "include_init_images": False, "script_name": None, "send_images": True, "save_images": False,
        "alwayson_scripts": {"ControlNet": {"args": []}}, "use_deprecated_controlnet": False,
    }
    js_unit = {  # ControlNetUnit({input_image, model}).toJson(): no `enabled`, both guidance and guidance_end
        "input_image": png, "mask": None, "module": "none", "model": controlnet, "weight": 1,
        "resize_mode": "Scale to Fit (Inner Fit)", "lowvram": False, "processor_res": 64, "threshold_a": 64,
        "threshold_b": 64, "guidance": 1, "guidance_start": 0, "guidance_end": 1, "guessmode": False,
    }

    return [
        Body("webui-txt2img-simple", "txt2img", "WebUI test/test_txt2img.py simple_txt2img_request", webui_txt2img),
        Body("webui-txt2img-complex-prompt", "txt2img", "WebUI test_txt2img_with_complex_prompt_performed",
             {**webui_txt2img, "negative_prompt": "example negative prompt",
              "prompt": "((emphasis)), (emphasis1:1.1), [to:1], [from::2], [from:to:0.3], [alt|alt1]"}),
        Body("webui-txt2img-ddim", "txt2img", "WebUI test_txt2img_with_vanilla_sampler_performed[DDIM]",
             {**webui_txt2img, "sampler_index": "DDIM"}),
        Body("webui-txt2img-batch", "txt2img", "WebUI test_txt2img_batch_performed",
             {**webui_txt2img, "batch_size": 2}),
        Body("webui-img2img-simple", "img2img", "WebUI test/test_img2img.py simple_img2img_request", webui_img2img),
        Body("webui-img2img-inpainting", "img2img", "WebUI test_inpainting_masked_performed",
             {**webui_img2img, "mask": data_url}),
        Body("webui-img2img-inverted-mask", "img2img", "WebUI test_inpainting_with_inverted_masked_performed",
             {**webui_img2img, "mask": data_url, "inpainting_mask_invert": True}),
        Body("cn-example-txt2img", "txt2img", "sd-webui-controlnet example/txt2img_example/api_txt2img.py",
             {"prompt": "a large avalanche", "negative_prompt": "", "batch_size": 1, "steps": 2, "cfg_scale": 7,
              **SIZE, "override_settings": settings, "alwayson_scripts": {"controlnet": {"args": [{
                  "enabled": True, "module": "none", "model": controlnet, "weight": 1.0, "image": png,
                  "resize_mode": "Crop and Resize", "lowvram": False, "processor_res": 64, "threshold_a": 64,
                  "threshold_b": 64, "guidance_start": 0.0, "guidance_end": 1.0, "control_mode": "Balanced",
                  "pixel_perfect": False}]}}}),
        Body("cn-test-preprocessor-txt2img", "txt2img", "sd-webui-controlnet generation_test.py test_preprocessor",
             cn_test(cn_txt2img, {"module": "canny"}, image=True)),
        Body("cn-test-preprocessor-img2img", "img2img",
             "sd-webui-controlnet generation_test.py test_preprocessor[img2img]: the unit takes the init image",
             cn_test(cn_img2img, {"module": "canny"}, image=False)),
        Body("cn-test-unrecognized-param", "txt2img", "sd-webui-controlnet generation_test.py test_unrecognized_param",
             cn_test(cn_txt2img, {"foo": True, "is_ui": False}, image=True)),
        Body("cn-test-invalid-param", "txt2img", "sd-webui-controlnet generation_test.py test_invalid_param",
             cn_test(cn_txt2img, {"processor_res": -100}, image=True)),
        Body("cn-test-2-units-img2img", "img2img", "sd-webui-controlnet generation_test.py test_2_units[img2img]",
             cn_test(cn_img2img, {}, {}, image=False)),
        Body("webuiapi-txt2img", "txt2img", "webuiapi 0.9.17 WebUIApi.txt2img(prompt=...)", webuiapi_txt2img),
        Body("webuiapi-txt2img-controlnet", "txt2img",
             "webuiapi WebUIApi.txt2img(controlnet_units=[ControlNetUnit(image, module='canny', model=...)])",
             {**webuiapi_txt2img, "alwayson_scripts": {"ControlNet": {"args": [
                 webuiapi_unit(image=png, module="canny")]}}}),
        Body("webuiapi-txt2img-adetailer-off", "txt2img",
             "webuiapi WebUIApi.txt2img() on a server with ADetailer and ControlNet (placeholders it adds)",
             {**webuiapi_txt2img, "alwayson_scripts": {"ADetailer": {"args": [False]}, "ControlNet": {"args": []}}}),
        Body("webuiapi-img2img", "img2img", "webuiapi WebUIApi.img2img(images=[...])", webuiapi_img2img),
        Body("webuiapi-img2img-controlnet-no-image", "img2img",
             "webuiapi WebUIApi.img2img(controlnet_units=[ControlNetUnit(module='canny', model=...)]): no unit image",
             {**webuiapi_img2img, "alwayson_scripts": {"ControlNet": {"args": [webuiapi_unit(module="canny")]}}}),
        Body("js-txt2img", "txt2img", "stable-diffusion-api 0.0.7 StableDiffusionApi.txt2img({prompt})", js_txt2img),
        Body("js-txt2img-controlnet", "txt2img",
             "stable-diffusion-api txt2img({controlnet_units: [new ControlNetUnit({input_image, model})]})",
             {**js_txt2img, "alwayson_scripts": {"ControlNet": {"args": [js_unit]}}}),
        Body("js-img2img", "img2img", "stable-diffusion-api 0.0.7 StableDiffusionApi.img2img({init_images})",
             js_img2img),
    ]
