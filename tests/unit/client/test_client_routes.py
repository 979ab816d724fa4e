import re
import threading
from pathlib import Path

import pytest
from PIL import Image

from sdcloud_client import ApiError, SdCloudClient
from sdcloud_client.progress import progress_text
from tests.unit.client.fake_api import FakeApi


def test_ping_needs_no_key(api: FakeApi) -> None:
    assert SdCloudClient(api.url).ping()["status"] == "ok"


def test_unreachable_api_is_status_zero() -> None:
    with pytest.raises(ApiError) as caught:
        SdCloudClient("http://127.0.0.1:9", "k", timeout=2).ping()
    assert caught.value.unreachable
    assert "cannot reach" in caught.value.message


def test_server_message_and_field_are_kept(admin: SdCloudClient) -> None:
    with pytest.raises(ApiError) as caught:
        admin.create_user("bad name!")
    assert (caught.value.status, caught.value.field) == (400, "name")
    assert "must match" in caught.value.message


def test_every_error_of_a_400_is_kept_and_shown_in_the_message() -> None:
    import json

    import requests

    from sdcloud_client import FieldError
    from sdcloud_client.transport import error_from as _error_from

    response = requests.Response()
    response.status_code = 400
    errors = [{"field": "payload.steps", "message": "payload.steps: must be at least 1"},
              {"field": "payload.width", "message": "must be a multiple of 8"}]
    response._content = json.dumps({"message": errors[0]["message"], "field": "payload.steps",
                                    "errors": errors}).encode()

    error = _error_from(response)

    assert error.errors == [FieldError("payload.steps", "payload.steps: must be at least 1"),
                            FieldError("payload.width", "must be a multiple of 8")]
    assert error.field == "payload.steps"
    assert error.message == ("2 problems: payload.steps: must be at least 1; payload.width: must be a multiple of 8")


def test_users_create_list_whoami_revoke(api: FakeApi, admin: SdCloudClient) -> None:
    created = admin.create_user("alice")
    alice = SdCloudClient(api.url, created["api_key"])

    assert alice.whoami()["name"] == "alice"
    assert "alice" in [u["name"] for u in admin.list_users()]

    admin.revoke_user("alice")
    with pytest.raises(ApiError) as caught:
        alice.whoami()
    assert caught.value.unauthorized


def test_models_pages_filter_get_delete(api: FakeApi, admin: SdCloudClient) -> None:
    for index in range(3):
        api.add_model(f"lora{index}", "lora")
    vae = api.add_model("vae0", "vae")

    first = admin.list_models(type="lora", limit=2)
    second = admin.list_models(type="lora", limit=2, next_token=first["next_token"])

    assert len(first["models"]) == 2 and first["next_token"]
    assert len(second["models"]) == 1 and second["next_token"] is None
    assert sorted(m["name"] for m in admin.all_models("lora")) == ["lora0", "lora1", "lora2"]
    assert admin.get_model(vae["id"])["name"] == "vae0"
    admin.delete_model(vae["id"])
    with pytest.raises(ApiError) as caught:
        admin.get_model(vae["id"])
    assert caught.value.status == 404


def test_endpoint_create_wait_list_delete(api: FakeApi, admin: SdCloudClient) -> None:
    assert admin.create_endpoint("ep1")["status"] == "Creating"
    seen: list[str] = []
    threading.Timer(0.3, lambda: api.endpoints["ep1"].update(status="InService")).start()

    endpoint = admin.wait_endpoint("ep1", poll_interval=0.05, timeout=5, on_update=lambda e: seen.append(e["status"]))

    assert endpoint["status"] == "InService"
    assert seen == ["Creating", "InService"]
    assert [e["name"] for e in admin.list_endpoints(status="InService")] == ["ep1"]
    admin.delete_endpoint("ep1")
    assert admin.list_endpoints() == []


def test_wait_gives_up_at_the_timeout(api: FakeApi, admin: SdCloudClient) -> None:
    api.add_endpoint("slow", "Creating")
    with pytest.raises(TimeoutError, match="still Creating"):
        admin.wait_endpoint("slow", poll_interval=0.05, timeout=0.2)


def test_inference_submit_wait_download(api: FakeApi, admin: SdCloudClient, tmp_path: Path) -> None:
    api.add_endpoint("ep")
    job = admin.create_inference(
        "ep", "txt2img", {"prompt": "a dog", "seed": 7, "batch_size": 2, "width": 64, "height": 64}
    )
    assert job["status"] == "in_progress"
    statuses: list[str] = []

    done = admin.wait_inference(
        job["id"], poll_interval=0.05, timeout=5, on_update=lambda j: statuses.append(j["status"])
    )
    paths = admin.download_images(done, tmp_path / "out")

    assert list(dict.fromkeys(statuses)) == ["in_progress", "succeeded"]  # in_progress again at each new step
    assert [p.name for p in paths] == [f"{job['id']}-0.png", f"{job['id']}-1.png"]
    with Image.open(paths[0]) as image:
        assert image.info["parameters"] == done["info"]
    assert "Seed: 7" in done["info"]


def test_wait_follows_the_progress_and_cancels_when_asked(api: FakeApi, admin: SdCloudClient) -> None:
    api.add_endpoint("ep")
    api.finish_after = 30
    job = admin.create_inference("ep", "txt2img", {"prompt": "a dog", "steps": 300})
    seen: list[str] = []

    done = admin.wait_inference(job["id"], poll_interval=0.05, timeout=10,
                                on_update=lambda j: seen.append(progress_text(j)), cancel_when=lambda: len(seen) >= 3)

    assert done["status"] == "cancelled"
    assert seen[-1] == "cancelled" and all(re.fullmatch(r"step \d+/300, about \d+ s left", t) for t in seen[:-1])
    with pytest.raises(ApiError) as ended:
        admin.cancel_inference(job["id"])
    assert ended.value.status == 409 and "it is cancelled" in ended.value.message


def test_large_payload_goes_through_the_upload_url(api: FakeApi, admin: SdCloudClient) -> None:
    api.add_endpoint("ep")
    job = admin.create_inference("ep", "img2img", {"prompt": "p", "init_images": ["x" * 100]}, payload_upload=True)

    assert job["status"] == "in_progress"
    assert api.payloads[job["id"]]["init_images"] == ["x" * 100]
    assert ("POST", f"/inferences/{job['id']}/start") in api.requests


def test_a_request_over_one_lambda_invocation_takes_the_upload_url_by_itself(
    api: FakeApi, admin: SdCloudClient
) -> None:
    from sdcloud_client.transport import EVENT_ENVELOPE, LAMBDA_EVENT_LIMIT, fits_one_invocation

    api.add_endpoint("ep")
    small = admin.create_inference("ep", "txt2img", {"prompt": "p"})
    # 3.2 MB of quotes is 6.4 MB once the body is escaped into the event: it would not fit.
    quotes = {"prompt": "p", "extra": '"' * (3200 * 1024)}
    large = admin.create_inference("ep", "txt2img", quotes)

    assert ("POST", f"/inferences/{small['id']}/start") not in api.requests
    assert ("POST", f"/inferences/{large['id']}/start") in api.requests
    assert api.payloads[large["id"]] == quotes
    assert fits_one_invocation({"a": "x" * (LAMBDA_EVENT_LIMIT - EVENT_ENVELOPE - 20)})
    assert not fits_one_invocation({"a": "x" * (LAMBDA_EVENT_LIMIT - EVENT_ENVELOPE)})


def test_refused_inference_names_the_field(api: FakeApi, admin: SdCloudClient) -> None:
    api.add_endpoint("creating", "Creating")
    with pytest.raises(ApiError) as caught:
        admin.create_inference("creating", "txt2img", {"prompt": "p"})
    assert caught.value.field == "endpoint_name"
    assert not api.jobs


def test_inference_list_newest_first_paged_filtered(api: FakeApi, admin: SdCloudClient) -> None:
    api.add_endpoint("ep")
    ids = [admin.create_inference("ep", "txt2img", {"prompt": f"p{i}"})["id"] for i in range(3)]
    failed = admin.create_inference("ep", "txt2img", {"prompt": "FAIL"})["id"]
    admin.wait_inference(failed, poll_interval=0.05, timeout=5)

    page = admin.list_inferences(limit=2)
    rest = admin.list_inferences(limit=2, next_token=page["next_token"])

    assert [j["id"] for j in page["inferences"] + rest["inferences"]] == [failed, *reversed(ids)]
    assert [j["id"] for j in admin.list_inferences(status="failed")["inferences"]] == [failed]
    assert admin.get_inference(failed)["error"]
    admin.delete_inference(failed)
    assert failed not in [j["id"] for j in admin.list_inferences()["inferences"]]
