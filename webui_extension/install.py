"""Run by the WebUI's launcher at each start: installs what the extension imports into the WebUI's Python.

That is the sd-cloud client core (`sdcloud_client`), the panel (`sdcloud_panel`) and the few stdlib-only
vocabulary modules of `api_schema` they import, and nothing else of the sd-cloud checkout (no handlers,
container, CLI or CDK code). They go in as one small wheel, `sd-cloud-webui`, built here from the checkout
this extension folder lives in with the standard library only (no build backend, no network), installed
with `pip install --no-deps`: the WebUI's own packages are never touched (`requests`, the only dependency,
is one of them). The wheel's version carries a hash of its files, so a changed checkout (a `git pull`) is
installed again at the next start and an unchanged one costs nothing. SDCLOUD_PIP_SOURCE, when set, is
installed instead (any pip requirement, e.g. a wheel, for an extension folder copied out of its checkout).
"""

from __future__ import annotations

import ast
import base64
import hashlib
import os
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

DIST = "sd-cloud-webui"
VERSION = "0.1.0"
PACKAGES = ("sdcloud_client", "sdcloud_panel")
SHARED = "api_schema"  # only its modules that the packages import (stdlib only, by its own rule)
LEGACY_DIST = "sd-cloud"  # what earlier versions installed: the whole checkout


def sources(root: Path) -> dict[str, bytes]:
    """Archive path -> content: PACKAGES whole, plus the SHARED modules they import, followed transitively."""
    files = {str(path.relative_to(root)): path for name in PACKAGES for path in sorted((root / name).glob("*.py"))}
    pending = list(files.values())
    while pending:
        tree = ast.parse(pending.pop().read_text(encoding="utf8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith(f"{SHARED}."):
                    path = root / (name.replace(".", "/") + ".py")
                    key = str(path.relative_to(root))
                    if key not in files:
                        files[key] = path
                        pending.append(path)
    if any(key.startswith(f"{SHARED}/") for key in files):
        files[f"{SHARED}/__init__.py"] = root / SHARED / "__init__.py"
    return {key: files[key].read_bytes() for key in sorted(files)}


def wanted_version(contents: dict[str, bytes]) -> str:
    digest = hashlib.sha256()
    for key, content in contents.items():
        digest.update(key.encode() + b"\0" + content)
    return f"{VERSION}+{digest.hexdigest()[:12]}"


def build_wheel(root: Path, directory: Path) -> Path:
    """A pure-Python wheel of `sources(root)`, written with zipfile as the wheel format describes."""
    contents = sources(root)
    version = wanted_version(contents)
    info = f"{DIST.replace('-', '_')}-{version}.dist-info"
    contents[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {version}\n"
        "Summary: sd-cloud client core and panel for the AUTOMATIC1111 WebUI\nRequires-Dist: requests>=2.28\n"
    ).encode()
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: sd-cloud install.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{key},sha256={_digest(content)},{len(content)}" for key, content in contents.items()]
    contents[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    wheel = directory / f"{DIST.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, content in contents.items():
            archive.writestr(key, content)
    return wheel


def _digest(content: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(content).digest()).rstrip(b"=").decode()


def installed_version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main() -> None:
    import launch  # the WebUI's: runs pip with the WebUI's Python, reports failures

    if installed_version(LEGACY_DIST):
        launch.run_pip(f"uninstall -y {LEGACY_DIST}", "sd-cloud: removing the whole checkout installed before")
    source = os.environ.get("SDCLOUD_PIP_SOURCE")
    if source:
        if not installed_version(DIST):
            launch.run_pip(f'install --no-deps "{source}"', "sd-cloud client and panel")
        return
    root = Path(__file__).resolve().parent.parent
    if installed_version(DIST) == wanted_version(sources(root)):
        return
    with tempfile.TemporaryDirectory(prefix="sdcloud-wheel-") as directory:
        wheel = build_wheel(root, Path(directory))
        launch.run_pip(f'install --no-deps --force-reinstall "{wheel}"', "sd-cloud client and panel")


if __name__ == "__main__":
    sys.exit(main())
