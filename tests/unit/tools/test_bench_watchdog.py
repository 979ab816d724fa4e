"""The benchmark's stall watchdog: a step that stalls ends the process with the step's name and every thread's
stack on disk; steps that keep moving do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from sdcloud_tools.benchmarks.watchdog import STALL_EXIT_CODE

SCRIPT = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from sdcloud_tools.benchmarks.watchdog import Watchdog

    out, steps, pause = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    watchdog = Watchdog(out, seconds=1.0)
    for i in range(steps):
        watchdog.mark(f"step {i}")
        time.sleep(0.3)
    watchdog.mark("the stuck step")
    threading.Event().wait(pause)  # a step that waits on something that never comes
    print("finished")
    """
)


def run(tmp_path: Path, steps: int, pause: float) -> subprocess.CompletedProcess[str]:
    repo = Path(__file__).parents[3]
    script = tmp_path / "stalls.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(steps), str(pause)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo,
        env={"PYTHONPATH": str(repo)},
    )


def test_a_stalled_step_ends_the_process_naming_the_step_with_every_threads_stack(tmp_path):
    done = run(tmp_path, steps=5, pause=30)
    assert done.returncode == STALL_EXIT_CODE, done.stderr
    assert "finished" not in done.stdout
    report = (tmp_path / "stall.txt").read_text()
    assert report.startswith("stalled ") and "in step: the stuck step" in report
    assert "--- thread MainThread" in report and "threading.Event().wait(pause)" in report
    assert [line.split(" ", 1)[1] for line in (tmp_path / "steps.log").read_text().splitlines()] == [
        *(f"step {i}" for i in range(5)),
        "the stuck step",
    ]


def test_steps_that_keep_moving_are_left_alone(tmp_path):
    done = run(tmp_path, steps=8, pause=0.3)  # 2.7 s in all, no step longer than the 1 s limit
    assert done.returncode == 0, done.stderr
    assert "finished" in done.stdout
    assert not (tmp_path / "stall.txt").exists()
