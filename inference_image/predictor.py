"""The cog-shaped predictor: `setup()` once, `predict(job)` per request, a health state in between.

A job runs in five steps, each in the module of its name: plan (what it needs), fetch (its model files on
disk), load (`pipelines`: its pipelines from the pool), generate (`generation`) and publish. From its plan on
a `progress.JobMonitor` reports how far it is and stops it once it is cancelled.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from api_schema.jobs import InferenceInput, InferenceManifest
from inference_image.errors import Busy, InvalidJob
from inference_image.fetch import Downloads, fetch_files
from inference_image.plan import JobPlan, plan_job, read_request
from inference_image.progress import JobMonitor, planned_passes
from inference_image.settings import InferenceSettings

if TYPE_CHECKING:
    from inference_image.runners import Runner

Health = Literal["starting", "ready", "busy", "failed"]


def import_libraries() -> None:
    """What a job needs imported, paid once: torch, diffusers (with transformers and peft) and the task
    pipelines (`generation`), which diffusers would otherwise import at first use. Seconds, most of a cold start."""
    import inference_image.generation  # noqa: F401


class Predictor:
    """`runner` runs the denoising; None: the one the settings choose (`runners.runner_for`), picked when the
    libraries are in."""

    def __init__(self, settings: InferenceSettings, s3: Any = None, runner: Runner | None = None) -> None:
        self.settings = settings
        self.runner = runner
        self._s3 = s3
        self.state: Health = "starting"
        self.error: str | None = None
        self._lock = threading.Lock()
        self._libraries = threading.Event()  # set when _load_libraries has ended, whatever the outcome

    # --- lifecycle -----------------------------------------------------------------------------
    def setup(self) -> None:
        """In two steps. First what taking a job needs (the S3 client and the model store): the health check
        turns ready then, so a new instance takes its first job while the second step runs: the libraries
        (torch, diffusers: seconds of imports), the device, config folders, model pool, preprocessors and the
        runner. A job that comes meanwhile downloads its models, then waits for the libraries."""
        try:
            self._open()
            self.state = "ready"
            self._load_libraries()
        except Exception as exc:
            self.state, self.error = "failed", f"setup failed: {exc}"
            raise
        finally:
            self._libraries.set()

    def stop(self) -> None:
        """At the server's shutdown: the runner ends what it runs beside the jobs (artifact builds)."""
        if self.runner is not None:
            self.runner.close()

    @property
    def libraries(self) -> Literal["loading", "loaded", "failed"]:
        if not self._libraries.is_set():
            return "loading"
        return "failed" if self.state == "failed" else "loaded"

    def _open(self) -> None:
        from inference_image.model_store import ModelStore

        if self._s3 is None:
            import boto3

            self._s3 = boto3.client("s3", endpoint_url=self.settings.s3_endpoint_url)
        self.store = ModelStore(
            self._s3,
            self.settings.cache_dir,
            self.settings.disk_budget_bytes,
            self.settings.transfer_concurrency,
            self.settings.part_size_bytes,
        )

    def _load_libraries(self) -> None:
        import_libraries()
        import torch

        from inference_image.checkpoints import ConfigFolders
        from inference_image.pipelines import Loader
        from inference_image.pool import ModelPool
        from inference_image.preprocessors import Preprocessors
        from inference_image.runners import runner_for

        device = self.settings.resolved_device()
        dtype = torch.float16 if device == "cuda" else torch.float32
        configs = ConfigFolders(self.settings.cache_dir / "configs")
        for arch in ("sd15", "sdxl"):
            configs.folder(arch, {})
        self.pool = ModelPool(self.settings.memory_budget_bytes)
        self.loader = Loader(self.pool, self.store, configs, device, dtype, self.settings.allow_pickle)
        self.preprocessors = Preprocessors(device)
        if self.runner is None:
            self.runner = runner_for(self.settings)
        self.runner.sync_artifacts(self._s3)  # in the background: jobs never wait on it

    def _wait_for_libraries(self) -> None:
        self._libraries.wait()
        if self.state == "failed":
            raise Busy(f"the server is not ready ({self.error})")

    # --- one job -------------------------------------------------------------------------------
    def predict(self, job: InferenceInput) -> InferenceManifest:
        if self.state in ("starting", "failed"):
            raise Busy(f"the server is not ready ({self.state})")
        with self._lock:
            self.state = "busy"
            try:
                return self._predict(job)
            except Exception as exc:
                torch = sys.modules.get("torch")
                if torch is None or not isinstance(exc, torch.cuda.OutOfMemoryError):
                    raise
                torch.cuda.empty_cache()
                raise InvalidJob(
                    "the job needs more GPU memory than this instance has: lower batch_size, width or height, "
                    "or use fewer ControlNet units",
                    "payload.batch_size",
                ) from exc
            finally:
                if self.state == "busy":
                    self.state = "ready"

    def _predict(self, job: InferenceInput) -> InferenceManifest:
        from inference_image.generation import generate_job
        from inference_image.publish import publish

        started = time.perf_counter()
        downloads = Downloads(self.store)
        plan = self._plan(job, downloads)
        monitor = JobMonitor(self._s3, job.output_bucket, job.job_id,
                             preview_interval_s=self.settings.preview_interval_s)
        monitor.start(planned_passes(plan))
        try:
            files = fetch_files(plan, downloads, self.settings.annotator_dir)
            loaded = self.loader.load_job(plan, files)
            load_s = time.perf_counter() - started
            assert self.runner is not None  # chosen with the libraries
            monitor.raise_if_cancelled()
            generated = generate_job(plan, loaded, files, self.preprocessors, self.runner, self.settings.allow_pickle,
                                     monitor.on_step)
        finally:
            monitor.stop()
        return publish(self._s3, self.store, plan, files, loaded, generated, started, load_s)

    def _plan(self, job: InferenceInput, downloads: Downloads) -> JobPlan:
        """What the job needs; a new instance downloads its models while the libraries load."""
        request = read_request(job)
        if not self._libraries.is_set():
            for ref in request.early_downloads():
                downloads.get(ref)
        self._wait_for_libraries()
        return plan_job(request)
