"""Inference jobs: validated, models resolved, handed to the async endpoint; listed, read and deleted by the owner."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from api_schema.jobs import InferenceInput

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def txt2img(**changes):
    checkpoint = {"sd_model_checkpoint": "sd15.safetensors [6ce0161689]"}
    payload = {"prompt": "a cat", "steps": 4, "override_settings": checkpoint}
    payload.update(changes)
    return payload


def submit(gateway, key, payload=None, task="txt2img", endpoint="sd", headers=None, **extra):
    body = {"endpoint_name": endpoint, "task": task, **({"payload": payload} if payload is not None else {}), **extra}
    return gateway.post("/inferences", key=key, json_body=body, headers=headers)


@pytest.fixture
def checkpoint(ready_model):
    return ready_model("sd15", "checkpoint")


def s3_keys(aws, prefix=""):
    listing = boto3.client("s3").list_objects_v2(Bucket=aws.settings.bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def job_item(aws, job_id):
    return boto3.resource("dynamodb").Table(aws.settings.jobs_table).get_item(Key={"id": job_id}).get("Item")


def test_a_job_is_written_resolved_and_handed_to_the_endpoint(gateway, user_key, endpoint, ready_model, checkpoint,
                                                              aws, api_calls):
    vae = ready_model("vae-ft-mse", "vae")
    lora = ready_model("detail", "lora")
    control = ready_model("control_openpose", "controlnet")
    embedding = ready_model("easynegative", "embedding")
    ready_model("unused-embedding", "embedding")
    annotator = ready_model("body_pose_model", "annotator")
    payload = txt2img(
        prompt="a cat <lora:detail:0.6>",
        negative_prompt="easynegative, blurry",
        override_settings={"sd_model_checkpoint": "sd15.safetensors [6ce0161689]", "sd_vae": "vae-ft-mse.safetensors"},
        alwayson_scripts={"controlnet": {"args": [
            {"enabled": True, "module": "openpose", "model": "control_openpose [fef5e48e]", "image": PNG},
            {"enabled": False},
        ]}},
    )
    api_calls.clear()

    reply = submit(gateway, user_key, payload)

    assert reply.status == 202, reply.body
    job = reply.body["inference"]
    assert job["status"] == "in_progress" and job["task"] == "txt2img" and job["endpoint_name"] == "sd"
    stored = InferenceInput.model_validate_json(
        boto3.client("s3").get_object(Bucket=aws.settings.bucket, Key=f"inputs/{job['id']}.json")["Body"].read()
    )
    assert stored.job_id == job["id"] and stored.payload == payload
    assert stored.output_bucket == aws.settings.bucket and stored.output_prefix == f"outputs/{job['id']}/"
    models = stored.models
    assert models.checkpoint.id == checkpoint["id"] and models.checkpoint.bucket == aws.settings.bucket
    assert models.checkpoint.key == f"models/checkpoint/{checkpoint['id']}/sd15.safetensors"
    assert models.vae is not None and models.vae.id == vae["id"]
    assert {k: v.id for k, v in models.loras.items()} == {"detail": lora["id"]}
    assert {k: v.id for k, v in models.controlnets.items()} == {"control_openpose [fef5e48e]": control["id"]}
    assert {k: v.id for k, v in models.embeddings.items()} == {"easynegative": embedding["id"]}
    assert {k: v.id for k, v in models.annotators.items()} == {"body_pose_model": annotator["id"]}
    [invoke] = [c for c in api_calls if c.operation == "SageMaker Runtime.InvokeEndpointAsync"]
    assert invoke.params == {
        "EndpointName": "sdcloud-sd",  # the stack's resource prefix + the API name
        "InputLocation": f"s3://{aws.settings.bucket}/inputs/{job['id']}.json",
        "InferenceId": job["id"],
        "ContentType": "application/json",
        "InvocationTimeoutSeconds": aws.settings.job_timeout_seconds,
        "RequestTTLSeconds": aws.settings.request_ttl_seconds,
    }
    item = job_item(aws, job["id"])
    assert item["owner"] == "alice" and item["pending"] == "1" and item["started_at"]
    budget = aws.settings.request_ttl_seconds + aws.settings.job_timeout_seconds + aws.settings.sweep_margin_seconds
    import time

    assert abs(int(item["deadline"]) - (time.time() + budget)) < 60
    assert item["output_location"].startswith("s3://")


def test_no_annotators_or_vae_without_preprocessing_or_override(gateway, user_key, endpoint, ready_model, checkpoint,
                                                                 aws):
    ready_model("body_pose_model", "annotator")
    ready_model("vae-ft-mse", "vae")
    payload = txt2img(override_settings={"sd_model_checkpoint": "sd15", "sd_vae": "Automatic"})

    reply = submit(gateway, user_key, payload)

    stored = json.loads(boto3.client("s3").get_object(
        Bucket=aws.settings.bucket, Key=f"inputs/{reply.body['inference']['id']}.json")["Body"].read())
    assert stored["models"]["vae"] is None and stored["models"]["annotators"] == {}


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        (txt2img(steps=0), "payload.steps", "greater than or equal to 1"),
        (txt2img(width=500), "payload.width", "multiple of 8"),
        (txt2img(sampler_name="Magic"), "payload.sampler_name", "unknown sampler"),
        (txt2img(tiling=True), "payload.tiling", "does not implement tiling"),
        (txt2img(scheduler="Beta"), "payload.scheduler", "scheduler 'Beta' is not implemented"),
        (txt2img(alwayson_scripts={"controlnet": {"args": [{"model": "cn", "image": {"image": PNG, "mask": PNG}}]}}),
         "payload.alwayson_scripts.controlnet.args.0.image", "mask is not supported"),
        (txt2img(alwayson_scripts={"controlnet": {"args": [{"enabled": True, "model": "cn"}] * 11}}),
         "payload.alwayson_scripts.controlnet.args", "at most 10"),
        ({"prompt": "no checkpoint"}, "payload.override_settings.sd_model_checkpoint", "required"),
        (txt2img(override_settings={"sd_model_checkpoint": "missing.ckpt [abcdef12]"}),
         "payload.override_settings.sd_model_checkpoint", "checkpoint model 'missing' is not registered"),
        (txt2img(override_settings={"sd_model_checkpoint": "sd15", "sd_vae": "nope.pt"}),
         "payload.override_settings.sd_vae", "vae model 'nope'"),
        (txt2img(override_settings={"sd_model_checkpoint": "sd15", "sd_vae": "sd15"}),
         "payload.override_settings.sd_vae", "is a checkpoint model, not a vae"),
        (txt2img(prompt="x <lora:gone:1>"), "payload.prompt", "lora model 'gone'"),
        (txt2img(negative_prompt="<lora:bad:0.5>"), "payload.negative_prompt", "lora model 'bad'"),
        (txt2img(alwayson_scripts={"controlnet": {"args": [{"enabled": False}, {"model": "cn_gone [1234abcd]",
                                                                               "image": PNG}]}}),
         "payload.alwayson_scripts.controlnet.args.1.model", "controlnet model 'cn_gone'"),
        ("not an object", "payload", "Input should be a valid dictionary"),
    ],
)
def test_invalid_payloads_are_400_naming_the_field_and_change_nothing(gateway, user_key, endpoint, checkpoint, aws,
                                                                      payload, field, words):
    reply = submit(gateway, user_key, payload)

    assert reply.status == 400, reply.body
    assert reply.body["field"] == field and words in reply.message
    assert reply.message.startswith(f"{field}:") or field.startswith("payload.override") or "model '" in reply.message
    assert s3_keys(aws, "inputs/") == []
    assert gateway.get("/inferences", key=user_key).body["inferences"] == []


def test_img2img_needs_init_images(gateway, user_key, endpoint, checkpoint):
    reply = submit(gateway, user_key, txt2img(), task="img2img")

    assert reply.status == 400 and reply.body["field"] == "payload.init_images"

    ok = submit(gateway, user_key, txt2img(init_images=[PNG], denoising_strength=0.5), task="img2img")
    assert ok.status == 202 and ok.body["inference"]["task"] == "img2img"


def test_a_model_still_uploading_is_refused(gateway, user_key, endpoint, admin_key):
    gateway.post("/models", key=admin_key, json_body={"name": "sd15", "type": "checkpoint",
                                                      "filename": "sd15.safetensors", "size_bytes": 10})

    reply = submit(gateway, user_key, txt2img())

    assert reply.status == 400 and "not ready" in reply.message


def test_the_endpoint_must_exist_and_be_in_service(gateway, user_key, endpoint, checkpoint):
    from lambdas.data.endpoints import set_status

    missing = submit(gateway, user_key, txt2img(), endpoint="nope")
    assert missing.status == 400 and missing.body["field"] == "endpoint_name" and "nope" in missing.message

    set_status("sdcloud-sd", "Updating")
    busy = submit(gateway, user_key, txt2img())
    assert busy.status == 409 and "Updating" in busy.message and busy.body["field"] == "endpoint_name"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"endpoint_name": "sd", "task": "inpaint", "payload": {}}, "task"),
     ({"endpoint_name": "s d", "task": "txt2img", "payload": {}}, "endpoint_name"),
     ({"endpoint_name": "sd", "task": "txt2img"}, "payload"),
     ({"endpoint_name": "sd", "task": "txt2img", "payload": {}, "payload_upload": True}, "payload")],
)
def test_invalid_requests_are_400(gateway, user_key, endpoint, body, field):
    reply = gateway.post("/inferences", key=user_key, json_body=body)

    assert reply.status == 400 and reply.body["field"] == field


def test_a_refused_invocation_fails_the_job_instead_of_leaving_it_running(gateway, user_key, endpoint, checkpoint,
                                                                          monkeypatch):
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 (private, untyped)

    def refuse(self, operation_name, params):
        if operation_name == "InvokeEndpointAsync":
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Endpoint sd is gone"}},
                              operation_name)
        return original(self, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refuse)

    reply = submit(gateway, user_key, txt2img())

    assert reply.status == 202
    job = gateway.get(f"/inferences/{reply.body['inference']['id']}", key=user_key).body["inference"]
    assert job["status"] == "failed" and "Endpoint sd is gone" in job["error"]


def test_payload_upload_then_start(gateway, user_key, endpoint, checkpoint, aws):
    created = submit(gateway, user_key, payload_upload=True, task="img2img")

    assert created.status == 201
    job_id = created.body["inference"]["id"]
    assert created.body["inference"]["status"] == "created"
    assert job_item(aws, job_id)["pending"] == "1"  # the sweeper ends it if the payload never comes
    not_yet = gateway.post(f"/inferences/{job_id}/start", key=user_key)
    assert not_yet.status == 400 and not_yet.body["field"] == "payload"

    url = created.body["payload_upload_url"]
    assert requests.put(url, data=json.dumps(txt2img(steps=500)), timeout=30).status_code == 200
    invalid = gateway.post(f"/inferences/{job_id}/start", key=user_key)
    assert invalid.status == 400 and invalid.body["field"] == "payload.steps"
    assert gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]["status"] == "created"

    assert requests.put(url, data=json.dumps(txt2img(init_images=[PNG])), timeout=30).status_code == 200
    started = gateway.post(f"/inferences/{job_id}/start", key=user_key)
    assert started.status == 202 and started.body["inference"]["status"] == "in_progress"
    assert s3_keys(aws, "inputs/") == [f"inputs/{job_id}.json"]
    again = gateway.post(f"/inferences/{job_id}/start", key=user_key)
    assert again.status == 409 and "in_progress" in again.message


def test_an_unstarted_upload_job_can_be_failed_by_the_sweeper(gateway, user_key, endpoint, checkpoint):
    from lambdas.data.jobs import get_job, mark_failed

    job_id = submit(gateway, user_key, payload_upload=True).body["inference"]["id"]

    assert mark_failed(job_id, "the payload was never uploaded")
    job = get_job(job_id)
    assert job is not None and job.status == "failed" and job.pending is None


def test_other_users_jobs_are_404(gateway, user_key, other_key, endpoint, checkpoint):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]

    assert gateway.get(f"/inferences/{job_id}", key=other_key).status == 404
    assert gateway.delete(f"/inferences/{job_id}", key=other_key).status == 404
    assert gateway.post(f"/inferences/{job_id}/start", key=other_key).status == 404
    assert gateway.get("/inferences", key=other_key).body["inferences"] == []
    assert gateway.get(f"/inferences/{job_id}", key=user_key).status == 200


def finish(aws, job_id, images=2):
    """What the result notifier does when the container succeeded: images in S3, the job marked succeeded."""
    from api_schema.jobs import InferenceManifest, Timings
    from lambdas.data.jobs import mark_succeeded

    s3 = boto3.client("s3")
    keys = [f"outputs/{job_id}/image_{i}.png" for i in range(images)]
    for i, key in enumerate(keys):
        s3.put_object(Bucket=aws.settings.bucket, Key=key, Body=f"png{i}".encode())
    assert mark_succeeded(job_id, InferenceManifest(job_id=job_id, images=keys, info="a cat\nSteps: 4", infotexts=[],
                                                    parameters={"steps": 4}, seeds=[1, 2], timings=Timings()))
    return keys


def test_get_returns_presigned_image_urls_info_and_parameters(gateway, user_key, endpoint, checkpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    finish(aws, job_id)

    job = gateway.get(f"/inferences/{job_id}", key=user_key).body["inference"]

    assert job["status"] == "succeeded" and job["completed_at"] and job["info"].startswith("a cat")
    assert job["parameters"] == {"steps": 4} and job["seeds"] == [1, 2]
    assert [requests.get(image["url"], timeout=30).content for image in job["images"]] == [b"png0", b"png1"]


def test_delete_removes_the_job_and_its_objects(gateway, user_key, endpoint, checkpoint, aws):
    job_id = submit(gateway, user_key, txt2img()).body["inference"]["id"]
    other = submit(gateway, user_key, txt2img()).body["inference"]["id"]

    busy = gateway.delete(f"/inferences/{job_id}", key=user_key)
    assert busy.status == 409 and "in progress" in busy.message

    finish(aws, job_id)
    boto3.client("s3").put_object(Bucket=aws.settings.bucket, Key=f"async/success/{job_id}.out", Body=b"{}")
    assert gateway.delete(f"/inferences/{job_id}", key=user_key).status == 204

    assert gateway.get(f"/inferences/{job_id}", key=user_key).status == 404
    assert s3_keys(aws, "inputs/") == [f"inputs/{other}.json"] and s3_keys(aws, "outputs/") == []
    assert s3_keys(aws, "async/") == []
    assert gateway.delete(f"/inferences/{job_id}", key=user_key).status == 404


def test_list_is_newest_first_paged_without_repeats_or_gaps_and_filtered(gateway, user_key, other_key, endpoint,
                                                                         checkpoint, aws):
    ids = [submit(gateway, user_key, txt2img()).body["inference"]["id"] for _ in range(7)]
    submit(gateway, other_key, txt2img())
    finish(aws, ids[1])
    finish(aws, ids[4])

    seen, token = [], None
    while True:
        reply = gateway.get("/inferences", key=user_key, query={"limit": 3, "next_token": token})
        assert reply.status == 200 and len(reply.body["inferences"]) <= 3
        seen += [j["id"] for j in reply.body["inferences"]]
        token = reply.body["next_token"]
        if not token:
            break
    assert seen == ids[::-1]

    done, token = [], None
    while True:
        reply = gateway.get("/inferences", key=user_key, query={"limit": 1, "status": "succeeded", "next_token": token})
        done += [j["id"] for j in reply.body["inferences"]]
        token = reply.body["next_token"]
        if not token:
            break
    assert done == [ids[4], ids[1]]
    assert gateway.get("/inferences", key=user_key, query={"task": "img2img"}).body["inferences"] == []
    assert gateway.get("/inferences", key=user_key, query={"status": "done"}).body["field"] == "status"


def test_forged_or_foreign_tokens_are_400(gateway, user_key, other_key, endpoint, checkpoint):
    import base64

    for _ in range(3):
        submit(gateway, user_key, txt2img())
    token = gateway.get("/inferences", key=user_key, query={"limit": 1}).body["next_token"]

    foreign = gateway.get("/inferences", key=other_key, query={"next_token": token})
    assert foreign.status == 400 and foreign.body["field"] == "next_token"
    key = json.loads(base64.urlsafe_b64decode(token + "=="))["k"]
    forged = base64.urlsafe_b64encode(json.dumps({"s": "inferences:bob:*:*", "k": key}).encode()).decode()
    assert gateway.get("/inferences", key=other_key, query={"next_token": forged}).status == 400
    for bad in ("%%%", "e30", token[:10]):
        reply = gateway.get("/inferences", key=user_key, query={"next_token": bad})
        assert reply.status == 400 and reply.body["field"] == "next_token"


def test_a_retried_submit_with_the_same_idempotency_key_returns_the_first_job(gateway, user_key, other_key,
                                                                              endpoint, checkpoint, api_calls):
    first = submit(gateway, user_key, txt2img(), headers={"Idempotency-Key": "retry-1"})
    second = submit(gateway, user_key, txt2img(), headers={"Idempotency-Key": "retry-1"})

    assert first.status == second.status == 202
    assert first.body["inference"]["id"] == second.body["inference"]["id"]
    assert len([c for c in api_calls if c.operation == "SageMaker Runtime.InvokeEndpointAsync"]) == 1
    assert len(gateway.get("/inferences", key=user_key).body["inferences"]) == 1

    changed = submit(gateway, user_key, txt2img(steps=5), headers={"Idempotency-Key": "retry-1"})
    assert changed.status == 409 and changed.body["field"] == "Idempotency-Key"
    other = submit(gateway, other_key, txt2img(), headers={"Idempotency-Key": "retry-1"})
    assert other.status == 202 and other.body["inference"]["id"] != first.body["inference"]["id"]
    fresh = submit(gateway, user_key, txt2img(), headers={"idempotency-key": "retry-2"})
    assert fresh.body["inference"]["id"] != first.body["inference"]["id"]
    fresh_again = submit(gateway, user_key, txt2img(), headers={"IDEMPOTENCY-KEY": "retry-2"})
    assert fresh_again.body["inference"]["id"] == fresh.body["inference"]["id"]


def test_a_failed_submit_does_not_pin_its_idempotency_key(gateway, user_key, endpoint, checkpoint):
    bad = submit(gateway, user_key, txt2img(steps=0), headers={"Idempotency-Key": "k"})
    assert bad.status == 400

    good = submit(gateway, user_key, txt2img(steps=0) | {"steps": 4}, headers={"Idempotency-Key": "k"})
    assert good.status == 202
