"""txt2img through the real server over HTTP, with the tiny SD 1.5-architecture checkpoint."""

from __future__ import annotations

import numpy as np

from tests.integration.inference.helpers import BASE, image_of, invoke, job


def test_txt2img_writes_png_with_infotext_and_answers_manifest(server, s3, model_refs):
    # Given a txt2img job with two images per batch and two batches
    body = job(model_refs, {**BASE, "batch_size": 2, "n_iter": 2}, job_id="t2i")
    # When it is invoked
    response = invoke(server, body)
    # Then the manifest lists four images with consecutive seeds, each a PNG with its infotext
    assert response.status_code == 200, response.text
    manifest = response.json()
    assert manifest["images"] == [f"outputs/t2i/image_{n}.png" for n in range(4)]
    assert manifest["seeds"] == [42, 43, 44, 45]
    for key, text, seed in zip(manifest["images"], manifest["infotexts"], manifest["seeds"], strict=True):
        image = image_of(s3, key)
        assert image.size == (64, 64)
        assert image.info["parameters"] == text
        assert f"Seed: {seed}," in text
    assert manifest["info"] == manifest["infotexts"][0]
    lines = manifest["info"].split("\n")
    assert lines[0] == "a (red:1.2) cube, [blurry]"
    assert lines[1] == "Negative prompt: ugly"
    assert lines[2].startswith(
        "Steps: 3, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7, Seed: 42, Size: 64x64, Model hash: "
    )
    assert "Model: tiny-sd15" in lines[2]
    assert manifest["timings"]["total_s"] > 0


def test_same_seed_same_pixels_other_seed_other_pixels(server, s3, model_refs):
    first = invoke(server, job(model_refs, BASE, job_id="seed-a")).json()
    again = invoke(server, job(model_refs, BASE, job_id="seed-b")).json()
    other = invoke(server, job(model_refs, {**BASE, "seed": 7}, job_id="seed-c")).json()
    a, b, c = (np.asarray(image_of(s3, m["images"][0])) for m in (first, again, other))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_seed_is_reported(server, model_refs):
    manifest = invoke(server, job(model_refs, {**BASE, "seed": -1}, job_id="seed-random")).json()
    seed = manifest["seeds"][0]
    assert 0 <= seed < 2**32
    assert f"Seed: {seed}," in manifest["info"]


def test_second_job_on_same_checkpoint_loads_nothing(server, predictor, model_refs):
    invoke(server, job(model_refs, BASE, job_id="warm-1"))
    loads, downloads = predictor.pool.loads, predictor.store.downloads
    response = invoke(server, job(model_refs, {**BASE, "sampler_name": "DPM++ 2M Karras"}, job_id="warm-2"))
    assert response.status_code == 200, response.text
    assert (predictor.pool.loads, predictor.store.downloads) == (loads, downloads)
    assert "Sampler: DPM++ 2M, Schedule type: Karras" in response.json()["info"]
