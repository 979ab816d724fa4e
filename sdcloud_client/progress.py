"""How far a job is, in words and numbers every client shows the same way (the job's `progress`, a plain dict)."""

from __future__ import annotations

from typing import Any

JobDict = dict[str, Any]


def fraction_of(job: JobDict) -> float | None:
    """0..1 while the job runs, None while it waits or has ended."""
    progress = job.get("progress") or {}
    return float(progress["fraction"]) if progress.get("state") == "running" else None


def progress_text(job: JobDict) -> str:
    """'queued, 2 jobs ahead' / 'step 12/30, hires pass, about 8 s left' / the status when there is no progress."""
    progress = job.get("progress")
    if not progress:
        return str(job.get("status", "")).replace("_", " ")
    if progress.get("state") == "queued":
        ahead = progress.get("queue_position") or 0
        return "queued, next to run" if ahead == 0 else f"queued, {ahead} job{'s' if ahead != 1 else ''} ahead"
    text = f"step {progress.get('step', 0)}/{progress.get('steps') or '?'}"
    if progress.get("phase") == "hires":
        text += ", hires pass"
    eta = progress.get("eta_s")
    return text if eta is None else f"{text}, about {eta:.0f} s left"
