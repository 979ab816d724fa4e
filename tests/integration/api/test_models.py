"""Models: register, upload straight to S3 through presigned multipart URLs, complete, list, delete.

The parts are PUT with `requests` to the presigned URLs (`upload_parts`); inside `mock_aws` moto answers
those calls (it intercepts `requests` too), so the upload really goes through S3's multipart protocol.
"""

from __future__ import annotations

import boto3
import pytest
from gateway_events import upload_parts

MIB = 1024 * 1024


def register(gateway, key, name="sd15", size=1000, type_="checkpoint", filename="sd15.safetensors"):
    return gateway.post("/models", key=key, json_body={"name": name, "type": type_, "filename": filename,
                                                       "size_bytes": size})


def upload_model(gateway, key, name="sd15", type_="checkpoint", data=b"weights" * 100) -> dict:
    created = register(gateway, key, name=name, size=len(data), type_=type_)
    assert created.status == 201, created.body
    parts = upload_parts(created.body["upload"], data)
    done = gateway.post(f"/models/{created.body['model']['id']}/complete", key=key, json_body={"parts": parts})
    assert done.status == 200, done.body
    return dict(done.body["model"])


def test_a_model_uploads_in_parts_and_becomes_ready(gateway, user_key, aws):
    data = bytes(range(256)) * (8 * MIB // 256) + b"tail" * 1000  # 8 MiB + 4000 bytes: two parts

    created = register(gateway, user_key, size=len(data))

    assert created.status == 201
    model, up = created.body["model"], created.body["upload"]
    assert model["status"] == "uploading" and model["owner"] == "alice"
    assert up["part_size"] == 8 * MIB and [p["part_number"] for p in up["parts"]] == [1, 2]

    parts = upload_parts(up, data)
    done = gateway.post(f"/models/{model['id']}/complete", key=user_key, json_body={"parts": parts})

    assert done.status == 200, done.body
    assert done.body["model"]["status"] == "ready"
    stored = boto3.client("s3").get_object(Bucket=aws.settings.bucket,
                                           Key=f"models/checkpoint/{model['id']}/sd15.safetensors")
    assert stored["Body"].read() == data
    again = gateway.post(f"/models/{model['id']}/complete", key=user_key, json_body={"parts": parts})
    assert again.status == 200 and again.body["model"]["status"] == "ready"


def test_big_files_get_bigger_parts_and_at_most_1000_of_them(gateway, user_key):
    from lambdas.logic.models import MIN_PART_SIZE, part_count, part_size_for

    for size in (1, 8 * MIB, 8 * MIB + 1, 20 * 1024 * MIB, 50 * 1024**3):
        part_size = part_size_for(size)
        assert part_size >= MIN_PART_SIZE and part_count(size, part_size) <= 1000
        assert (part_count(size, part_size) - 1) * part_size < size <= part_count(size, part_size) * part_size

    reply = register(gateway, user_key, size=20 * 1024 * MIB)
    assert reply.status == 201
    assert len(reply.body["upload"]["parts"]) == part_count(20 * 1024 * MIB, part_size_for(20 * 1024 * MIB)) <= 1000


def test_complete_refuses_parts_that_do_not_add_up_and_changes_nothing(gateway, user_key):
    created = register(gateway, user_key, size=100)
    model_id, up = created.body["model"]["id"], created.body["upload"]

    missing = gateway.post(f"/models/{model_id}/complete", key=user_key,
                           json_body={"parts": [{"part_number": 1, "etag": '"x"'}]})
    assert missing.status == 400 and missing.body["field"] == "parts" and "not been uploaded" in missing.message

    parts = upload_parts(up, b"a" * 99)
    short = gateway.post(f"/models/{model_id}/complete", key=user_key, json_body={"parts": parts})
    assert short.status == 400 and short.body["field"] == "size_bytes" and "99" in short.message

    wrong = gateway.post(f"/models/{model_id}/complete", key=user_key,
                         json_body={"parts": [{"part_number": 2, "etag": '"x"'}]})
    assert wrong.status == 400 and "1..1" in wrong.message

    parts = upload_parts(up, b"a" * 100)
    assert gateway.post(f"/models/{model_id}/complete", key=user_key, json_body={"parts": parts}).status == 200


def test_only_the_owner_completes(gateway, user_key, other_key):
    created = register(gateway, user_key)

    reply = gateway.post(f"/models/{created.body['model']['id']}/complete", key=other_key,
                         json_body={"parts": [{"part_number": 1, "etag": '"x"'}]})

    assert reply.status == 403


def test_names_are_unique(gateway, user_key, other_key):
    assert register(gateway, user_key).status == 201

    reply = register(gateway, other_key, type_="lora")

    assert reply.status == 409 and reply.body["field"] == "name" and "sd15" in reply.message


@pytest.mark.parametrize(
    ("change", "field"),
    [({"name": "../etc"}, "name"), ({"type": "hypernetwork"}, "type"), ({"filename": "a/b.ckpt"}, "filename"),
     ({"size_bytes": 0}, "size_bytes"), ({"size_bytes": 60 * 1024**3}, "size_bytes")],
)
def test_invalid_registrations_are_400_naming_the_field(gateway, user_key, change, field):
    body = {"name": "ok", "type": "lora", "filename": "ok.safetensors", "size_bytes": 10, **change}

    reply = gateway.post("/models", key=user_key, json_body=body)

    assert reply.status == 400 and reply.body["field"] == field


def test_models_are_shared_and_listed_by_type_across_pages(gateway, user_key, other_key):
    loras = [upload_model(gateway, user_key if i % 2 else other_key, name=f"lora{i}", type_="lora")
             for i in range(5)]
    checkpoint = upload_model(gateway, user_key, name="base")["id"]

    seen, token = [], None
    while True:
        reply = gateway.get("/models", key=other_key, query={"type": "lora", "limit": 2, "next_token": token})
        assert reply.status == 200 and len(reply.body["models"]) <= 2
        seen += [m["id"] for m in reply.body["models"]]
        token = reply.body["next_token"]
        if not token:
            break
    assert seen == [lora["id"] for lora in loras][::-1]  # newest first

    everything, token = [], None
    while True:
        reply = gateway.get("/models", key=other_key, query={"limit": 4, "next_token": token})
        everything += [m["id"] for m in reply.body["models"]]
        token = reply.body["next_token"]
        if not token:
            break
    assert sorted(everything) == sorted([lora["id"] for lora in loras] + [checkpoint])

    assert gateway.get(f"/models/{checkpoint}", key=other_key).body["model"]["name"] == "base"


def test_list_rejects_a_token_of_another_listing_or_a_forged_one(gateway, user_key):
    for i in range(3):
        register(gateway, user_key, name=f"l{i}", type_="lora")
    token = gateway.get("/models", key=user_key, query={"type": "lora", "limit": 1}).body["next_token"]

    assert gateway.get("/models", key=user_key, query={"type": "vae", "next_token": token}).status == 400
    for forged in ("garbage!", "eyJzIjoxfQ", token[:-3]):
        reply = gateway.get("/models", key=user_key, query={"type": "lora", "next_token": forged})
        assert reply.status == 400 and reply.body["field"] == "next_token"
    assert gateway.get("/models", key=user_key, query={"type": "unet"}).body["field"] == "type"


def test_owner_or_admin_deletes_and_the_file_and_name_go_too(gateway, user_key, other_key, admin_key, aws):
    model = upload_model(gateway, user_key)

    assert gateway.delete(f"/models/{model['id']}", key=other_key).status == 403
    assert gateway.delete(f"/models/{model['id']}", key=admin_key).status == 204

    assert gateway.get(f"/models/{model['id']}", key=user_key).status == 404
    assert boto3.client("s3").list_objects_v2(Bucket=aws.settings.bucket, Prefix="models/").get("KeyCount") == 0
    assert upload_model(gateway, user_key)["name"] == "sd15"  # the name is free again
    assert gateway.delete("/models/name%23sd15", key=admin_key).status == 404
    assert gateway.get("/models/name#sd15", key=user_key).status == 404


def test_deleting_an_unfinished_upload_aborts_it(gateway, user_key, aws):
    created = register(gateway, user_key)

    assert gateway.delete(f"/models/{created.body['model']['id']}", key=user_key).status == 204

    assert boto3.client("s3").list_multipart_uploads(Bucket=aws.settings.bucket).get("Uploads", []) == []
