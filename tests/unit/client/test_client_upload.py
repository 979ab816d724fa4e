import os
from pathlib import Path

import pytest

from sdcloud_client import ApiError, SdCloudClient
from tests.unit.client.fake_api import ADMIN_KEY, FakeApi


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.safetensors"
    path.write_bytes(os.urandom(3000))
    return path


def _part_puts(api: FakeApi) -> int:
    return sum(1 for method, path in api.requests if method == "PUT" and path.startswith("/s3/parts/"))


def test_upload_streams_parts_with_progress(
    api: FakeApi, admin: SdCloudClient, model_file: Path, tmp_path: Path
) -> None:
    progress: list[tuple[int, int]] = []

    model = admin.upload_model(
        model_file,
        "tiny",
        "checkpoint",
        progress=lambda s, t: progress.append((s, t)),
        state_dir=tmp_path / "state",
    )

    assert model["status"] == "ready"
    assert api.blobs[f"models/{model['id']}"] == model_file.read_bytes()
    assert progress[-1] == (3000, 3000)
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)
    assert _part_puts(api) == 3
    assert not list((tmp_path / "state").glob("*.json"))


def test_completing_a_large_upload_may_take_longer_than_the_other_calls(
    api: FakeApi, model_file: Path, tmp_path: Path
) -> None:
    api.complete_delay_s = 1.5
    client = SdCloudClient(api.url, ADMIN_KEY, timeout=0.5)

    model = client.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")

    assert model["status"] == "ready"
    assert api.blobs[f"models/{model['id']}"] == model_file.read_bytes()


def test_interrupted_upload_resumes_with_the_missing_parts(
    api: FakeApi, admin: SdCloudClient, model_file: Path, tmp_path: Path
) -> None:
    api.drop_connection_after_parts = 1
    with pytest.raises(ApiError):
        admin.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")
    assert len(list((tmp_path / "state").glob("*.json"))) == 1
    api.drop_connection_after_parts = None
    puts_before = _part_puts(api)
    progress: list[int] = []

    model = admin.upload_model(
        model_file,
        "tiny",
        "checkpoint",
        progress=lambda s, t: progress.append(s),
        state_dir=tmp_path / "state",
    )

    assert model["status"] == "ready"
    assert _part_puts(api) - puts_before == 2
    assert progress[0] == 1000  # the part sent before the interruption counts from the start
    assert api.blobs[f"models/{model['id']}"] == model_file.read_bytes()
    assert len(api.models) == 1


def test_expired_part_urls_start_over(api: FakeApi, admin: SdCloudClient, model_file: Path, tmp_path: Path) -> None:
    api.drop_connection_after_parts = 1
    with pytest.raises(ApiError):
        admin.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")
    api.drop_connection_after_parts = None
    api.refuse_part_puts = 1

    model = admin.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")

    assert model["status"] == "ready"
    assert list(api.models) == [model["id"]]
    assert api.blobs[f"models/{model['id']}"] == model_file.read_bytes()


def test_changed_file_is_not_resumed(api: FakeApi, admin: SdCloudClient, model_file: Path, tmp_path: Path) -> None:
    api.drop_connection_after_parts = 1
    with pytest.raises(ApiError):
        admin.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")
    api.drop_connection_after_parts = None
    model_file.write_bytes(os.urandom(3001))

    with pytest.raises(ApiError) as caught:
        admin.upload_model(model_file, "tiny", "checkpoint", state_dir=tmp_path / "state")
    assert caught.value.status == 409  # a fresh registration under the taken name is refused by the server
