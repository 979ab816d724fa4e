"""A stall watchdog for the benchmark's process: when no step is marked for `seconds` (BENCH_STALL_S), it writes
what every thread of the process is doing to `stall.txt`, with the step that stalled, and ends the process, so
that the rest of a device call (the next bench process) still runs.

It runs as an ordinary Python thread, because `faulthandler.dump_traceback_later` alone (which reads the
threads' frames without the GIL) printed corrupt frames on the GPU machine (device run 16, a thread inside
TorchDynamo's frame evaluation) and killed the process without a word about the step. faulthandler stays as the
fallback for a thread that holds the GIL in native code, which stops the watchdog's thread too: one minute
later it dumps what it can to `stall_native.txt` and ends the process; `steps.log`'s last line names the step."""

from __future__ import annotations

import faulthandler
import os
import sys
import threading
import time
import traceback
from pathlib import Path

STALL_EXIT_CODE = 3


class Watchdog:
    def __init__(self, out: Path, seconds: float | None = None) -> None:
        self.out = out
        self.seconds = seconds if seconds is not None else float(os.environ.get("BENCH_STALL_S", "240"))
        self.label = "start"
        self.marked = time.monotonic()
        self._lock = threading.Lock()
        self._native = (out / "stall_native.txt").open("w")
        threading.Thread(target=self._watch, name="bench-watchdog", daemon=True).start()

    def mark(self, label: str) -> None:
        """A step begins: the clock starts again, and `steps.log` gets the label (flushed at once)."""
        with self._lock:
            self.label, self.marked = label, time.monotonic()
        faulthandler.dump_traceback_later(self.seconds + 60, exit=True, file=self._native)
        with (self.out / "steps.log").open("a") as log:
            log.write(f"{time.strftime('%H:%M:%S')} {label}\n")

    def stacks(self) -> str:
        names = {thread.ident: thread.name for thread in threading.enumerate()}
        parts = []
        for ident, frame in sys._current_frames().items():
            parts.append(f"--- thread {names.get(ident, '?')} ({ident})\n{''.join(traceback.format_stack(frame))}")
        return "\n".join(parts)

    def _watch(self) -> None:
        while True:
            time.sleep(min(5.0, self.seconds / 4))
            with self._lock:
                label, stalled = self.label, time.monotonic() - self.marked
            if stalled >= self.seconds:
                report = f"stalled {stalled:.0f} s in step: {label}\n\n{self.stacks()}"
                (self.out / "stall.txt").write_text(report)
                print(f"watchdog: stalled {stalled:.0f} s in step {label!r}; stacks in stall.txt", flush=True)
                os._exit(STALL_EXIT_CODE)
