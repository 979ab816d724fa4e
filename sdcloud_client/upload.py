"""Resumable multipart model upload.

`POST /models` registers the model and returns one presigned URL per part; each part is PUT straight
to S3 (streamed, with a bytes-sent progress callback), then `POST /models/{id}/complete` lists the ETags.

Resuming: after every finished part a small JSON state file records the model id, the presigned parts
and the ETags so far. It lives in `state_dir` (default `$XDG_CACHE_HOME/sdcloud/uploads`, i.e.
`~/.cache/sdcloud/uploads`), named by a hash of (API URL, absolute path, model name, type). A re-run for
the same file and name, while the file's size and mtime are unchanged and the model is still `uploading`,
sends only the missing parts. If the model was deleted meanwhile, or its part URLs have expired, the
stale registration is dropped and the upload starts over. The state file is removed once complete.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sdcloud_client.errors import ApiError
from sdcloud_client.transport import JsonDict, Progress, put_presigned

if TYPE_CHECKING:
    from sdcloud_client.client import SdCloudClient

CHUNK = 1024 * 1024


def default_state_dir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "sdcloud" / "uploads"


def upload_model(
    client: SdCloudClient,
    path: Path,
    name: str,
    type: str,
    progress: Progress | None = None,
    state_dir: Path | None = None,
) -> JsonDict:
    path = path.resolve()
    stat = path.stat()
    state_file = _state_path(state_dir or default_state_dir(), client.api_url, path, name, type)
    state = _load_state(state_file, stat)
    if state is not None:
        try:
            model = client.get_model(state["model"]["id"])
        except ApiError as exc:
            if exc.status != 404:
                raise
            state = None
        else:
            if model["status"] == "ready":
                state_file.unlink(missing_ok=True)
                return model
    if state is None:
        state = _register(client, path, name, type, stat)
        _save_state(state_file, state)
    try:
        return _send(client, path, state, state_file, progress)
    except ApiError as exc:
        if exc.status != 403 or not state["etags"]:
            raise
        # Part URLs expired between runs: drop the stale registration and start over, once.
        client.delete_model(state["model"]["id"])
        state = _register(client, path, name, type, stat)
        _save_state(state_file, state)
        return _send(client, path, state, state_file, progress)


def _register(
    client: SdCloudClient, path: Path, name: str, type: str, stat: os.stat_result
) -> dict[str, Any]:
    created = client.create_model(name, type, path.name, stat.st_size)
    return {
        "model": created["model"],
        "upload": created["upload"],
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "etags": {},
    }


def _send(
    client: SdCloudClient, path: Path, state: dict[str, Any], state_file: Path, progress: Progress | None
) -> JsonDict:
    total = state["size"]
    part_size = state["upload"]["part_size"]
    etags: dict[str, str] = state["etags"]
    sent = sum(_part_length(int(n), part_size, total) for n in etags)
    if progress:
        progress(sent, total)
    with path.open("rb") as handle:
        for part in sorted(state["upload"]["parts"], key=lambda p: p["part_number"]):
            number = part["part_number"]
            if str(number) in etags:
                continue
            length = _part_length(number, part_size, total)
            body = _PartReader(
                handle,
                (number - 1) * part_size,
                length,
                lambda n, base=sent: progress(base + n, total) if progress else None,
            )
            response = put_presigned(client.http, part["url"], body, client.timeout)
            etags[str(number)] = response.headers.get("ETag", "")
            sent += length
            _save_state(state_file, state)
    parts = [
        {"part_number": int(n), "etag": tag} for n, tag in sorted(etags.items(), key=lambda i: int(i[0]))
    ]
    model = client.complete_model(state["model"]["id"], parts)
    state_file.unlink(missing_ok=True)
    return model


def _part_length(number: int, part_size: int, total: int) -> int:
    return max(0, min(part_size, total - (number - 1) * part_size))


class _PartReader:
    """A file-like view of one part: requests streams it with a Content-Length (S3 refuses chunked PUTs)."""

    def __init__(self, handle: BinaryIO, offset: int, length: int, on_read: Any) -> None:
        self.handle, self.offset, self.length, self.on_read = handle, offset, length, on_read
        self.done = 0
        handle.seek(offset)

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        if self.done == 0:
            self.handle.seek(self.offset)  # a retried send starts the part again
        left = self.length - self.done
        data = self.handle.read(left if size is None or size < 0 else min(size, left, CHUNK))
        self.done += len(data)
        self.on_read(self.done)
        return data


def _state_path(state_dir: Path, api_url: str, path: Path, name: str, type: str) -> Path:
    digest = hashlib.sha256(json.dumps([api_url, str(path), name, type]).encode()).hexdigest()[:32]
    return state_dir / f"{digest}.json"


def _load_state(state_file: Path, stat: os.stat_result) -> dict[str, Any] | None:
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        return None
    if state.get("size") != stat.st_size or state.get("mtime_ns") != stat.st_mtime_ns:
        return None  # the file changed: its old parts are worthless
    return state


def _save_state(state_file: Path, state: dict[str, Any]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_file)
