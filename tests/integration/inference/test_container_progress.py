"""Progress reports and cancel through the real server: steps of every batch and pass, the cancel marker seen
before a job starts and between its steps, the next job running as usual, and live previews when they are on."""

from __future__ import annotations

import io
import json
import threading
import time

from PIL import Image

from api_schema import s3_layout
from inference_image.predictor import Predictor
from inference_image.server import create_app
from inference_image.settings import InferenceSettings
from tests.integration.inference.helpers import BASE, BUCKET, Server, invoke, job

LONG = {**BASE, "steps": 150, "n_iter": 4, "sampler_name": "Euler"}  # 600 steps: seconds on the CPU


def progress_of(s3, job_id):
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=s3_layout.progress_key(job_id))["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def cancel(s3, job_id):
    s3.put_object(Bucket=BUCKET, Key=s3_layout.cancel_key(job_id), Body=b"")


def test_the_report_counts_the_steps_of_every_batch_and_the_hires_pass(server, s3, model_refs):
    payload = {**BASE, "steps": 4, "n_iter": 2, "enable_hr": True, "hr_scale": 1.5, "denoising_strength": 0.5,
               "hr_second_pass_steps": 3, "hr_upscaler": "Latent"}

    assert invoke(server, job(model_refs, payload, job_id="pr-hires")).status_code == 200

    report = progress_of(s3, "pr-hires")
    assert (report["step"], report["steps"], report["phase"]) == (14, 14, "hires")
    assert report["eta_s"] == 0


def test_a_job_cancelled_before_it_starts_is_skipped(server, s3, model_refs):
    cancel(s3, "pr-early")

    response = invoke(server, job(model_refs, BASE, job_id="pr-early"))

    assert response.status_code == 409 and response.json()["type"] == "Cancelled"
    assert progress_of(s3, "pr-early") is None


def test_a_running_job_reports_its_steps_stops_at_a_cancel_and_the_next_job_runs(server, s3, model_refs):
    answers = {}
    running = threading.Thread(target=lambda: answers.update(
        long=invoke(server, job(model_refs, LONG, job_id="pr-long"))))
    running.start()
    reports = []
    while running.is_alive() and len(reports) < 2:
        report = progress_of(s3, "pr-long")
        if report and report["step"] > 0 and (not reports or report["step"] > reports[-1]["step"]):
            reports.append(report)
        time.sleep(0.1)
    assert len(reports) == 2, "the long job ended before it reported twice"
    assert reports[0]["steps"] == 600 and reports[0]["eta_s"] > 0 and reports[0]["phase"] == "sampling"

    cancel(s3, "pr-long")
    cancelled_at = time.monotonic()
    running.join(timeout=30)

    assert answers["long"].status_code == 409 and answers["long"].json()["type"] == "Cancelled"
    assert time.monotonic() - cancelled_at < 5
    assert progress_of(s3, "pr-long")["step"] < 600
    assert invoke(server, job(model_refs, BASE, job_id="pr-next")).status_code == 200


def test_with_previews_on_the_report_names_a_jpeg_of_the_latents_so_far(s3, model_refs, tmp_path_factory):
    settings = InferenceSettings(cache_dir=tmp_path_factory.mktemp("preview-cache"), device="cpu",
                                 preview_interval_s=0.01)
    with Server(create_app(predictor=Predictor(settings, s3=s3))) as server:
        server.wait_ready()

        assert invoke(server, job(model_refs, {**BASE, "steps": 20}, job_id="pr-preview")).status_code == 200

    report = progress_of(s3, "pr-preview")
    assert 0 < report["preview_step"] <= 20
    preview = Image.open(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=s3_layout.preview_key("pr-preview"))["Body"]
                                    .read()))
    assert preview.format == "JPEG" and preview.size == (256, 256)
    assert len(set(preview.getdata())) > 1  # the latents drawn, not a blank
