"""moto's endpoint-config validator accepts the GPU instance types sd-cloud deploys to, and still rejects nonsense."""

import pytest
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig

from sdcloud.local.moto_patches import allow_gpu_instance_types


def _config(instance_type: str) -> FakeEndpointConfig:
    return FakeEndpointConfig(  # type: ignore[abstract]
        account_id="123456789012",
        region_name="us-east-1",
        endpoint_config_name="cfg",
        production_variants=[{"VariantName": "main", "ModelName": "m", "InstanceType": instance_type}],
        async_inference_config={},
        data_capture_config={},
        tags=[],
        kms_key_id="",
    )


@pytest.mark.parametrize("instance_type", ["ml.g5.xlarge", "ml.g6.2xlarge", "ml.g6e.xlarge", "ml.g4dn.xlarge"])
def test_gpu_instance_types_pass_the_validator(instance_type):
    allow_gpu_instance_types()
    allow_gpu_instance_types()  # idempotent

    assert _config(instance_type).production_variants[0]["InstanceType"] == instance_type


@pytest.mark.parametrize("instance_type", ["ml.g5.huge", "ml.z9.xlarge"])
def test_unknown_instance_types_are_still_rejected(instance_type):
    allow_gpu_instance_types()

    with pytest.raises(ValidationError, match="instanceType"):
        _config(instance_type)


@pytest.fixture
def s3_server(monkeypatch):
    """moto's server as the local stack runs it, and an S3 client on it."""
    import boto3
    from moto.server import ThreadedMotoServer

    from sdcloud.local.moto_patches import s3_puts_take_any_content_type, s3_ranged_gets_read_their_range

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    s3_puts_take_any_content_type()
    s3_ranged_gets_read_their_range()
    s3_ranged_gets_read_their_range()  # idempotent
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    s3.create_bucket(Bucket="parts-test")
    yield s3
    server.stop()


def test_presigned_part_puts_with_urllibs_default_content_type_work_as_on_s3(s3_server):
    import os
    import urllib.request

    upload_id = s3_server.create_multipart_upload(Bucket="parts-test", Key="model.bin")["UploadId"]
    parts, data = [], [os.urandom(5 * 1024 * 1024), os.urandom(209_000)]  # every part but the last >= 5 MiB
    for number, chunk in enumerate(data, start=1):
        url = s3_server.generate_presigned_url("upload_part", ExpiresIn=60, Params={
            "Bucket": "parts-test", "Key": "model.bin", "UploadId": upload_id, "PartNumber": number})
        request = urllib.request.Request(url, data=chunk, method="PUT")  # application/x-www-form-urlencoded
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            parts.append({"PartNumber": number, "ETag": response.headers["ETag"]})

    s3_server.complete_multipart_upload(Bucket="parts-test", Key="model.bin", UploadId=upload_id,
                                        MultipartUpload={"Parts": parts})
    assert s3_server.get_object(Bucket="parts-test", Key="model.bin")["Body"].read() == b"".join(data)


def test_a_small_part_and_a_presigned_object_put_keep_their_bytes(s3_server):
    import urllib.request

    upload_id = s3_server.create_multipart_upload(Bucket="parts-test", Key="small")["UploadId"]
    url = s3_server.generate_presigned_url("upload_part", ExpiresIn=60, Params={
        "Bucket": "parts-test", "Key": "small", "UploadId": upload_id, "PartNumber": 1})
    with urllib.request.urlopen(urllib.request.Request(url, data=b"\xff" * 1024, method="PUT"), timeout=10) as r:
        etag = r.headers["ETag"]
    s3_server.complete_multipart_upload(Bucket="parts-test", Key="small", UploadId=upload_id,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    put_url = s3_server.generate_presigned_url("put_object", ExpiresIn=60,
                                               Params={"Bucket": "parts-test", "Key": "payload.json"})
    with urllib.request.urlopen(urllib.request.Request(put_url, data=b'{"a": 1}', method="PUT"), timeout=10):
        pass

    assert s3_server.get_object(Bucket="parts-test", Key="small")["Body"].read() == b"\xff" * 1024
    assert s3_server.get_object(Bucket="parts-test", Key="payload.json")["Body"].read() == b'{"a": 1}'


class _CountingBuffer:
    """A key's buffer that counts the bytes read from it."""

    def __init__(self, buffer):
        self.buffer, self.read_bytes = buffer, 0

    def read(self, size=-1):
        data = self.buffer.read(size)
        self.read_bytes += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self.buffer, name)


def test_a_ranged_get_reads_only_its_range_and_every_range_form_keeps_s3s_answer(s3_server):
    import os

    from botocore.exceptions import ClientError
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    data = os.urandom(8 * 1024 * 1024)
    s3_server.put_object(Bucket="parts-test", Key="big", Body=data)
    key = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_object("parts-test", "big")
    assert key.etag  # computed (one whole read) before counting
    key._value_buffer = counting = _CountingBuffer(key._value_buffer)

    def get(byte_range):
        return s3_server.get_object(Bucket="parts-test", Key="big", Range=byte_range)

    part = get("bytes=1048576-1049599")
    assert part["Body"].read() == data[1048576:1049600]
    assert part["ContentRange"] == f"bytes 1048576-1049599/{len(data)}"
    assert counting.read_bytes == 1024  # moto alone reads all 8 MiB for it

    assert get("bytes=8388000-")["Body"].read() == data[8388000:]
    assert get("bytes=0-99999999")["Body"].read() == data  # an end past the object's is its last byte
    assert get("bytes=-100")["Body"].read() == data[-100:]  # a suffix range: moto's own path
    assert get("bytes=0-9,20-29")["Body"].read() == data  # several ranges: S3 (and moto) send the whole object
    with pytest.raises(ClientError, match="InvalidRange"):
        get(f"bytes={len(data)}-")
    assert s3_server.get_object(Bucket="parts-test", Key="big")["Body"].read() == data
