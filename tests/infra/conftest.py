"""The stack, synthesized once per test session in-process (synth takes tens of seconds on 2 cores)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from synthesized_stack import Synthesized

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from infrastructure.app import STACK_NAME, build_app, cdk_context

    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(
        outdir, {**cdk_context(), "aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}
    ).synth()
    yield Synthesized(outdir, json.loads((outdir / f"{STACK_NAME}.template.json").read_text()))
