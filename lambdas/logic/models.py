"""Model files: registered by name, uploaded straight to S3 with a presigned multipart upload.

Parts are at least 8 MiB (except the last) and at most 1,000 per upload (S3 allows 10,000): the part
size grows with the file so that the answer of `POST /models` stays small.
"""

from __future__ import annotations

import math
import uuid

from api_schema import s3_layout
from api_schema.model_types import MODEL_TYPES
from api_schema.resources import (
    CompleteModelRequest,
    CreateModelRequest,
    CreateModelResponse,
    Model,
    ModelList,
    Upload,
    UploadPart,
)
from lambdas.data import models as data
from lambdas.data import storage
from lambdas.data.dynamo import now_iso
from lambdas.data.pages import Page, StartKey, decode_token, encode_token
from lambdas.data.records import ModelRecord
from lambdas.errors import Forbidden, InvalidInput, NotFound
from lambdas.logic.caller import Caller

MIB = 1024 * 1024
MIN_PART_SIZE = 8 * MIB
MAX_PARTS = 1000


def part_size_for(size_bytes: int) -> int:
    return max(MIN_PART_SIZE, math.ceil(size_bytes / MAX_PARTS / MIB) * MIB)


def part_count(size_bytes: int, part_size: int) -> int:
    return max(1, math.ceil(size_bytes / part_size))


def to_model(record: ModelRecord) -> Model:
    return Model(id=record.id, name=record.name, type=record.type, filename=record.filename,
                 size_bytes=record.size_bytes, status=record.status, owner=record.owner, created_at=record.created_at)


def create_model(caller: Caller, request: CreateModelRequest) -> CreateModelResponse:
    model_id = uuid.uuid4().hex
    key = s3_layout.model_key(request.type, model_id, request.filename)
    part_size = part_size_for(request.size_bytes)
    upload_id = storage.start_multipart(key)
    record = ModelRecord(id=model_id, name=request.name, type=request.type, filename=request.filename,
                         size_bytes=request.size_bytes, status="uploading", owner=caller.name, created_at=now_iso(),
                         key=key, part_size=part_size, upload_id=upload_id)
    try:
        data.create_model(record)
    except Exception:
        storage.abort_multipart(key, upload_id)
        raise
    parts = [
        UploadPart(part_number=n, url=storage.presign_part(key, upload_id, n))
        for n in range(1, part_count(request.size_bytes, part_size) + 1)
    ]
    upload = Upload(upload_id=upload_id, part_size=part_size, parts=parts)
    return CreateModelResponse(model=to_model(record), upload=upload)


def _get(model_id: str) -> ModelRecord:
    record = data.get_model(model_id)
    if record is None:
        raise NotFound(f"model '{model_id}' not found", field="id")
    return record


def _check_parts(record: ModelRecord, upload_id: str, request: CompleteModelRequest) -> list[tuple[int, str]]:
    """The parts to complete with; InvalidInput (nothing changed) unless they add up to the registered size."""
    expected = part_count(record.size_bytes, record.part_size)
    numbers = [p.part_number for p in request.parts]
    if sorted(numbers) != list(range(1, expected + 1)):
        raise InvalidInput(f"parts must list each of the parts 1..{expected} exactly once", field="parts")
    sizes = storage.uploaded_parts(record.key, upload_id)
    missing = [n for n in numbers if n not in sizes]
    if missing:
        raise InvalidInput(f"part {missing[0]} has not been uploaded", field="parts")
    uploaded = sum(sizes[n] for n in numbers)
    if uploaded != record.size_bytes:
        registered = record.size_bytes
        raise InvalidInput(f"the parts hold {uploaded} bytes, the model was registered with {registered}", "size_bytes")
    return sorted((p.part_number, p.etag) for p in request.parts)


def complete_model(caller: Caller, model_id: str, request: CompleteModelRequest) -> Model:
    record = _get(model_id)
    if record.owner != caller.name:
        raise Forbidden("only the model's owner completes its upload")
    if record.status == "ready" or record.upload_id is None:
        return to_model(record)  # a repeated complete changes nothing
    try:
        parts = _check_parts(record, record.upload_id, request)
        storage.complete_multipart(record.key, record.upload_id, parts)
    except InvalidInput:
        current = _get(model_id)
        if current.status == "ready":  # a concurrent complete finished the upload first
            return to_model(current)
        raise
    stored = storage.object_size(record.key)
    if stored != record.size_bytes:
        storage.delete_keys([record.key])
        raise InvalidInput(f"S3 stored {stored} bytes, not {record.size_bytes}; upload again", field="size_bytes")
    return to_model(data.mark_ready(model_id) or _get(model_id))


def get_model(model_id: str) -> Model:
    return to_model(_get(model_id))


def list_models(model_type: str | None, limit: int, next_token: str | None) -> ModelList:
    """One type's models, or (no type) every type's in the order of MODEL_TYPES, newest first within a type."""
    scope = f"models:{model_type or '*'}"
    start = decode_token(scope, next_token, data.PAGE_KEY, *([] if model_type else [{"type"}]))
    types = [model_type] if model_type else list(MODEL_TYPES)
    if start and start["type"] not in types:
        raise InvalidInput("next_token is malformed", field="next_token")
    first = types.index(start["type"]) if start else 0
    start_key = start if start and len(start) > 1 else None
    records: list[ModelRecord] = []
    next_key: StartKey | None = None
    for position in range(first, len(types)):
        page: Page[ModelRecord] = data.list_models(types[position], limit - len(records), start_key)
        records.extend(page.items)
        start_key = None
        if page.next_key:
            next_key = page.next_key
            break
        if len(records) >= limit:
            next_key = {"type": types[position + 1]} if position + 1 < len(types) else None
            break
    return ModelList(models=[to_model(r) for r in records], next_token=encode_token(scope, next_key))


def delete_model(caller: Caller, model_id: str) -> None:
    record = _get(model_id)
    if record.owner != caller.name and not caller.is_admin:
        raise Forbidden("only the model's owner or an admin deletes it")
    if record.upload_id:
        storage.abort_multipart(record.key, record.upload_id)
    storage.delete_keys([record.key])
    data.delete_model(model_id, record.name)
