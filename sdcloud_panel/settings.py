"""The panel's own settings (API URL and key, ControlNet unit count), kept in a small JSON file."""

from __future__ import annotations

import json
import os
import shutil
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
        known = {k: v for k, v in saved.items() if k in PanelSettings.__dataclass_fields__ and v not in ("", None)}
        settings = replace(self.defaults, **{**known, **self.overrides})
        units = min(max(int(settings.controlnet_units), 1), MAX_CONTROLNET_UNITS)
        return replace(settings, controlnet_units=units)

    def save(self, **changes: object) -> PanelSettings:
        """Saves the changes; an empty value keeps what is saved (an empty form field never erases it)."""
        changes = {name: value for name, value in changes.items() if value not in ("", None)}
        settings = replace(self.load(), **changes)  # type: ignore[arg-type]
        for name in changes:
            self.overrides.pop(name, None)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # It holds an API key: readable by its owner only, from its first byte on.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(json.dumps(asdict(settings), indent=2))
        return settings


def user_settings_path(name: str) -> Path:
    """`name` in the user's configuration folder (`$XDG_CONFIG_HOME/sdcloud`, by default `~/.config/sdcloud`):
    outside any program's folder or git checkout, as other tools keep their credentials."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sdcloud" / name


def _from_client_config() -> PanelSettings:
    try:
        config = ClientConfig.load()
    except ConfigError:
        return PanelSettings()
    return PanelSettings(api_url=config.api_url, api_key=config.api_key)


def move_legacy_settings(old: Path, new: Path) -> None:
    """Earlier versions kept the settings, API key included, in the WebUI extension's folder (a git
    checkout): moved to `new` unless settings are already saved there."""
    if old.is_file() and not new.exists():
        new.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.move(old, new)  # across file systems too
        os.chmod(new, 0o600)
