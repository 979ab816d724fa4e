"""Real WebUI bodies from public clients and tests run on the local stack; a body with five problems is one 400."""

from __future__ import annotations

import base64
import io

import pytest
from e2e_helpers import Api, wait_job
from PIL import Image
from webui_corpus import corpus

from sdcloud_client import ApiError, SdCloudClient


def _png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 120, 40)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_every_body_of_the_corpus_is_accepted_and_runs(user: Api, models, endpoint: str) -> None:
    # Given: the bodies, with the tiny models' names
    bodies = corpus(models["checkpoint"]["name"], models["controlnet"]["name"], _png())

    # When: each is submitted as its client sends it (all queued first, then awaited)
    submitted = {}
    for body in bodies:
        reply = user.call("POST", "/inferences", json={"endpoint_name": endpoint, "task": body.task,
                                                        "payload": body.payload})
        assert reply.status_code == 202, f"{body.name} ({body.source}): {reply.text}"
        submitted[body.name] = reply.json()["inference"]

    # Then: every job succeeds, and the fields it did not use are listed as warnings
    for body in bodies:
        job = wait_job(user, submitted[body.name]["id"], timeout=600)
        assert job["status"] == "succeeded", f"{body.name} ({body.source}): {job.get('error')}"
        batch = body.payload.get("batch_size", 1) * body.payload.get("n_iter", 1)
        assert len(job["images"]) >= batch, body.name
        assert job["warnings"] == submitted[body.name]["warnings"]
    warned = {w["field"] for w in submitted["webuiapi-txt2img"]["warnings"]}
    assert {"payload.hr_upscaler", "payload.firstphase_width", "payload.send_images", "payload.eta"} <= warned
    assert "payload.alwayson_scripts.ADetailer" in {
        w["field"] for w in submitted["webuiapi-txt2img-adetailer-off"]["warnings"]}
    listed = {j["id"]: j for j in user.ok("GET", "/inferences", params={"limit": 100})["inferences"]}
    assert listed[submitted["js-txt2img"]["id"]]["warnings"] == submitted["js-txt2img"]["warnings"]


def test_a_body_with_five_problems_gets_one_400_listing_them_all(user: Api, models, endpoint: str) -> None:
    client = SdCloudClient(user.url, user.key)
    unit = {"enabled": True, "module": "canny", "model": models["controlnet"]["name"], "control_mode": "Loud"}
    payload = {"prompt": "x", "steps": 0, "width": 65, "sampler_name": "Magic", "tiling": True,
               "alwayson_scripts": {"controlnet": {"args": [unit]}},
               "override_settings": {"sd_model_checkpoint": models["checkpoint"]["name"]}}

    with pytest.raises(ApiError) as caught:
        client.create_inference(endpoint, "txt2img", payload)

    error = caught.value
    assert error.status == 400
    assert [e.field for e in error.errors] == ["payload.tiling", "payload.sampler_name", "payload.steps",
                                               "payload.width",
                                               "payload.alwayson_scripts.controlnet.args.0.control_mode"], error.errors
    assert all(f"{e.field}" in error.message for e in error.errors)
