"""The `sdcloud` command against the real local stack: admin and user commands, and `local up` with Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from PIL import Image
from typer.testing import CliRunner

from sdcloud.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def sdcloud(*args: str, key: str, url: str):
    result = runner.invoke(app, ["--api-url", url, "--api-key", key, *args], catch_exceptions=True)
    return result


def test_admin_and_user_commands_from_user_creation_to_pngs(local_stack, sample_models, tmp_path):
    url, admin_key = local_stack.api_url, local_stack.api_key

    created = sdcloud("users", "create", "carol", key=admin_key, url=url)
    assert created.exit_code == 0, created.output
    carol = created.output.split("API_KEY=")[1].split()[0]
    assert "carol" in sdcloud("users", "list", key=admin_key, url=url).output

    uploaded = sdcloud("models", "upload", str(sample_models["checkpoint"]), "--type", "checkpoint", "--name",
                       "cli-sd", key=carol, url=url)
    assert uploaded.exit_code == 0, uploaded.output
    assert "cli-sd" in uploaded.output and "ready" in uploaded.output
    assert "cli-sd" in sdcloud("models", "list", "--type", "checkpoint", key=carol, url=url).output

    endpoint = sdcloud("endpoints", "create", "cli", "--instance-type", "ml.g6.xlarge", "--wait", key=admin_key,
                       url=url)
    assert endpoint.exit_code == 0, endpoint.output
    assert "InService" in sdcloud("endpoints", "list", key=carol, url=url).output

    out = tmp_path / "out"
    job = sdcloud("txt2img", "-p", "a red barn", "--steps", "2", "--width", "64", "--height", "64", "--seed", "9",
                  "--checkpoint", "cli-sd", "--sampler", "Euler", "--out", str(out), key=carol, url=url)
    assert job.exit_code == 0, job.output
    assert "succeeded" in job.output and "Seed: 9" in job.output
    pngs = list(out.glob("*.png"))
    assert len(pngs) == 1 and Image.open(pngs[0]).size == (64, 64)

    job_id = pngs[0].name.split("-")[0]
    listed = sdcloud("jobs", "list", key=carol, url=url)
    assert job_id in listed.output and "succeeded" in listed.output
    shown = json.loads(sdcloud("jobs", "show", job_id, key=carol, url=url).output)
    assert shown["status"] == "succeeded" and shown["parameters"]["seed"] == 9

    bad = sdcloud("txt2img", "-p", "x", "--steps", "0", "--checkpoint", "cli-sd", key=carol, url=url)
    assert bad.exit_code != 0 and "steps" in str(bad.exception)
    assert sdcloud("endpoints", "create", "nope", key=carol, url=url).exit_code != 0

    repainted = sdcloud("img2img", "-i", str(pngs[0]), "--denoising-strength", "0.5", "-p", "a blue barn",
                        "--steps", "2", "--checkpoint", "cli-sd", "--wait", key=carol, url=url)
    assert repainted.exit_code == 0 and "succeeded" in repainted.output, repainted.output
    assert sdcloud("jobs", "delete", job_id, key=carol, url=url).exit_code == 0
    assert sdcloud("jobs", "show", job_id, key=carol, url=url).exit_code != 0
    assert sdcloud("models", "delete", "cli-sd", key=carol, url=url).exit_code == 0
    assert sdcloud("endpoints", "delete", "cli", key=admin_key, url=url).exit_code == 0
    assert sdcloud("users", "revoke", "carol", key=admin_key, url=url).exit_code == 0
    revoked = sdcloud("jobs", "list", key=carol, url=url)
    assert revoked.exit_code != 0 and "401" in str(revoked.exception)


# `python -m sdcloud local up` with SIGINT delivered and default, as from a terminal. A child inherits its parent's
# ignored and blocked signals, and the test's worker process is not a terminal: in a whole run the child once stayed
# up after the signal, its main thread looping in `local up` with no KeyboardInterrupt (faulthandler's dump).
LOCAL_UP_AS_IN_A_TERMINAL = (
    "import runpy, signal, sys; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT}); "
    "signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv = ['sdcloud', 'local', 'up', '--port', '0']; runpy.run_module('sdcloud', run_name='__main__')"
)


def test_local_up_prints_url_and_key_writes_the_config_and_stops_on_ctrl_c(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "PYTHONFAULTHANDLER": "1"}
    stderr = (tmp_path / "stderr.txt").open("w")
    process = subprocess.Popen([sys.executable, "-c", LOCAL_UP_AS_IN_A_TERMINAL], cwd=tmp_path,
                               env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        lines = {}
        assert process.stdout is not None
        while "API_KEY" not in lines:
            line = process.stdout.readline()
            assert line, "local up exited before it was ready"
            if "=" in line and line.split("=")[0] in ("API_URL", "API_KEY"):
                name, value = line.strip().split("=", 1)
                lines[name] = value
        config = json.loads((tmp_path / ".sdcloud" / "local.json").read_text())
        assert config == {"api_url": lines["API_URL"], "api_key": lines["API_KEY"]}
        assert requests.get(lines["API_URL"] + "/ping", timeout=10).status_code == 200
        users = requests.get(lines["API_URL"] + "/users", headers={"x-api-key": lines["API_KEY"]}, timeout=10)
        assert users.status_code == 200 and users.json()["users"][0]["role"] == "admin"

        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        # read what it prints while it stops: an undrained pipe that fills blocks its logging, and with it the stop
        # (in whole make test runs it did not stop within 10 s; alone it stops in 1-2 s)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # faulthandler prints every thread's stack on SIGABRT, even while one of them holds the interpreter lock
            status = [line for line in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                      if line.startswith(("SigBlk", "SigIgn", "SigPnd", "ShdPnd"))]
            process.send_signal(signal.SIGABRT)
            process.wait(timeout=30)
            stderr.close()
            raise AssertionError(f"not stopped 60 s after Ctrl-C ({', '.join(status)}); its threads:\n"
                                 + (tmp_path / "stderr.txt").read_text()[-20000:]) from None
        assert process.returncode == 0
        assert time.monotonic() - started < 30
        assert not (tmp_path / ".sdcloud" / "local.json").exists()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr.close()
