"""The few places where gradio 3.41.2 (the WebUI's pin) and current gradio differ."""

from __future__ import annotations

from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def event_options(then: bool = False) -> dict[str, Any]:
    """Let events run side by side: a job being watched must not hold up the next Generate on Cloud.
    (gradio 3 runs them side by side through the queue's concurrency_count; see enable_queue.)"""
    if GRADIO_MAJOR < 4:
        return {}
    return {"concurrency_limit": None} if then else {"concurrency_limit": None, "trigger_mode": "multiple"}


def enable_queue(blocks: gr.Blocks) -> None:
    if GRADIO_MAJOR >= 4:
        blocks.queue(default_concurrency_limit=None)
    else:
        blocks.queue(concurrency_count=16)


def periodically(page: Any, seconds: float, fn: Any, inputs: list[Any], outputs: list[Any]) -> None:
    """Run `fn` every `seconds` while a page is open, quietly: gradio 3.41 through `page.load(every=)` (the
    WebUI's queue is on), later gradio through a Timer."""
    if hasattr(gr, "Timer"):
        gr.Timer(seconds).tick(fn, inputs, outputs, show_progress="hidden")
    else:
        page.load(fn, inputs, outputs, every=seconds, show_progress="hidden")
