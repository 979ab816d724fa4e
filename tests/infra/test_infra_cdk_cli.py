"""`npx cdk synth` with the pinned CLI works with no network and no Docker engine."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from synthesized_stack import Synthesized

from infrastructure.app import STACK_NAME
from infrastructure.lambda_code import REPO_ROOT


def _path_without_docker(bin_dir: Path) -> str:
    """A PATH holding only `node`, `npx` and `sh` (linked into `bin_dir`): no `docker` to find."""
    bin_dir.mkdir()
    for tool in ("node", "npx", "sh"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed on PATH"
        (bin_dir / tool).symlink_to(Path(found).resolve())
    return str(bin_dir)


def _offline() -> list[str]:
    """A command prefix that runs without any network namespace, where the system allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True, check=False).returncode == 0:
        return [unshare, "--net"]
    return []  # the dead proxies below still make every HTTP(S) request fail fast


def test_cdk_synth_runs_offline_without_docker(tmp_path: Path, synthesized: Synthesized) -> None:
    # `synthesized` first: that in-process synth fills the Lambda layer cache (online if it must).
    pinned = json.loads((REPO_ROOT / "package.json").read_text())["devDependencies"]["aws-cdk"]
    assert (REPO_ROOT / "node_modules" / ".bin" / "cdk").exists(), "run `npm ci` first (make test does)"
    path = _path_without_docker(tmp_path / "bin")
    assert shutil.which("docker", path=path) is None
    env = {
        "PATH": path,
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    cdk = [*_offline(), "npx", "--no-install", "cdk"]

    version = subprocess.run([*cdk, "--version"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True)
    assert version.stdout.startswith(pinned)

    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [*cdk, "synth", "--quiet", "--output", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    template = json.loads((out / f"{STACK_NAME}.template.json").read_text())
    assert "ApiUrl" in template["Outputs"]
