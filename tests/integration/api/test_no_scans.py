"""Every list on a request path is a Query: a Scan anywhere fails this test."""

from __future__ import annotations

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_every_list_path_queries_and_never_scans(gateway, admin_key, user_key, endpoint, ready_model, api_calls):
    ready_model("sd15", "checkpoint")
    ready_model("easyneg", "embedding")
    ready_model("body_pose_model", "annotator")  # openpose needs it (a 400 at submit otherwise)
    ready_model("cn", "controlnet")
    payload = {
        "prompt": "a cat, easyneg",
        "override_settings": {"sd_model_checkpoint": "sd15"},
        "alwayson_scripts": {"controlnet": {"args": [{"module": "openpose", "model": "cn", "image": PNG}]}},
    }
    assert gateway.post("/inferences", key=user_key,
                        json_body={"endpoint_name": endpoint, "task": "txt2img", "payload": payload}).status == 202
    api_calls.clear()

    for path, query in [
        ("/users", {"limit": 1}),
        ("/models", {"limit": 1}),
        ("/models", {"type": "lora"}),
        ("/endpoints", {"limit": 1}),
        ("/endpoints", {"status": "InService"}),
        ("/inferences", {"limit": 1}),
        ("/inferences", {"status": "in_progress", "task": "txt2img"}),
    ]:
        assert gateway.get(path, key=admin_key if path == "/users" else user_key, query=query).status == 200
    assert gateway.post("/inferences", key=user_key,
                        json_body={"endpoint_name": endpoint, "task": "txt2img", "payload": payload}).status == 202

    operations = {call.operation for call in api_calls}
    assert "DynamoDB.Query" in operations
    assert not {op for op in operations if op.endswith("Scan")}
