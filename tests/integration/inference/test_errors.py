"""Bad jobs get a clear 4xx InferenceFailure naming the fault; the health check follows the setup."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests

from inference_image.predictor import Predictor
from inference_image.server import create_app
from inference_image.settings import InferenceSettings
from tests.integration.inference.helpers import BASE, BUCKET, Server, b64_png, invoke, job, scene


def upload(s3: Any, name: str, data: bytes, filename: str = "bad.safetensors", kind: str = "checkpoint") -> dict:
    key = f"models/{kind}/{name}/{filename}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return {
        "id": name,
        "name": name,
        "type": kind,
        "filename": filename,
        "bucket": BUCKET,
        "key": key,
        "size_bytes": len(data),
    }


def failure_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status
    return body


def test_corrupt_checkpoint_is_a_clear_4xx(server, s3, model_refs):
    ref = upload(s3, "corrupt", b"\x00\x01 this is not a safetensors file" * 10)
    body = failure_of(invoke(server, job({"checkpoint": ref}, BASE, job_id="corrupt")), 422)
    assert body["type"] == "ModelLoadError"
    assert body["job_id"] == "corrupt"
    assert body["message"].startswith("checkpoint 'corrupt': bad.safetensors is not a readable .safetensors file")


def test_a_vae_uploaded_as_checkpoint_is_named(server, s3, model_refs, sample_models):
    ref = upload(s3, "vae-as-ckpt", sample_models["vae"].read_bytes())
    body = failure_of(invoke(server, job({"checkpoint": ref}, BASE, job_id="wrong-kind")), 422)
    assert "is not a Stable Diffusion checkpoint" in body["message"]


def test_pickled_checkpoint_is_refused(server, s3, model_refs):
    ref = upload(s3, "pickled", b"PK\x03\x04 pickle bytes", filename="model.ckpt")
    body = failure_of(invoke(server, job({"checkpoint": ref}, BASE, job_id="pickle")), 422)
    assert "pickled model files" in body["message"]


def test_size_mismatch_and_missing_object(server, s3, model_refs):
    wrong_size = {**model_refs["checkpoint"], "id": "wrong-size", "size_bytes": 12}
    body = failure_of(invoke(server, job({"checkpoint": wrong_size}, BASE, job_id="size")), 422)
    assert "registered as 12" in body["message"]
    missing = {**model_refs["checkpoint"], "id": "missing", "key": "models/checkpoint/nope.safetensors"}
    body = failure_of(invoke(server, job({"checkpoint": missing}, BASE, job_id="missing")), 422)
    assert "is not readable at s3://" in body["message"]


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"sampler_name": "Euler z"}, "payload.sampler_name", "unknown sampler 'Euler z'; supported: Euler"),
        ({"width": 100}, "payload.width", "multiple of 8"),
        ({"prompt": "x <lora:missing-lora:0.5>"}, "payload.prompt", "LoRA 'missing-lora'"),
        ({"sampler_name": "DDIM", "scheduler": "Karras"}, "scheduler", "sampler 'DDIM' has no 'Karras'"),
        (
            {"override_settings": {"CLIP_stop_at_last_layers": 9}},
            "override_settings.CLIP_stop_at_last_layers",
            "exceeds the text encoder's 4 layers",
        ),
    ],
)
def test_bad_payload_fields_are_named(server, model_refs, payload, field, words):
    body = failure_of(invoke(server, job(model_refs, {**BASE, **payload}, job_id="bad")), 400)
    assert body["type"] == "InvalidJob"
    assert body["field"] == field
    assert words in body["message"]


def cn_payload(**unit: Any) -> dict:
    base = {"enabled": True, "module": "canny", "model": "tiny-controlnet", "image": b64_png(scene())}
    return {**BASE, "alwayson_scripts": {"controlnet": {"args": [{**base, **unit}]}}}


def test_controlnet_unit_faults(server, model_refs):
    cns = {"controlnets": {"tiny-controlnet": model_refs["controlnet"]}}
    body = failure_of(invoke(server, job(model_refs, cn_payload(image=None), job_id="cn-a", **cns)), 400)
    assert "an enabled ControlNet unit needs an image" in body["message"]
    body = failure_of(invoke(server, job(model_refs, cn_payload(model="other"), job_id="cn-b", **cns)), 400)
    assert body["field"] == "payload.alwayson_scripts.controlnet.args.0.model"
    body = failure_of(invoke(server, job(model_refs, cn_payload(module="openpose"), job_id="cn-c", **cns)), 400)
    assert "needs the annotator model(s) body_pose_model" in body["message"]
    body = failure_of(invoke(server, job(model_refs, cn_payload(module="segment"), job_id="cn-d", **cns)), 400)
    assert "unknown ControlNet preprocessor 'segment'" in body["message"]
    body = failure_of(invoke(server, job(model_refs, cn_payload(image="bm90IGFuIGltYWdl"), job_id="cn-e", **cns)), 400)
    assert body["field"] == "payload.alwayson_scripts.controlnet.args.0.image"  # refused with the body's fields


def test_body_that_is_not_a_job(server):
    response = requests.post(server.url + "/invocations", data=b"{not json", timeout=30)
    assert failure_of(response, 400)["message"] == "the request body is not JSON"
    body = failure_of(requests.post(server.url + "/invocations", json={"job_id": "x"}, timeout=30), 400)
    assert body["job_id"] == "x"
    assert "task" in body["message"]


class GatedPredictor(Predictor):
    """A predictor whose setup waits for the test to let it go on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def setup(self) -> None:
        self.gate.wait(timeout=60)
        super().setup()


def test_ping_is_not_200_before_ready(s3, tmp_path, model_refs):
    predictor = GatedPredictor(InferenceSettings(cache_dir=tmp_path, device="cpu"), s3=s3)
    with Server(create_app(predictor=predictor)) as srv:
        # Given a server whose setup has not finished
        ping = requests.get(srv.url + "/ping", timeout=5)
        assert (ping.status_code, ping.json()["status"]) == (503, "starting")
        # Then a job is refused with 503 rather than run half-loaded
        assert failure_of(invoke(srv, job(model_refs, BASE, job_id="early")), 503)["type"] == "Busy"
        # When setup completes, the health check turns 200
        predictor.gate.set()
        srv.wait_ready()
        assert requests.get(srv.url + "/ping", timeout=5).json()["status"] == "ready"


class SlowLibraries(Predictor):
    """A predictor whose libraries step waits for the test: a new instance still importing torch and diffusers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate = threading.Event()

    def _load_libraries(self) -> None:
        assert self.gate.wait(timeout=60)
        super()._load_libraries()


def test_a_job_sent_while_the_libraries_load_downloads_its_models_then_runs(s3, tmp_path, model_refs):
    predictor = SlowLibraries(InferenceSettings(cache_dir=tmp_path, device="cpu"), s3=s3)
    with Server(create_app(predictor=predictor)) as srv:
        # Given a server that can take jobs while its libraries still load
        srv.wait_ready()
        assert requests.get(srv.url + "/ping", timeout=5).json() == {"status": "ready", "libraries": "loading"}

        # When a job comes, it downloads its checkpoint meanwhile
        result: dict[str, requests.Response] = {}
        sender = threading.Thread(target=lambda: result.update(r=invoke(srv, job(model_refs, BASE, job_id="early"))))
        sender.start()
        for _ in range(200):
            if predictor.store.downloads:
                break
            threading.Event().wait(0.05)
        assert predictor.store.downloads == 1 and sender.is_alive()
        assert requests.get(srv.url + "/ping", timeout=5).json()["status"] == "busy"

        # Then it runs once the libraries are in
        predictor.gate.set()
        sender.join(timeout=300)
        assert result["r"].status_code == 200, result["r"].text
        assert requests.get(srv.url + "/ping", timeout=5).json() == {"status": "ready", "libraries": "loaded"}


def test_libraries_that_fail_to_load_turn_the_health_check_503_and_fail_the_waiting_job(s3, tmp_path, model_refs):
    class BrokenLibraries(SlowLibraries):
        def _load_libraries(self) -> None:
            assert self.gate.wait(timeout=60)
            raise RuntimeError("CUDA driver missing")

    predictor = BrokenLibraries(InferenceSettings(cache_dir=tmp_path, device="cpu"), s3=s3)
    with Server(create_app(predictor=predictor)) as srv:
        srv.wait_ready()
        result: dict[str, requests.Response] = {}
        sender = threading.Thread(target=lambda: result.update(r=invoke(srv, job(model_refs, BASE, job_id="doomed"))))
        sender.start()
        for _ in range(200):
            if predictor.state == "busy":
                break
            threading.Event().wait(0.05)
        assert predictor.state == "busy"  # the job waits for the libraries
        predictor.gate.set()
        sender.join(timeout=120)
        body = failure_of(result["r"], 503)
        assert body["type"] == "Busy" and "CUDA driver missing" in body["message"]
        ping = requests.get(srv.url + "/ping", timeout=5)
        assert ping.status_code == 503
        assert ping.json()["status"] == "failed" and ping.json()["libraries"] == "failed"


def test_failed_setup_is_reported(s3, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    predictor = Predictor(InferenceSettings(cache_dir=blocker, device="cpu"), s3=s3)
    with Server(create_app(predictor=predictor)) as srv:
        for _ in range(100):
            ping = requests.get(srv.url + "/ping", timeout=5)
            if ping.json()["status"] != "starting":
                break
            threading.Event().wait(0.05)
        assert ping.status_code == 503
        assert ping.json()["status"] == "failed"
        assert "setup failed" in ping.json()["error"]
