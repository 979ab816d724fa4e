"""img2img, inpainting, ControlNet, LoRA, VAE and embeddings through the real server, on the tiny models."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tests.integration.inference.helpers import BASE, b64_png, image_of, invoke, job, scene


def pixels(s3, manifest) -> np.ndarray:
    return np.asarray(image_of(s3, manifest["images"][0])).astype(np.int16)


def run(server, body):
    response = invoke(server, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_img2img_follows_the_init_image_and_reports_denoising_strength(server, s3, model_refs):
    # Given two different init images
    first, second = scene(), scene().transpose(Image.Transpose.ROTATE_90)
    payload = {**BASE, "steps": 10, "denoising_strength": 0.3}
    # When img2img runs on each with the same seed, and on the first once more
    a = run(server, job(model_refs, {**payload, "init_images": [b64_png(first)]}, "img2img", "i2i-a"))
    b = run(server, job(model_refs, {**payload, "init_images": [b64_png(second)]}, "img2img", "i2i-b"))
    again = run(server, job(model_refs, {**payload, "init_images": [b64_png(first)]}, "img2img", "i2i-c"))
    # Then the result depends on the init image, deterministically
    assert np.abs(pixels(s3, a) - pixels(s3, b)).mean() > 1
    assert np.array_equal(pixels(s3, a), pixels(s3, again))
    assert "Denoising strength: 0.3" in a["info"]


def test_img2img_with_too_few_steps_is_a_clear_4xx(server, model_refs):
    payload = {**BASE, "steps": 3, "denoising_strength": 0.2, "init_images": [b64_png(scene())]}
    response = invoke(server, job(model_refs, payload, "img2img", "i2i-short"))
    assert response.status_code == 400
    assert response.json()["field"] == "denoising_strength"


def test_inpainting_keeps_the_unmasked_area(server, s3, model_refs):
    # Given an init image and a mask covering its left half only
    init = scene()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (0, 0, 32, 64))
    payload = {
        **BASE,
        "init_images": [b64_png(init)],
        "mask": b64_png(mask.convert("RGB")),
        "denoising_strength": 1.0,
        "mask_blur": 0,
        "mask_blur_x": 0,
        "mask_blur_y": 0,
    }
    # When inpainting runs
    manifest = run(server, job(model_refs, payload, "img2img", "inpaint"))
    out = pixels(s3, manifest)
    original = np.asarray(init).astype(np.int16)
    # Then the right half is the original and the left half was repainted
    assert np.abs(out[:, 40:] - original[:, 40:]).max() <= 2
    assert np.abs(out[:, :24] - original[:, :24]).mean() > 10
    assert "Mask blur: 0" in manifest["info"]


def test_inpainting_only_masked_with_controlnet(server, s3, model_refs):
    # Given an "only masked" inpainting job on a small masked square, with a ControlNet unit
    init = scene()
    mask = Image.new("L", (64, 64), 0)
    mask.paste(255, (24, 24, 40, 40))
    unit = controlnet_unit("canny", scene())
    payload = {
        **BASE,
        "steps": 4,
        "init_images": [b64_png(init)],
        "mask": b64_png(mask.convert("RGB")),
        "denoising_strength": 0.8,
        "inpaint_full_res": True,
        "inpaint_full_res_padding": 8,
        "inpainting_fill": 0,
        "alwayson_scripts": {"controlnet": {"args": [unit]}},
    }
    manifest = run(
        server,
        job(model_refs, payload, "img2img", "inpaint-cn", controlnets={"tiny-controlnet": model_refs["controlnet"]}),
    )
    out, original = pixels(s3, manifest), np.asarray(init).astype(np.int16)
    # Then only the area around the mask changed, and the infotext says how
    assert np.abs(out[:10] - original[:10]).max() <= 2
    assert np.abs(out[26:38, 26:38] - original[26:38, 26:38]).mean() > 5
    assert "Inpaint area: Only masked, Masked area padding: 8" in manifest["info"]
    assert "Masked content: fill" in manifest["info"]


def test_several_init_images_are_refused(server, model_refs):
    payload = {**BASE, "steps": 4, "denoising_strength": 0.5, "init_images": [b64_png(scene())] * 2}
    response = invoke(server, job(model_refs, payload, "img2img", "i2i-two"))
    assert response.status_code == 400 and response.json()["field"] == "init_images"


def controlnet_unit(module: str, image: Image.Image, **fields) -> dict:
    return {
        "enabled": True,
        "module": module,
        "model": "tiny-controlnet [0123abcd]",
        "image": b64_png(image),
        "processor_res": 64,
        **fields,
    }


def test_two_controlnet_units_canny_and_openpose(server, s3, model_refs):
    # Given a canny unit and an openpose unit on the same ControlNet model, openpose weights as annotators
    units = [
        controlnet_unit("canny", scene(), threshold_a=50, threshold_b=150),
        controlnet_unit("openpose", scene(), weight=0.8, guidance_end=0.6, control_mode="My prompt is more important"),
    ]
    payload = {**BASE, "alwayson_scripts": {"controlnet": {"args": units}}}
    models = {
        "controlnets": {"tiny-controlnet": model_refs["controlnet"]},
        "annotators": {"body_pose_model": model_refs["openpose_body"]},
    }
    # When the job runs, and once more without the units
    with_cn = run(server, job(model_refs, payload, job_id="cn-2", **models))
    plain = run(server, job(model_refs, BASE, job_id="cn-0"))
    # Then the control changed the image and both units are in the infotext
    assert np.abs(pixels(s3, with_cn) - pixels(s3, plain)).mean() > 1
    info = with_cn["info"]
    assert (
        'ControlNet 0: "Module: canny, Model: tiny-controlnet [0123abcd], Weight: 1.0, '
        "Resize Mode: Crop and Resize, Processor Res: 64, Threshold A: 50.0, Threshold B: 150.0, "
        'Guidance Start: 0.0, Guidance End: 1.0, Pixel Perfect: False, Control Mode: Balanced"'
    ) in info
    assert 'ControlNet 1: "Module: openpose, Model: tiny-controlnet [0123abcd], Weight: 0.8' in info
    assert "Control Mode: My prompt is more important" in info


def test_controlnet_with_img2img_and_control_more_important(server, s3, model_refs):
    unit = controlnet_unit("none", scene(), control_mode="ControlNet is more important", pixel_perfect=True)
    payload = {
        **BASE,
        "init_images": [b64_png(scene())],
        "denoising_strength": 0.6,
        "alwayson_scripts": {"controlnet": {"args": [unit]}},
    }
    manifest = run(
        server, job(model_refs, payload, "img2img", "cn-i2i", controlnets={"tiny-controlnet": model_refs["controlnet"]})
    )
    assert "Pixel Perfect: True" in manifest["info"]
    assert "Processor Res: 64" in manifest["info"]


def test_lora_changes_the_image_and_is_unloaded_after_the_job(server, s3, model_refs):
    loras = {"tiny-lora": model_refs["lora"]}
    plain = run(server, job(model_refs, BASE, job_id="lora-0"))
    with_lora = run(
        server,
        job(model_refs, {**BASE, "prompt": BASE["prompt"] + " <lora:tiny-lora:0.9>"}, job_id="lora-1", loras=loras),
    )
    after = run(server, job(model_refs, BASE, job_id="lora-2"))
    assert np.abs(pixels(s3, with_lora) - pixels(s3, plain)).mean() > 1
    assert np.array_equal(pixels(s3, after), pixels(s3, plain))
    assert 'Lora hashes: "tiny-lora: ' in with_lora["info"]


def test_vae_override(server, s3, model_refs):
    plain = run(server, job(model_refs, BASE, job_id="vae-0"))
    with_vae = run(server, job(model_refs, BASE, job_id="vae-1", vae=model_refs["vae"]))
    assert np.abs(pixels(s3, with_vae) - pixels(s3, plain)).mean() > 1
    assert "VAE: tiny-vae" in with_vae["info"]
    assert "VAE hash: " in with_vae["info"]


def test_embedding_by_name_in_the_prompt(server, s3, model_refs):
    embeddings = {"tiny-embedding": model_refs["embedding"]}
    # Given the same prompt naming the embedding, once with the embedding resolved and once without
    payload = {**BASE, "prompt": "tiny-embedding, " + BASE["prompt"]}
    as_text = run(server, job(model_refs, payload, job_id="emb-0"))
    with_emb = run(server, job(model_refs, payload, job_id="emb-1", embeddings=embeddings))
    # Then only the job that has it uses its vectors, and the infotext names it
    assert "TI hashes" not in as_text["info"]
    assert 'TI hashes: "tiny-embedding: ' in with_emb["info"]
    assert np.abs(pixels(s3, with_emb) - pixels(s3, as_text)).mean() > 0.5
    # And it is unloaded after the job
    again = run(server, job(model_refs, payload, job_id="emb-2"))
    assert np.array_equal(pixels(s3, again), pixels(s3, as_text))


def test_several_loras_at_once_with_their_weights(server, s3, model_refs):
    # Given two registered LoRAs (the same file under two names) in one prompt
    loras = {"tiny-lora": model_refs["lora"], "other-lora": {**model_refs["lora"], "id": "other", "name": "other-lora"}}
    one = run(server, job(model_refs, {**BASE, "prompt": "cube <lora:tiny-lora:0.5>"}, job_id="l-1", loras=loras))
    two = run(
        server,
        job(
            model_refs, {**BASE, "prompt": "cube <lora:tiny-lora:0.5> <lora:other-lora:0.7>"}, job_id="l-2", loras=loras
        ),
    )
    # Then both apply, and the infotext lists both
    assert np.abs(pixels(s3, two) - pixels(s3, one)).mean() > 0.5
    assert 'Lora hashes: "tiny-lora: ' in two["info"] and ", other-lora: " in two["info"]
