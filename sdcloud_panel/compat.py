"""The few places where gradio 3.41.2 (the WebUI's pin) and current gradio differ."""

from __future__ import annotations

import time
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


def periodically(page: Any, seconds: float, fn: Any, outputs: list[Any]) -> None:
    """Run `fn(request)` every `seconds` while a page is open, quietly; it returns the outputs' updates.
    Later gradio has a Timer. gradio 3.41's own `every=` would call a function with the inputs of its first
    call and without the request, so there one load event follows the page for as long as it is open."""
    if hasattr(gr, "Timer"):

        def tick(request: gr.Request) -> Any:
            return fn(request)

        gr.Timer(seconds).tick(tick, None, outputs, show_progress="hidden")
        return

    def follow(request: gr.Request) -> Any:
        while True:
            yield fn(request)
            time.sleep(seconds)

    page.load(follow, None, outputs, show_progress="hidden")
