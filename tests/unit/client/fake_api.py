"""An in-memory stand-in of the sd-cloud REST API (DESIGN.md section 3) on a real local HTTP server.

It lets the client and panel tests run over real HTTP before and without the local stack: same routes,
status codes and error bodies (`{message, field}`), presigned-style part and image URLs served by the
same server. Jobs finish `finish_after` seconds after submission: succeeded with one PNG per image
(infotext embedded, as the container writes it), or failed when the prompt contains "FAIL"; meanwhile they
report their steps as running `progress`, and can be cancelled.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ADMIN_KEY = "admin-key-0123456789"


class Refused(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class FakeApi:
    finish_after: float = 0.3
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    parts: dict[str, dict[int, bytes]] = field(default_factory=dict)
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    payloads: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    refuse_part_puts: int = 0  # the next N part PUTs fail with 403 (an expired URL)
    drop_connection_after_parts: int | None = None  # stop accepting parts after this many (simulated crash)
    complete_delay_s: float = 0.0  # S3 assembling a large upload (moto took over 30 s for 6.9 GB)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.keys[ADMIN_KEY] = {"name": "admin", "role": "admin", "created_at": _now()}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- helpers for tests ------------------------------------------------------------------------
    def add_endpoint(self, name: str, status: str = "InService") -> None:
        self.endpoints[name] = {
            "name": name,
            "instance_type": "ml.g5.xlarge",
            "min_instances": 0,
            "max_instances": 1,
            "status": status,
            "failure_reason": None,
            "created_at": _now(),
            "updated_at": _now(),
        }

    def add_model(self, name: str, type: str, status: str = "ready") -> dict[str, Any]:
        model: dict[str, Any] = {
            "id": uuid.uuid4().hex,
            "name": name,
            "type": type,
            "filename": f"{name}.safetensors",
            "size_bytes": 1,
            "status": status,
            "owner": "admin",
            "created_at": _now(),
        }
        self.models[model["id"]] = model
        return model

    def add_user(self, name: str, role: str = "user") -> str:
        key = uuid.uuid4().hex
        self.keys[key] = {"name": name, "role": role, "created_at": _now()}
        return key

    # --- routing ---------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: Any, body: bytes) -> tuple[int, Any]:
        self.requests.append((method, path))
        if path.startswith("/s3/"):
            return self._storage(method, path, body)
        if method == "GET" and path == "/ping":
            return 200, {"status": "ok", "version": "fake"}
        user = self.keys.get(headers.get("x-api-key") or "")
        if headers.get("x-api-key") is None:
            return 401, {"message": "Unauthorized"}
        if user is None:
            return 403, {"message": "User is not authorized to access this resource"}
        data = json.loads(body) if body else {}
        with self.lock:
            self._advance_jobs()
            for pattern, route_method, route in self._routes():
                match = re.fullmatch(pattern, path)
                if match and method == route_method:
                    return route(user, data, query, *match.groups())
        return 404, {"message": f"no route {method} {path}"}

    def _routes(self) -> list[tuple[str, str, Any]]:
        return [
            (
                "/users/me",
                "GET",
                lambda u, d, q: (200, {"user": u}),
            ),
            ("/users", "POST", self._create_user),
            ("/users", "GET", self._list_users),
            ("/users/([^/]+)", "DELETE", self._revoke_user),
            ("/models", "POST", self._create_model),
            ("/models", "GET", self._list_models),
            ("/models/([^/]+)/complete", "POST", self._complete_model),
            ("/models/([^/]+)", "GET", lambda u, d, q, i: (200, {"model": self._model(i)})),
            (
                "/models/([^/]+)",
                "DELETE",
                lambda u, d, q, i: (self.models.pop(self._model(i)["id"]), (204, None))[1],
            ),
            ("/endpoints", "POST", self._create_endpoint),
            (
                "/endpoints",
                "GET",
                lambda u, d, q: (
                    200,
                    {"endpoints": [e for e in self.endpoints.values() if q.get("status") in (None, e["status"])]},
                ),
            ),
            ("/endpoints/([^/]+)", "GET", lambda u, d, q, n: (200, {"endpoint": self._endpoint(n)})),
            (
                "/endpoints/([^/]+)",
                "DELETE",
                lambda u, d, q, n: (self.endpoints.pop(self._endpoint(n)["name"]), (202, None))[1],
            ),
            ("/inferences", "POST", self._create_inference),
            ("/inferences", "GET", self._list_inferences),
            ("/inferences/([^/]+)/start", "POST", self._start_inference),
            ("/inferences/([^/]+)/cancel", "POST", self._cancel_inference),
            (
                "/inferences/([^/]+)",
                "GET",
                lambda u, d, q, i: (200, {"inference": self._public(self._job(u, i))}),
            ),
            (
                "/inferences/([^/]+)",
                "DELETE",
                lambda u, d, q, i: (self.jobs.pop(self._job(u, i)["id"]), (204, None))[1],
            ),
        ]

    def _admin(self, user: dict[str, Any]) -> None:
        if user["role"] != "admin":
            raise Refused(403, "this route needs an admin key")

    def _list_users(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        self._admin(user)
        return 200, {"users": list(self.keys.values())}

    def _create_user(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]) -> tuple[int, Any]:
        self._admin(user)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", str(data.get("name", ""))):
            raise Refused(400, "name: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", "name")
        key = self.add_user(data["name"], data.get("role", "user"))
        return 201, {"user": self.keys[key], "api_key": key}

    def _revoke_user(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str], name: str):
        self._admin(user)
        for key, value in list(self.keys.items()):
            if value["name"] == name:
                del self.keys[key]
                return 204, None
        raise Refused(404, f"user '{name}' not found", "name")

    def _create_model(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]):
        if any(m["name"] == data.get("name") for m in self.models.values()):
            raise Refused(409, f"a model named '{data['name']}' exists", "name")
        size = int(data.get("size_bytes") or 0)
        if size <= 0:
            raise Refused(400, "size_bytes: must be greater than 0", "size_bytes")
        model = {
            "id": uuid.uuid4().hex,
            "name": data["name"],
            "type": data["type"],
            "filename": data["filename"],
            "size_bytes": size,
            "status": "uploading",
            "owner": user["name"],
            "created_at": _now(),
        }
        self.models[model["id"]] = model
        self.parts[model["id"]] = {}
        part_size = 5 * 1024 * 1024 if size > 5 * 1024 * 1024 else max(1, (size + 2) // 3)
        count = -(-size // part_size)
        parts = [
            {"part_number": n, "url": f"{self.url}/s3/parts/{model['id']}/{n}?X-Amz-Signature=x"}
            for n in range(1, count + 1)
        ]
        return 201, {
            "model": model,
            "upload": {"upload_id": uuid.uuid4().hex, "part_size": part_size, "parts": parts},
        }

    def _complete_model(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str], model_id: str):
        model = self._model(model_id)
        time.sleep(self.complete_delay_s)
        stored = self.parts.get(model_id, {})
        for part in data.get("parts", []):
            blob = stored.get(part["part_number"])
            if blob is None or part["etag"] != f'"{hashlib.md5(blob).hexdigest()}"':
                raise Refused(400, f"parts: part {part['part_number']} was not uploaded or its etag is wrong", "parts")
        if sum(len(b) for b in stored.values()) != model["size_bytes"]:
            raise Refused(400, "parts: the uploaded parts do not add up to size_bytes", "parts")
        model["status"] = "ready"
        self.blobs[f"models/{model_id}"] = b"".join(stored[n] for n in sorted(stored))
        return 200, {"model": model}

    def _list_models(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]):
        models = [m for m in self.models.values() if query.get("type") in (None, m["type"])]
        return 200, _page(models, "models", query)

    def _create_endpoint(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]):
        self._admin(user)
        self.add_endpoint(data["name"], "Creating")
        return 202, {"endpoint": self.endpoints[data["name"]]}

    def _create_inference(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]):
        endpoint = self.endpoints.get(data.get("endpoint_name", ""))
        if endpoint is None:
            raise Refused(404, f"endpoint '{data.get('endpoint_name')}' not found", "endpoint_name")
        if endpoint["status"] != "InService":
            raise Refused(409, f"endpoint '{endpoint['name']}' is {endpoint['status']}, not InService", "endpoint_name")
        if data.get("task") not in ("txt2img", "img2img"):
            raise Refused(400, "task: must be txt2img or img2img", "task")
        job = {
            "id": uuid.uuid4().hex,
            "task": data["task"],
            "status": "created",
            "endpoint_name": endpoint["name"],
            "created_at": _now(),
            "started_at": None,
            "completed_at": None,
            "images": [],
            "info": None,
            "parameters": None,
            "seeds": None,
            "error": None,
            "owner": user["name"],
            "t0": None,
        }
        self.jobs[job["id"]] = job
        if data.get("payload_upload"):
            return 201, {
                "inference": self._public(job),
                "payload_upload_url": f"{self.url}/s3/inputs/{job['id']}",
            }
        self._check_payload(data.get("payload"))
        self.payloads[job["id"]] = data["payload"]
        self._start(job)
        return 202, {"inference": self._public(job)}

    def _start_inference(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str], job_id: str):
        job = self._job(user, job_id)
        blob = self.blobs.get(f"inputs/{job_id}")
        if blob is None:
            raise Refused(400, "payload: nothing was uploaded to payload_upload_url", "payload")
        self.payloads[job_id] = json.loads(blob)
        self._start(job)
        return 202, {"inference": self._public(job)}

    def _check_payload(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            raise Refused(400, "payload: required", "payload")
        names = {m["name"] for m in self.models.values() if m["status"] == "ready"}
        checkpoint = (payload.get("override_settings") or {}).get("sd_model_checkpoint")
        if checkpoint and checkpoint not in names:
            raise Refused(
                400,
                f"override_settings.sd_model_checkpoint: unknown model '{checkpoint}'",
                "override_settings.sd_model_checkpoint",
            )
        units = ((payload.get("alwayson_scripts") or {}).get("controlnet") or {}).get("args") or []
        for index, unit in enumerate(units):
            if unit.get("enabled") and not unit.get("image"):
                raise Refused(
                    400,
                    f"alwayson_scripts.controlnet.args.{index}: an enabled unit needs an image",
                    f"alwayson_scripts.controlnet.args.{index}.image",
                )

    def _start(self, job: dict[str, Any]) -> None:
        job.update(status="in_progress", started_at=_now(), t0=time.monotonic())

    def _advance_jobs(self) -> None:
        for job in self.jobs.values():
            if job["status"] == "in_progress" and time.monotonic() - job["t0"] >= self.finish_after:
                self._finish(job)

    def _finish(self, job: dict[str, Any]) -> None:
        payload = self.payloads[job["id"]]
        if "FAIL" in payload.get("prompt", ""):
            job.update(status="failed", completed_at=_now(), error="InvalidJob: the container refused the prompt")
            return
        seed = int(payload.get("seed", -1))
        seed = seed if seed >= 0 else 1234
        count = int(payload.get("batch_size", 1)) * int(payload.get("n_iter", 1))
        checkpoint = (payload.get("override_settings") or {}).get("sd_model_checkpoint", "tiny")
        info = (
            f"{payload.get('prompt', '')}\nNegative prompt: {payload.get('negative_prompt', '')}\n"
            f"Steps: {payload.get('steps', 20)}, Sampler: {payload.get('sampler_name', 'Euler a')}, "
            f"CFG scale: {payload.get('cfg_scale', 7)}, Seed: {seed}, "
            f"Size: {payload.get('width', 512)}x{payload.get('height', 512)}, Model: {checkpoint}"
        )
        images = []
        for index in range(count):
            key = f"outputs/{job['id']}/image_{index}.png"
            self.blobs[key] = _png(int(payload.get("width", 64)), int(payload.get("height", 64)), seed + index, info)
            images.append({"url": f"{self.url}/s3/{key}", "key": key})
        job.update(
            status="succeeded",
            completed_at=_now(),
            images=images,
            info=info,
            parameters=payload,
            seeds=[seed + i for i in range(count)],
        )

    def _cancel_inference(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str], job_id: str):
        job = self._job(user, job_id)
        if job["status"] not in ("created", "in_progress"):
            raise Refused(409, f"inference '{job_id}' has already ended: it is {job['status']}", "id")
        job.update(status="cancelled", completed_at=_now())
        return 202, {"inference": self._public(job)}

    def _list_inferences(self, user: dict[str, Any], data: dict[str, Any], query: dict[str, str]):
        jobs = sorted(
            (
                j
                for j in self.jobs.values()
                if j["owner"] == user["name"]
                and query.get("status") in (None, j["status"])
                and query.get("task") in (None, j["task"])
            ),
            key=lambda j: j["created_at"],
            reverse=True,
        )
        return 200, _page([self._public(j) for j in jobs], "inferences", query)

    def _model(self, model_id: str) -> dict[str, Any]:
        if model_id not in self.models:
            raise Refused(404, f"model '{model_id}' not found", "id")
        return self.models[model_id]

    def _endpoint(self, name: str) -> dict[str, Any]:
        if name not in self.endpoints:
            raise Refused(404, f"endpoint '{name}' not found", "name")
        return self.endpoints[name]

    def _job(self, user: dict[str, Any], job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None or job["owner"] != user["name"]:
            raise Refused(404, f"inference '{job_id}' not found", "id")
        return job

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        public = {k: v for k, v in job.items() if k not in ("owner", "t0")}
        if job["status"] == "in_progress":  # running from the start, its steps spread over finish_after
            steps = int(self.payloads[job["id"]].get("steps", 20))
            fraction = min(0.99, (time.monotonic() - job["t0"]) / self.finish_after)
            step = int(fraction * steps)
            public["progress"] = {"state": "running", "step": step, "steps": steps, "fraction": step / steps,
                                  "phase": "sampling", "eta_s": self.finish_after * (1 - fraction),
                                  "queue_position": None, "preview_url": None}
        return public

    def _storage(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        key = path.removeprefix("/s3/")
        if method == "PUT" and key.startswith("parts/"):
            _, model_id, number = key.split("/")
            if self.refuse_part_puts:
                self.refuse_part_puts -= 1
                return 403, {"message": "Request has expired"}
            if self.drop_connection_after_parts is not None:
                if self.drop_connection_after_parts <= 0:
                    return 503, {"message": "storage unavailable"}
                self.drop_connection_after_parts -= 1
            if model_id not in self.parts:
                return 404, {"message": "NoSuchUpload"}
            self.parts[model_id][int(number)] = body
            return 200, ("etag", f'"{hashlib.md5(body).hexdigest()}"')
        if method == "PUT":
            self.blobs[key] = body
            return 200, None
        if key in self.blobs:
            return 200, ("bytes", self.blobs[key])
        return 404, {"message": "NoSuchKey"}


def _page(items: list[dict[str, Any]], name: str, query: dict[str, str]) -> dict[str, Any]:
    start = int(query.get("next_token") or 0)
    limit = int(query.get("limit") or 50)
    more = start + limit < len(items)
    return {name: items[start : start + limit], "next_token": str(start + limit) if more else None}


def _png(width: int, height: int, seed: int, info: str) -> bytes:
    from PIL import Image, PngImagePlugin

    meta = PngImagePlugin.PngInfo()
    meta.add_text("parameters", info)
    image = Image.new("RGB", (min(width, 128), min(height, 128)), ((seed * 37) % 256, (seed * 91) % 256, 128))
    out = io.BytesIO()
    image.save(out, format="PNG", pnginfo=meta)
    return out.getvalue()


def _handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                status, out = api.handle(self.command, url.path, query, self.headers, body)
            except Refused as exc:
                status, out = exc.status, {"message": exc.message, "field": exc.field}
            extra = {}
            if isinstance(out, tuple) and out[0] == "etag":
                extra["ETag"], data, ctype = out[1], b"", "text/plain"
            elif isinstance(out, tuple):
                data, ctype = out[1], "image/png"
            else:
                data, ctype = (json.dumps(out).encode() if out is not None else b""), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return Handler
