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


HIDDEN_CLASS = "sdcloud-hidden"  # display: none (the WebUI extension's style.css, the standalone page's css)


def blocks_css() -> dict[str, Any]:
    """The page's own css for gradio 3 (periodically's hidden button); later gradio needs none."""
    return {} if hasattr(gr, "Timer") else {"css": f".{HIDDEN_CLASS} {{ display: none !important; }}"}


def off_queue() -> dict[str, Any]:
    """For quick events that a page fires by itself (on load, on a timer). gradio 3.41's queue leaks the
    websocket task of an event whose page closed before the event started, and the WebUI's Reload UI waits
    for every such task (forever): those events take plain HTTP there, as the WebUI's own progress polls do."""
    return {"queue": False} if GRADIO_MAJOR < 4 else {}


def periodically(page: Any, seconds: float, fn: Any, inputs: list[Any], outputs: list[Any], elem_id: str) -> None:
    """Run `fn(*inputs)` every `seconds` while a page is open, quietly; it returns the outputs' updates.
    Later gradio has a Timer. In gradio 3.41 `every=` would call a function with the inputs of its first
    call, and a loop in a load event would hold up the WebUI's Reload UI (which waits for running events):
    there a timer in the page presses a hidden button (`elem_id`)."""
    if hasattr(gr, "Timer"):
        gr.Timer(seconds).tick(fn, inputs, outputs, show_progress="hidden")
        return

    trigger = gr.Button(elem_id=elem_id, elem_classes=[HIDDEN_CLASS])
    trigger.click(fn, inputs, outputs, show_progress="hidden", **off_queue())
    root = "(document.querySelector('gradio-app')?.shadowRoot || document)"
    page.load(
        None,
        None,
        None,
        _js=f"() => {{ setInterval(() => {root}.querySelector('#{elem_id}')?.click(), {int(seconds * 1000)}); }}",
    )
