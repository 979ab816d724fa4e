"""The runner choice; LoRA jobs on the fast path (fused into the UNet, unfused after; refused by a float8 UNet);
progress and cancel there."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from inference_image.fast import FastOptions, FastRunner
from inference_image.fast.aot import BuildOptions
from inference_image.predictor import Predictor
from inference_image.runners import run_pipeline, runner_for
from inference_image.server import create_app, process_environment
from inference_image.settings import InferenceSettings
from tests.integration.inference.helpers import BASE, Server, image_of, invoke, job


def test_the_settings_choose_the_runner(tmp_path):
    assert runner_for(InferenceSettings(cache_dir=tmp_path, fast_path="off")) is run_pipeline
    graphs = runner_for(InferenceSettings(cache_dir=tmp_path, fast_path="graphs"))
    compiled = runner_for(InferenceSettings(cache_dir=tmp_path))
    assert isinstance(graphs, FastRunner) and graphs.options.compile == "off"
    assert isinstance(compiled, FastRunner) and compiled.options.compile == "background"
    assert compiled.options.artifact_dir == tmp_path / "compiled"
    elsewhere = runner_for(InferenceSettings(cache_dir=tmp_path, fast_path="compiled", compiled_dir=tmp_path / "baked"))
    assert isinstance(elsewhere, FastRunner) and elsewhere.options.artifact_dir == tmp_path / "baked"


@pytest.fixture(scope="module")
def fast_runner() -> FastRunner:
    # "emulate" runs the fast runner's static-buffer replay without CUDA, so its LoRA handling is exercised here
    return FastRunner(FastOptions(backend="emulate", compile="off"))


@pytest.fixture(scope="module")
def fast_server(s3: Any, tmp_path_factory: pytest.TempPathFactory, fast_runner: FastRunner) -> Iterator[Server]:
    settings = InferenceSettings(cache_dir=tmp_path_factory.mktemp("fast-cache"), device="cpu")
    with Server(create_app(predictor=Predictor(settings, s3=s3, runner=fast_runner))) as srv:
        srv.wait_ready()
        yield srv


def pixels(s3: Any, manifest: dict[str, Any]) -> np.ndarray:
    return np.asarray(image_of(s3, manifest["images"][0])).astype(np.int16)


def run(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    response = invoke(server, body)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_lora_job_on_the_fast_path_matches_the_plain_path_and_leaves_the_weights_as_they_were(
    server, fast_server, fast_runner, s3, model_refs
):
    loras = {"tiny-lora": model_refs["lora"]}
    with_lora = {**BASE, "prompt": BASE["prompt"] + " <lora:tiny-lora:0.9>"}

    # When the same LoRA job runs on the plain and the fast server, then a job without it on the fast one
    plain = run(server, job(model_refs, with_lora, job_id="fp-plain", loras=loras))
    fast = run(fast_server, job(model_refs, with_lora, job_id="fp-fast", loras=loras))
    assert fast_runner.last is not None and fast_runner.last.path == "fast", fast_runner.last
    plain_after = run(server, job(model_refs, BASE, job_id="fp-plain-after"))
    fast_after = run(fast_server, job(model_refs, BASE, job_id="fp-fast-after"))

    # Then the fused LoRA draws what the adapter draws, and unfusing restores the UNet
    assert np.abs(pixels(s3, fast) - pixels(s3, plain)).mean() < 1.0
    assert np.abs(pixels(s3, fast_after) - pixels(s3, plain_after)).mean() < 1.0
    assert np.abs(pixels(s3, fast) - pixels(s3, fast_after)).mean() > 1


def test_a_float8_unet_refuses_a_lora_job_with_a_400_and_runs_the_next_job(server, s3, model_refs, tmp_path):
    fp8 = FastRunner(FastOptions(backend="emulate", compile="off", build=BuildOptions(precision="fp8")))
    settings = InferenceSettings(cache_dir=tmp_path, device="cpu")
    with Server(create_app(predictor=Predictor(settings, s3=s3, runner=fp8))) as fp8_server:
        fp8_server.wait_ready()
        with_lora = {**BASE, "prompt": BASE["prompt"] + " <lora:tiny-lora:0.9>"}
        loras = {"tiny-lora": model_refs["lora"]}
        refused = invoke(fp8_server, job(model_refs, with_lora, job_id="fp8-lora", loras=loras))
        assert refused.status_code == 400 and refused.json()["type"] == "InvalidJob", refused.text
        assert "'tiny-lora'" in refused.json()["message"] and "float8" in refused.json()["message"]
        fast = run(fp8_server, job(model_refs, BASE, job_id="fp8-after"))
    assert fp8.last is not None and fp8.last.path == "fast"
    plain = run(server, job(model_refs, BASE, job_id="fp8-plain"))
    other_seed = run(server, job(model_refs, {**BASE, "seed": BASE["seed"] + 1}, job_id="fp8-other-seed"))
    difference = np.abs(pixels(s3, fast) - pixels(s3, plain)).mean()
    assert 0 < difference < np.abs(pixels(s3, other_seed) - pixels(s3, plain)).mean() / 3  # close, not equal


def test_serve_puts_inductor_kernels_beside_the_artifacts_unless_told_otherwise(monkeypatch, tmp_path):
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    process_environment(InferenceSettings(cache_dir=tmp_path))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "compiled" / "inductor-cache")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/elsewhere")
    process_environment(InferenceSettings(cache_dir=tmp_path))
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == "/elsewhere"


def test_the_fast_path_reports_progress_and_stops_at_a_cancel_between_replayed_steps(
    fast_server, fast_runner, s3, model_refs
):
    from tests.integration.inference.test_container_progress import cancel, progress_of

    run(fast_server, job(model_refs, BASE, job_id="fp-progress"))
    assert fast_runner.last is not None and fast_runner.last.path == "fast"
    assert progress_of(s3, "fp-progress")["step"] == BASE["steps"]

    long_job = {**BASE, "steps": 150, "n_iter": 4}
    answer: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=invoke(fast_server, job(model_refs, long_job, job_id="fp-cancel")))
    )
    thread.start()
    while thread.is_alive() and not (progress_of(s3, "fp-cancel") or {}).get("step"):
        time.sleep(0.05)
    cancel(s3, "fp-cancel")
    thread.join(timeout=30)
    assert answer["r"].status_code == 409 and answer["r"].json()["type"] == "Cancelled"
    assert run(fast_server, job(model_refs, BASE, job_id="fp-after-cancel"))["images"]
    assert fast_runner.last.path == "fast"


def test_the_server_ends_its_artifact_builds_when_it_shuts_down(s3, model_refs, tmp_path):
    from tests.unit.fast.test_fast_runner import builds_under

    artifacts = tmp_path / "compiled"
    runner = FastRunner(FastOptions(backend="emulate", compile="background", artifact_dir=artifacts,
                                    build=BuildOptions(backend="inductor")))
    settings = InferenceSettings(cache_dir=tmp_path / "cache", device="cpu")
    with Server(create_app(predictor=Predictor(settings, s3=s3, runner=runner))) as server:
        server.wait_ready()
        run(server, job(model_refs, BASE, job_id="fp-builds-at-shutdown"))
        deadline = time.monotonic() + 60
        while not builds_under(artifacts):
            assert time.monotonic() < deadline, "the job started no build"
            time.sleep(0.05)
    assert not builds_under(artifacts)
    assert not list(artifacts.glob("*.pt"))
