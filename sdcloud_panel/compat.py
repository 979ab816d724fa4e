"""The few places where gradio 3.41.2 (the WebUI's pin) and current gradio differ."""

from __future__ import annotations

from typing import Any

import gradio as gr

GRADIO_MAJOR = int(gr.__version__.split(".")[0])


def event_options() -> dict[str, Any]:
    """Let events run side by side: a job being watched must not hold up the next Generate on Cloud."""
    return {"concurrency_limit": None, "trigger_mode": "multiple"} if GRADIO_MAJOR >= 4 else {}


def enable_queue(blocks: gr.Blocks) -> None:
    if GRADIO_MAJOR >= 4:
        blocks.queue(default_concurrency_limit=None)
    else:
        blocks.queue(concurrency_count=16)
