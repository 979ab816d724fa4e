"""The synthesized stack as the infra tests read it (a module of its own: `conftest` is not importable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
