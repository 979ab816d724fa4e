"""Live progress and cancel on the real local stack, over HTTP and through the CLI: a long job (many steps on the
CPU) reports its steps while it runs, the jobs behind it say where they wait, and cancel ends a queued and a
running job at once, the endpoint going on with the next job."""

from __future__ import annotations

import re
import threading
import time

import boto3
from e2e_helpers import Api, poll, tiny_payload, wait_job
from typer.testing import CliRunner

from api_schema import s3_layout
from sdcloud.cli import app
from sdcloud_client import ApiError


def _submit(user: Api, endpoint: str, payload: dict) -> str:
    body = {"endpoint_name": endpoint, "task": "txt2img", "payload": payload}
    return str(user.ok("POST", "/inferences", 202, json=body)["inference"]["id"])


def _job(user: Api, job_id: str) -> dict:
    return dict(user.ok("GET", f"/inferences/{job_id}")["inference"])


def test_progress_while_queued_and_running_then_cancel_queued_and_running(user, models, endpoint, local_stack):
    # Given: a long job (600 steps), a second one behind it, and a light one last
    long = tiny_payload(models, steps=150, n_iter=4)
    running, queued = _submit(user, endpoint, long), _submit(user, endpoint, long)
    last = _submit(user, endpoint, tiny_payload(models, steps=1))

    # Then: the first reports a growing fraction while it runs, the others wait behind it
    fractions: list[float] = []

    def progress() -> dict:
        job = _job(user, running)
        if job["progress"] and job["progress"]["state"] == "running" and job["progress"]["step"]:
            fractions.append(job["progress"]["fraction"])
        return job

    poll(progress, lambda _: len(set(fractions)) >= 3, timeout=300, interval=0.2)
    assert len(set(fractions)) >= 3 and fractions == sorted(fractions) and fractions[-1] < 1, fractions
    shown = _job(user, running)["progress"]
    assert shown["steps"] == 600 and shown["phase"] == "sampling" and shown["eta_s"] > 0
    waiting = [_job(user, job_id)["progress"] for job_id in (queued, last)]
    assert [(p["state"], p["queue_position"]) for p in waiting] == [("queued", 0), ("queued", 1)]
    listed = {j["id"]: j["progress"] for j in user.ok("GET", "/inferences")["inferences"]}
    assert listed[last]["queue_position"] == 1 and listed[running]["state"] == "running"

    # When: the queued job, then the running one, are cancelled
    cancelled_at = time.monotonic()
    for job_id in (queued, running):
        answer = user.ok("POST", f"/inferences/{job_id}/cancel", 202)["inference"]
        assert answer["status"] == "cancelled" and answer["progress"] is None

    # Then: the endpoint stops the running job at its next steps, skips the queued one, and runs the last
    done = wait_job(user, last, timeout=120)
    assert done["status"] == "succeeded", done
    assert time.monotonic() - cancelled_at < 60
    assert [_job(user, job_id)["status"] for job_id in (running, queued)] == ["cancelled", "cancelled"]
    s3, bucket = boto3.client("s3"), local_stack.settings.bucket
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="outputs/").get("Contents", [])}
    assert s3_layout.progress_key(queued) not in keys  # it never started
    assert not any(k.startswith(s3_layout.output_prefix(running) + "image_") for k in keys)
    failure = s3.get_object(Bucket=bucket, Key=s3_layout.async_failure_key(running))["Body"].read()
    assert b'"Cancelled"' in failure

    # And: an ended job is a 409 naming its status; a cancelled one is deleted like any other
    again = user.call("POST", f"/inferences/{last}/cancel")
    assert again.status_code == 409 and "succeeded" in again.json()["message"]
    assert user.call("DELETE", f"/inferences/{running}").status_code == 204


def test_the_cli_waits_with_a_step_bar_and_cancels(user, models, endpoint, local_stack):
    cli = CliRunner()

    def sdcloud(*args: str):
        return cli.invoke(app, ["--api-url", local_stack.api_url, "--api-key", user.key, *args])

    # Given: a long job running and a second one, waited for by `sdcloud jobs wait`
    long = tiny_payload(models, steps=150, n_iter=4)
    first, second = _submit(user, endpoint, long), _submit(user, endpoint, long)
    waited: dict = {}
    waiting = threading.Thread(target=lambda: waited.update(result=sdcloud("jobs", "wait", second)))
    waiting.start()

    # When: the first is cancelled, the second runs a few steps and is cancelled too
    user.ok("POST", f"/inferences/{first}/cancel", 202)
    running = poll(lambda: _job(user, second), lambda j: (j["progress"] or {}).get("step", 0) > 0, timeout=120)
    assert running["progress"]["state"] == "running", running
    user.ok("POST", f"/inferences/{second}/cancel", 202)
    waiting.join(timeout=60)

    # Then: the wait showed the steps of the 600 and exits 1 naming the end
    result = waited["result"]
    assert result.exit_code == 1 and f"job {second} cancelled" in result.output, result.output
    assert re.search(r"\d+/600", result.output), result.output

    # And: `jobs cancel` cancels a job not yet started and refuses an ended one, naming its status
    created = user.ok("POST", "/inferences", 201, json={"endpoint_name": endpoint, "task": "txt2img",
                                                        "payload_upload": True})["inference"]["id"]
    cancelled = sdcloud("jobs", "cancel", created)
    assert cancelled.exit_code == 0 and f"job {created} cancelled" in cancelled.output
    refused = sdcloud("jobs", "cancel", second)
    assert isinstance(refused.exception, ApiError) and refused.exception.status == 409
    assert "it is cancelled" in str(refused.exception)
    assert "cancelled" in sdcloud("jobs", "list").output
