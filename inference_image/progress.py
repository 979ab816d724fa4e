"""A running job's progress and its cancellation, through S3 (the container knows no table).

`JobMonitor.on_step` is the pipelines' `callback_on_step_end`: it counts the step on the host clock and raises
`Cancelled` once the job's cancel marker was seen. It never syncs the GPU (it reads no tensor; a live preview,
when they are on, is queued on the device, `preview.py`) and never waits on S3: a thread writes the latest
report (`s3_layout.progress_key`) and preview at most once per interval and looks for the marker
(`s3_layout.cancel_key`, listed: the role may list that key, a HeadObject of a missing one would be a 403).
The steps of a job are those of every batch and pass; each pass's count is planned from the payload and
corrected by the pipeline once the pass starts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from api_schema import s3_layout
from api_schema.jobs import JobPhase, JobProgress
from inference_image.errors import Cancelled
from inference_image.plan import JobPlan
from inference_image.preview import Preview, capture, jpeg

log = logging.getLogger(__name__)

WRITE_INTERVAL_S = 1.0


def planned_passes(plan: JobPlan) -> list[tuple[JobPhase, int]]:
    """The denoising passes of the job in order, each with the steps it will run: per batch, the sampling pass
    (img2img runs steps x denoising_strength of them, as diffusers does) and the hires fix's second pass."""
    payload = plan.payload
    steps = payload.steps
    if plan.inputs.init is not None:
        steps = min(int(steps * (payload.denoising_strength or 0.0)), steps)
    one_batch: list[tuple[JobPhase, int]] = [("sampling", steps)]
    if plan.hires is not None:
        one_batch.append(("hires", plan.hires.steps))
    return one_batch * payload.n_iter


def is_cancelled(s3: Any, bucket: str, job_id: str) -> bool:
    key = s3_layout.cancel_key(job_id)
    listing = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item["Key"] == key for item in listing.get("Contents", []))


class JobMonitor:
    def __init__(self, s3: Any, bucket: str, job_id: str, interval_s: float = WRITE_INTERVAL_S,
                 preview_interval_s: float = 0.0) -> None:
        """`preview_interval_s`: how often a live preview is captured (`preview.py`); 0: never."""
        self._s3, self._bucket, self.job_id = s3, bucket, job_id
        self._interval = interval_s
        self._preview_interval = preview_interval_s
        self._preview_at = 0.0  # when the last preview was captured (perf_counter)
        self._preview: Preview | None = None  # the latest capture
        self._preview_step: int | None = None  # the step of the latest preview written
        self._passes: list[tuple[JobPhase, int]] = []
        self._pass = -1  # the index of the pass running
        self._done = 0  # steps of the passes before it
        self._step = 0  # steps done in it
        self._first_step_at: float | None = None
        self._steps_timed = 0
        self._eta_s: float | None = None
        self._version = 0  # bumped by each step; each version is written once at most
        self._written = 0
        self._cancelled = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the job's side ------------------------------------------------------------------------
    def start(self, passes: list[tuple[JobPhase, int]]) -> None:
        """Report the job running (step 0) and start watching; Cancelled if it was cancelled before it started."""
        self._passes = list(passes)
        if self._best_effort(is_cancelled, self._s3, self._bucket, self.job_id):
            raise Cancelled(f"inference '{self.job_id}' was cancelled before it started")
        self._best_effort(self._write, self._report())
        self._thread = threading.Thread(target=self._watch, name=f"progress-{self.job_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; the last report is written (the job's end is not: the job's status tells it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._version != self._written and not self._cancelled.is_set():
            self._best_effort(self._write, self._report())

    def raise_if_cancelled(self) -> None:
        if self._cancelled.is_set():
            raise Cancelled(f"inference '{self.job_id}' was cancelled")

    def on_step(self, pipe: Any, index: int, timestep: Any, callback_kwargs: dict[str, Any]) -> dict[str, Any]:
        """diffusers' `callback_on_step_end`: called after step `index` of the pipeline's pass."""
        now = time.perf_counter()
        if index == 0:
            self._next_pass(getattr(pipe, "num_timesteps", None))
        self._step = index + 1
        if self._first_step_at is None:
            self._first_step_at = now  # the first step pays warm-ups (graph capture, cuDNN): not timed
        else:
            self._steps_timed += 1
            per_step = (now - self._first_step_at) / self._steps_timed
            self._eta_s = per_step * (self.steps - self.step)
        self._version += 1
        if self._preview_interval and now - self._preview_at >= self._preview_interval and "latents" in callback_kwargs:
            self._preview_at = now
            self._preview = capture(pipe, callback_kwargs["latents"], self.step)
        self.raise_if_cancelled()
        return callback_kwargs

    def _next_pass(self, steps: int | None) -> None:
        if self._pass >= 0:
            self._done += self._passes[self._pass][1]
        self._pass += 1
        if self._pass >= len(self._passes):  # more passes than planned: count them anyway
            self._passes.append(self._passes[-1] if self._passes else ("sampling", 0))
        phase, planned = self._passes[self._pass]
        if steps is not None and steps != planned:
            self._passes[self._pass] = (phase, int(steps))
        self._step = 0

    @property
    def step(self) -> int:
        return self._done + self._step

    @property
    def steps(self) -> int:
        return max(self.step, sum(steps for _, steps in self._passes))

    # --- the watcher's side --------------------------------------------------------------------
    def _report(self) -> JobProgress:
        phase = self._passes[max(self._pass, 0)][0] if self._passes else "sampling"
        return JobProgress(job_id=self.job_id, step=self.step, steps=self.steps, phase=phase,
                           eta_s=None if self._eta_s is None else round(self._eta_s, 2), written_at=time.time(),
                           preview_step=self._preview_step)

    def _write(self, report: JobProgress) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=s3_layout.progress_key(self.job_id),
                            Body=report.model_dump_json().encode(), ContentType="application/json")

    def _watch(self) -> None:
        while not self._stop.wait(self._interval):
            if self._best_effort(is_cancelled, self._s3, self._bucket, self.job_id):
                self._cancelled.set()
                return
            preview = self._preview
            if preview is not None and preview.step != self._preview_step:
                self._best_effort(self._write_preview, preview)
            if self._version != self._written:
                self._written = self._version
                self._best_effort(self._write, self._report())

    def _write_preview(self, preview: Preview) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=s3_layout.preview_key(self.job_id), Body=jpeg(preview),
                            ContentType="image/jpeg")
        self._preview_step = preview.step

    def _best_effort(self, call: Callable[..., Any], *args: Any) -> Any:
        """S3 trouble never fails the job: it goes on, unreported and uncancellable until S3 answers again."""
        try:
            return call(*args)
        except Exception:
            log.warning("job %s: progress report or cancel check failed", self.job_id, exc_info=True)
            return None
