"""`SdCloudClient`: one method per route of the REST contract (DESIGN.md section 3), plain dicts out."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

from sdcloud_client.errors import ApiError
from sdcloud_client.transport import JsonDict, Progress, error_from, fits_one_invocation, poll, put_presigned

FINAL_JOB_STATUSES = ("succeeded", "failed", "cancelled")
FINAL_ENDPOINT_STATUSES = ("InService", "Failed")
# completing a multipart upload has S3 assemble the parts: minutes for a large model (the local stack's moto took
# over 30 s for a 6.9 GB SDXL checkpoint), so that one call waits longer than the others
COMPLETE_TIMEOUT_S = 600.0


class SdCloudClient:
    def __init__(self, api_url: str, api_key: str = "", timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.http = requests.Session()

    # --- plumbing ------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        body: JsonDict | None = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call the API; return the decoded JSON body (None when empty) or raise ApiError."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        headers = {"x-api-key": self.api_key} if self.api_key else {}
        try:
            response = self.http.request(
                method, self.api_url + path, json=body, params=query, headers=headers, timeout=timeout or self.timeout
            )
        except requests.RequestException as exc:
            raise ApiError(0, f"cannot reach {self.api_url}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(
                response.status_code, f"the API answered with non-JSON: {response.text[:200]}"
            ) from exc

    def _pages(self, path: str, key: str, params: dict[str, Any]) -> Iterator[JsonDict]:
        token = None
        while True:
            page = self.request("GET", path, params={**params, "next_token": token})
            yield from page[key]
            token = page.get("next_token")
            if not token:
                return

    # --- ping and users ------------------------------------------------------------------------
    def ping(self) -> JsonDict:
        return self.request("GET", "/ping")

    def whoami(self) -> JsonDict:
        """The user the API key belongs to (`GET /users/me`)."""
        return self.request("GET", "/users/me")["user"]

    def create_user(self, name: str, role: str = "user") -> JsonDict:
        """Returns `{user, api_key}`; the key is shown only this once."""
        return self.request("POST", "/users", {"name": name, "role": role})

    def list_users(self) -> list[JsonDict]:
        return list(self._pages("/users", "users", {}))

    def revoke_user(self, name: str) -> None:
        self.request("DELETE", f"/users/{name}")

    def rotate_webhook_secret(self) -> str:
        """Create or replace the caller's webhook signing secret (`whsec_...`); it is shown only this once."""
        return str(self.request("POST", "/users/me/webhook-secret")["secret"])

    # --- models --------------------------------------------------------------------------------
    def create_model(self, name: str, type: str, filename: str, size_bytes: int) -> JsonDict:
        """Returns `{model, upload: {upload_id, part_size, parts: [{part_number, url}]}}`."""
        return self.request(
            "POST", "/models", {"name": name, "type": type, "filename": filename, "size_bytes": size_bytes}
        )

    def complete_model(self, model_id: str, parts: list[JsonDict]) -> JsonDict:
        path = f"/models/{model_id}/complete"
        return self.request("POST", path, {"parts": parts}, timeout=max(self.timeout, COMPLETE_TIMEOUT_S))["model"]

    def list_models(
        self, type: str | None = None, limit: int | None = None, next_token: str | None = None
    ) -> JsonDict:
        """One page: `{models, next_token}`."""
        return self.request("GET", "/models", params={"type": type, "limit": limit, "next_token": next_token})

    def all_models(self, type: str | None = None) -> list[JsonDict]:
        return list(self._pages("/models", "models", {"type": type}))

    def get_model(self, model_id: str) -> JsonDict:
        return self.request("GET", f"/models/{model_id}")["model"]

    def delete_model(self, model_id: str) -> None:
        self.request("DELETE", f"/models/{model_id}")

    def upload_model(
        self,
        path: str | Path,
        name: str,
        type: str,
        progress: Progress | None = None,
        state_dir: Path | None = None,
    ) -> JsonDict:
        """Upload a local file as a model, resuming an interrupted upload of the same file; see upload.py."""
        from sdcloud_client.upload import upload_model

        return upload_model(self, Path(path), name, type, progress=progress, state_dir=state_dir)

    # --- endpoints -----------------------------------------------------------------------------
    def create_endpoint(
        self, name: str, instance_type: str = "ml.g5.xlarge", min_instances: int = 0, max_instances: int = 1
    ) -> JsonDict:
        return self.request(
            "POST",
            "/endpoints",
            {
                "name": name,
                "instance_type": instance_type,
                "min_instances": min_instances,
                "max_instances": max_instances,
            },
        )["endpoint"]

    def list_endpoints(self, status: str | None = None) -> list[JsonDict]:
        return list(self._pages("/endpoints", "endpoints", {"status": status}))

    def get_endpoint(self, name: str) -> JsonDict:
        return self.request("GET", f"/endpoints/{name}")["endpoint"]

    def delete_endpoint(self, name: str) -> None:
        self.request("DELETE", f"/endpoints/{name}")

    def wait_endpoint(
        self,
        name: str,
        poll_interval: float = 5.0,
        timeout: float = 1800.0,
        on_update: Callable[[JsonDict], None] | None = None,
    ) -> JsonDict:
        """Poll until the endpoint is InService or Failed (returned either way); TimeoutError otherwise."""
        return poll(
            lambda: self.get_endpoint(name),
            lambda e: e["status"] in FINAL_ENDPOINT_STATUSES,
            poll_interval,
            timeout,
            on_update,
            f"endpoint {name}",
        )

    # --- inferences ----------------------------------------------------------------------------
    def create_inference(
        self,
        endpoint_name: str,
        task: str,
        payload: JsonDict,
        payload_upload: bool | None = None,
        webhook_url: str | None = None,
    ) -> JsonDict:
        """Submit a job; returns the inference (status in_progress).

        With `payload_upload` (by default: when the request would not fit in one Lambda invocation) the
        payload goes to its presigned URL first and the job is started afterwards. With `webhook_url`, the job's
        JSON is POSTed there when it ends, signed with the caller's webhook secret.
        """
        job: JsonDict = {"endpoint_name": endpoint_name, "task": task}
        if webhook_url:
            job["webhook_url"] = webhook_url
        inline = {**job, "payload": payload}
        if payload_upload is None:
            payload_upload = not fits_one_invocation(inline)
        if not payload_upload:
            return self.request("POST", "/inferences", inline)["inference"]
        created = self.request("POST", "/inferences", {**job, "payload_upload": True})
        put_presigned(
            self.http,
            created["payload_upload_url"],
            json.dumps(payload).encode(),
            self.timeout,
            content_type="application/json",
        )
        return self.start_inference(created["inference"]["id"])

    def start_inference(self, inference_id: str) -> JsonDict:
        return self.request("POST", f"/inferences/{inference_id}/start")["inference"]

    def list_inferences(
        self,
        limit: int | None = None,
        next_token: str | None = None,
        status: str | None = None,
        task: str | None = None,
    ) -> JsonDict:
        """One page, newest first: `{inferences, next_token}`."""
        return self.request(
            "GET",
            "/inferences",
            params={"limit": limit, "next_token": next_token, "status": status, "task": task},
        )

    def get_inference(self, inference_id: str) -> JsonDict:
        return self.request("GET", f"/inferences/{inference_id}")["inference"]

    def cancel_inference(self, inference_id: str) -> JsonDict:
        """End a created or in_progress job `cancelled` (ApiError 409 when it has ended already)."""
        return self.request("POST", f"/inferences/{inference_id}/cancel")["inference"]

    def delete_inference(self, inference_id: str) -> None:
        self.request("DELETE", f"/inferences/{inference_id}")

    def wait_inference(
        self,
        inference_id: str,
        poll_interval: float = 2.0,
        timeout: float = 900.0,
        on_update: Callable[[JsonDict], None] | None = None,
        cancel_when: Callable[[], bool] | None = None,
    ) -> JsonDict:
        """Poll until the job has ended: succeeded, failed or cancelled (returned either way); TimeoutError
        otherwise.

        `on_update(inference)` is called whenever the job's status or progress changes, the first poll included.
        `cancel_when()` is asked at each poll: once it says yes the job is cancelled, and the wait goes on until
        it has ended (cancelled, or whatever it ended as meanwhile).
        """
        cancelled: list[bool] = []

        def cancel_if_asked(job: JsonDict) -> None:
            if cancel_when is None or cancelled or not cancel_when():
                return
            cancelled.append(True)
            try:
                self.cancel_inference(inference_id)
            except ApiError as exc:
                if exc.status != 409:  # 409: it has ended meanwhile, which the next poll shows
                    raise

        return poll(
            lambda: self.get_inference(inference_id),
            lambda j: j["status"] in FINAL_JOB_STATUSES,
            poll_interval,
            timeout,
            on_update,
            f"inference {inference_id}",
            cancel_if_asked,
        )

    def fetch_image(self, image: JsonDict) -> bytes:
        """The PNG bytes of one `images[]` entry of an inference (a presigned S3 URL)."""
        try:
            response = self.http.get(image["url"], timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiError(0, f"cannot download {image['url']}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError(response.status_code, f"image download failed: {response.text[:200]}")
        return response.content

    def download_images(self, inference: JsonDict, directory: str | Path) -> list[Path]:
        """Write the job's PNGs as `{job id}-{n}.png` into `directory` (created if needed)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for index, image in enumerate(inference.get("images") or []):
            path = out / f"{inference['id']}-{index}.png"
            path.write_bytes(self.fetch_image(image))
            paths.append(path)
        return paths
