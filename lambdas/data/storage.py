"""The bucket: multipart model uploads, job inputs and outputs, presigned URLs."""

from __future__ import annotations

import json
from typing import Any

from lambdas.data.aws import client, error_code, error_message
from lambdas.errors import InvalidInput
from lambdas.settings import settings


def s3() -> Any:
    return client("s3")


def bucket() -> str:
    return settings().bucket


def s3_uri(key: str) -> str:
    return f"s3://{bucket()}/{key}"


def key_of(uri: str) -> str | None:
    """The key of an s3:// URI in our bucket, None for anything else."""
    prefix = f"s3://{bucket()}/"
    return uri[len(prefix):] if uri.startswith(prefix) else None


def _presign(method: str, expires: int | None = None, **params: Any) -> str:
    return str(
        s3().generate_presigned_url(
            method, Params={"Bucket": bucket(), **params}, ExpiresIn=expires or settings().presign_expiry_seconds
        )
    )


def presign_get(key: str) -> str:
    return _presign("get_object", Key=key)


def presign_put(key: str) -> str:
    return _presign("put_object", Key=key)


# --- multipart uploads -------------------------------------------------------------------------
def start_multipart(key: str) -> str:
    return str(s3().create_multipart_upload(Bucket=bucket(), Key=key)["UploadId"])


def presign_part(key: str, upload_id: str, part_number: int) -> str:
    return _presign("upload_part", Key=key, UploadId=upload_id, PartNumber=part_number)


def uploaded_parts(key: str, upload_id: str) -> dict[int, int]:
    """Part number -> size of the parts S3 holds for an upload; InvalidInput when S3 refuses (e.g. NoSuchUpload)."""
    sizes: dict[int, int] = {}
    try:
        for page in s3().get_paginator("list_parts").paginate(Bucket=bucket(), Key=key, UploadId=upload_id):
            sizes.update({part["PartNumber"]: part["Size"] for part in page.get("Parts", [])})
    except Exception as exc:
        if error_code(exc) is None:
            raise
        raise InvalidInput(f"the upload cannot be completed: {error_message(exc)}", field="parts") from exc
    return sizes


def complete_multipart(key: str, upload_id: str, parts: list[tuple[int, str]]) -> None:
    """CompleteMultipartUpload; InvalidInput when S3 refuses the parts."""
    try:
        s3().complete_multipart_upload(
            Bucket=bucket(),
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]},
        )
    except Exception as exc:
        if error_code(exc) is None:
            raise
        raise InvalidInput(f"S3 refused the parts: {error_message(exc)}", field="parts") from exc


def abort_multipart(key: str, upload_id: str) -> None:
    try:
        s3().abort_multipart_upload(Bucket=bucket(), Key=key, UploadId=upload_id)
    except Exception as exc:
        if error_code(exc) not in ("NoSuchUpload", "404"):
            raise


# --- objects -----------------------------------------------------------------------------------
def object_size(key: str) -> int | None:
    try:
        return int(s3().head_object(Bucket=bucket(), Key=key)["ContentLength"])
    except Exception as exc:
        if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def put_json(key: str, value: Any) -> None:
    s3().put_object(Bucket=bucket(), Key=key, Body=json.dumps(value).encode(), ContentType="application/json")


def get_bytes(key: str) -> bytes:
    return bytes(s3().get_object(Bucket=bucket(), Key=key)["Body"].read())


def delete_keys(keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        if chunk:
            s3().delete_objects(Bucket=bucket(), Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True})


def keys_under(prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3().get_paginator("list_objects_v2").paginate(Bucket=bucket(), Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return keys
