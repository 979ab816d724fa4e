"""Run by the WebUI on start: installs the sd-cloud client core and panel into the WebUI's own Python.

Only `requests` and the sd-cloud packages themselves are added (`--no-deps`): none of the WebUI's
pinned packages (gradio, fastapi, pydantic, httpx) is touched. The source is SDCLOUD_PIP_SOURCE when set
(any pip requirement: a wheel, a git URL), else the sd-cloud checkout this extension folder lives in.
"""

import os
from pathlib import Path

import launch

source = os.environ.get("SDCLOUD_PIP_SOURCE") or str(Path(__file__).resolve().parent.parent)

if not launch.is_installed("requests"):
    launch.run_pip("install requests", "requests for sd-cloud")
if not launch.is_installed("sdcloud_panel"):
    launch.run_pip(f'install --no-deps "{source}"', "sd-cloud client and panel")
