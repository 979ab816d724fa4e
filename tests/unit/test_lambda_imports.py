"""Lambda handlers import fast: heavy modules are imported lazily, inside the calls that need them."""

import subprocess
import sys

import pytest

HANDLERS = ["lambdas.api.app", "lambdas.authorizer", "lambdas.notifier", "lambdas.sweeper",
            "lambdas.endpoint_events", "lambdas.bootstrap_admin", "lambdas.webhook_delivery"]
HEAVY = ["boto3", "torch", "diffusers", "transformers", "numpy"]


@pytest.mark.parametrize("module", HANDLERS)
def test_importing_a_handler_loads_no_heavy_module(module):
    probe = f"import sys, {module}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"

    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()

    assert loaded == ""
