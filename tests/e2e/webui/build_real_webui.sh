#!/usr/bin/env bash
# Builds the real AUTOMATIC1111 WebUI v1.10.1 for the browser tests (tests/e2e/webui), offline but for the
# package registries: the sources from the shared tarballs under $BUILD, a Python 3.10 venv at $VENV.
# Usage: build_real_webui.sh SHARED_DIR BUILD_DIR VENV_DIR PYTHON310 CONTROLNET_REQUIREMENTS
set -euo pipefail
shared=$1 build=$2 venv=$3 python=$4 pins=$5

rm -rf "$build"
mkdir -p "$build"
tar xzf "$shared/stable-diffusion-webui-v1.10.1.tar.gz" -C "$build"
tar xzf "$shared/sd-webui-controlnet-1.1.455.tar.gz" -C "$build"
# The launcher checks each repository with `git rev-parse HEAD` (the tests export these commits as its
# *_COMMIT_HASH variables); the snapshot has no .git, so each becomes a one-commit repository.
for repo in "$build"/stable-diffusion-webui/repositories/*/; do
    git -C "$repo" init -q
    git -C "$repo" add -A
    git -C "$repo" -c user.name=sd-cloud -c user.email=tests@sd-cloud.invalid commit -q -m snapshot
done

rm -rf "$venv"
"$python" -m venv "$venv"
# The launcher's own torch pin (PyPI's build).
"$venv/bin/pip" install -q torch==2.1.2 torchvision==0.16.2
# The WebUI's own pins, and clip from PyPI (the launcher's CLIP_PACKAGE is a code-host zip by default).
"$venv/bin/pip" install -q -r "$build/stable-diffusion-webui/requirements_versions.txt" openai-clip==1.0.1
# sd-webui-controlnet's requirements. mediapipe moves protobuf to 4.x; the WebUI's launcher puts its pin
# (3.20.0) back at the next start, as it does for every user of that extension: done here once, so that
# the WebUI starts with nothing to install and the venv is the same before and after the tests.
"$venv/bin/pip" install -q -r "$pins"
"$venv/bin/pip" install -q protobuf==3.20.0
"$venv/bin/pip" check || true
