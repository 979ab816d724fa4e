"""The stack, synthesized once per test session in-process (synth takes tens of seconds on 2 cores)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    template: dict[str, Any]

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.resources.items() if r["Type"] == resource_type}

    def one(self, resource_type: str, path_part: str) -> tuple[str, dict[str, Any]]:
        """The single resource of a type whose construct path contains `path_part`."""
        found = [
            (name, r)
            for name, r in self.of_type(resource_type).items()
            if path_part in r.get("Metadata", {}).get("aws:cdk:path", "")
        ]
        assert len(found) == 1, f"{resource_type} at {path_part}: {[name for name, _ in found]}"
        return found[0]


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    from infrastructure.app import STACK_NAME, build_app, cdk_context

    outdir = tmp_path_factory.mktemp("cdk.out")
    build_app(
        outdir, {**cdk_context(), "aws:cdk:enable-path-metadata": True, "aws:cdk:enable-asset-metadata": True}
    ).synth()
    yield Synthesized(outdir, json.loads((outdir / f"{STACK_NAME}.template.json").read_text()))
