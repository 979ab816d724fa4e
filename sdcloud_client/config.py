"""Where the client finds its API URL and key: arguments, then the environment, then `.sdcloud/local.json`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from sdcloud_client.errors import ConfigError

LOCAL_CONFIG = Path(".sdcloud") / "local.json"


@dataclass(frozen=True)
class ClientConfig:
    api_url: str
    api_key: str = ""

    @classmethod
    def load(
        cls, api_url: str | None = None, api_key: str | None = None, cwd: Path | None = None
    ) -> ClientConfig:
        """Each value from the first source that has it: the arguments, API_URL / API_KEY,
        `.sdcloud/local.json` in `cwd` (default: the current directory; `sdcloud local up` writes it)."""
        url = api_url or os.environ.get("API_URL")
        key = api_key or os.environ.get("API_KEY")
        if not url or not key:
            stored = _read_local(Path(cwd or Path.cwd()) / LOCAL_CONFIG)
            url = url or stored.get("api_url")
            key = key or stored.get("api_key")
        if not url:
            raise ConfigError(
                "no API URL: pass --api-url, set API_URL, "
                "or run `sdcloud local up` (it writes .sdcloud/local.json)"
            )
        return cls(api_url=str(url).rstrip("/"), api_key=str(key or ""))


def _read_local(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not readable JSON: {exc}") from exc
    return data if isinstance(data, dict) else {}
