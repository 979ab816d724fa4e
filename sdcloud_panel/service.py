"""What the panel's buttons do, without gradio: every call goes through the client core."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sdcloud_client import ApiError, SdCloudClient
from sdcloud_client.client import FINAL_JOB_STATUSES
from sdcloud_client.progress import progress_text
from sdcloud_panel.labels import endpoint_label, endpoint_name, endpoint_status, job_id, job_label
from sdcloud_panel.payload import PanelError, build_payload
from sdcloud_panel.settings import SettingsStore

T = TypeVar("T")
GENERATE = "Generate"
GENERATE_ON_CLOUD = "Generate on Cloud"
NO_VAE_CHOICES = ["Automatic", "None"]


@dataclass
class JobOutput:
    job: dict[str, Any]
    images: list[Any] = field(default_factory=list)  # PIL images
    prompt: str = ""
    info: str = ""

    @property
    def finished(self) -> bool:
        return self.job["status"] in FINAL_JOB_STATUSES

    @property
    def message(self) -> str:
        label = job_label(self.job)
        if self.job["status"] == "failed":
            return f"Job failed: {self.job.get('error') or 'no reason given'} ({label})"
        if self.job["status"] == "cancelled":
            return f"Job cancelled ({label})"
        if self.job.get("progress"):
            return f"{label}: {progress_text(self.job)}"
        return label


class PanelService:
    def __init__(self, store: SettingsStore, timeout: float = 30.0) -> None:
        self.store = store
        self.timeout = timeout

    def client(self) -> SdCloudClient:
        settings = self.store.load()
        if not settings.api_url:
            raise PanelError("No API URL: set it under Cloud settings")
        return SdCloudClient(settings.api_url, settings.api_key, timeout=self.timeout)

    # --- endpoints -------------------------------------------------------------------------------
    def endpoint_labels(self) -> list[str]:
        return [endpoint_label(e) for e in _call(lambda: self.client().list_endpoints())]

    @staticmethod
    def button_label(label: str | None) -> str:
        return GENERATE_ON_CLOUD if endpoint_status(label) == "InService" else GENERATE

    def require_endpoint(self, label: str | None) -> str:
        """The endpoint's name, when it is InService right now; PanelError otherwise."""
        name = endpoint_name(label)
        if not name:
            raise PanelError("No endpoint selected: choose an InService endpoint in Select Cloud SageMaker Endpoint")
        endpoint = _call(lambda: self.client().get_endpoint(name))
        if endpoint["status"] != "InService":
            raise PanelError(f"Endpoint {name} is {endpoint['status']}, not InService: nothing was submitted")
        return name

    # --- models ----------------------------------------------------------------------------------
    def model_names(self, type: str) -> list[str]:
        models = _call(lambda: self.client().all_models(type))
        return sorted(m["name"] for m in models if m["status"] == "ready")

    def upload_model(self, path: str, name: str, type: str, progress: Callable[[int, int], None]) -> str:
        file = Path(path.strip()).expanduser()
        if not file.is_file():
            raise PanelError(f"No such file: {file}")
        model = _call(lambda: self.client().upload_model(file, name.strip() or file.stem, type, progress=progress))
        return f"Uploaded {model['name']} ({model['type']}, {model['size_bytes']} bytes): {model['status']}"

    # --- jobs ------------------------------------------------------------------------------------
    def job_labels(self, limit: int = 100) -> list[str]:
        page = _call(lambda: self.client().list_inferences(limit=limit))
        return [job_label(j) for j in page["inferences"]]

    def submit(self, task: str, endpoint: str | None, values: dict[str, Any], units: list[dict[str, Any]]) -> str:
        """Check the endpoint, build the payload, submit; returns the new job's label."""
        name = self.require_endpoint(endpoint)
        payload = build_payload(task, values, units)
        job = _call(lambda: self.client().create_inference(name, task, payload))
        return job_label(job)

    def job_output(self, label: str | None) -> JobOutput:
        ident = job_id(label)
        if not ident:
            raise PanelError("No job selected")
        client = self.client()
        job = _call(lambda: client.get_inference(ident))
        output = JobOutput(job)
        if job["status"] == "succeeded":
            from PIL import Image

            output.images = [Image.open(io.BytesIO(_call(client.fetch_image, i))) for i in job["images"]]
            output.info = job.get("info") or ""
            output.prompt = (job.get("parameters") or {}).get("prompt") or output.info.split("\n", 1)[0]
        return output

    def wait(
        self,
        label: str,
        timeout: float,
        poll_interval: float = 1.0,
        on_update: Callable[[dict[str, Any]], None] | None = None,
        cancel_when: Callable[[], bool] | None = None,
    ) -> JobOutput:
        """Wait for the job to end: its output if it succeeded or was cancelled, PanelError with its reason if it
        failed. `on_update(job)` sees each change of status or progress; once `cancel_when()` says yes the job
        is cancelled."""
        ident = job_id(label) or ""
        job = _call(lambda: self.client().wait_inference(
            ident, poll_interval=poll_interval, timeout=timeout, on_update=on_update, cancel_when=cancel_when))
        if job["status"] == "failed":
            raise PanelError(JobOutput(job).message)
        return self.job_output(label)

    def cancel(self, label: str | None) -> str:
        """Cancel the job (created or in progress); a job that has ended says so."""
        ident = job_id(label)
        if not ident:
            raise PanelError("No job selected")
        return JobOutput(_call(lambda: self.client().cancel_inference(ident))).message

    def save_images(self, label: str | None) -> list[str]:
        output = self.job_output(label)
        if not output.job.get("images"):
            raise PanelError(f"Job {output.job['id']} has no images ({output.job['status']})")
        directory = tempfile.mkdtemp(prefix="sdcloud-")
        return [str(p) for p in _call(lambda: self.client().download_images(output.job, directory))]

    # --- settings --------------------------------------------------------------------------------
    def test_connection(self, api_url: str, api_key: str) -> str:
        client = SdCloudClient(api_url.strip(), api_key.strip(), timeout=min(self.timeout, 10))
        try:
            client.ping()
        except ApiError as exc:
            return f"Unreachable: {exc.message}" if exc.unreachable else f"Not an sd-cloud API: {exc}"
        try:
            user = client.whoami()
            return f"OK: connected as user {user['name']} ({user['role']})"
        except ApiError as exc:
            error = exc
        if error.unauthorized:
            return f"Bad API key: the API refused it ({error.status} {error.message})"
        return f"Connected, but the key could not be checked: {error}"


def _call(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except ApiError as exc:
        where = f" (field: {exc.field})" if exc.field else ""
        raise PanelError(f"{exc.message}{where}") from exc
    except TimeoutError as exc:
        raise PanelError(str(exc)) from exc
