"""The panel's own settings (API URL and key, ControlNet unit count), kept in a small JSON file."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from sdcloud_client import ClientConfig, ConfigError

DEFAULT_CONTROLNET_UNITS = 3
MAX_CONTROLNET_UNITS = 10


@dataclass(frozen=True)
class PanelSettings:
    api_url: str = ""
    api_key: str = ""
    controlnet_units: int = DEFAULT_CONTROLNET_UNITS


class SettingsStore:
    """Settings saved in `path` when the user saves them in the panel; what is not saved there comes from
    the client's own configuration (API_URL / API_KEY, `.sdcloud/local.json`)."""

    def __init__(self, path: Path, defaults: PanelSettings | None = None, **overrides: object) -> None:
        self.path = path
        self.defaults = defaults or _from_client_config()
        self.overrides = {k: v for k, v in overrides.items() if v not in ("", None)}

    def load(self) -> PanelSettings:
        """Values in order of precedence: overrides (e.g. `launch(api_url=...)`), the saved file, defaults."""
        try:
            saved = json.loads(self.path.read_text())
        except (OSError, ValueError):
            saved = {}
        known = {
            k: v for k, v in saved.items() if k in PanelSettings.__dataclass_fields__ and v not in ("", None)
        }
        settings = replace(self.defaults, **{**known, **self.overrides})
        units = min(max(int(settings.controlnet_units), 1), MAX_CONTROLNET_UNITS)
        return replace(settings, controlnet_units=units)

    def save(self, **changes: object) -> PanelSettings:
        settings = replace(self.load(), **changes)  # type: ignore[arg-type]
        for name in changes:
            self.overrides.pop(name, None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(asdict(settings), indent=2))
        os.chmod(self.path, 0o600)  # it holds an API key
        return settings


def _from_client_config() -> PanelSettings:
    try:
        config = ClientConfig.load()
    except ConfigError:
        return PanelSettings()
    return PanelSettings(api_url=config.api_url, api_key=config.api_key)
