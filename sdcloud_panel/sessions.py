"""What the panel of one tab remembers per page: held in a gr.State, so that every event of the page, queued
or not, gets the same object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Session:
    shown_job: str | None = None  # the label of the job shown in Output
    watcher: int = 0  # the generation of the latest job watcher: an older one stops
    watching: bool = False  # a job watcher runs
    unshown_pick: str | None = None  # the job list's value that the last follow tick found not shown in Output
    listed: list[str] | None = None  # the job labels last listed
    shown_state: tuple[str, str, object] | None = None  # the shown job's label, status and progress as show_job sent
