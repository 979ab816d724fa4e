import json
from pathlib import Path

import pytest

from sdcloud_client import ClientConfig, ConfigError


def test_environment_wins_over_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".sdcloud").mkdir()
    (tmp_path / ".sdcloud" / "local.json").write_text(
        json.dumps({"api_url": "http://file:1", "api_key": "fk"})
    )
    monkeypatch.setenv("API_URL", "http://env:2/")
    monkeypatch.setenv("API_KEY", "ek")

    config = ClientConfig.load(cwd=tmp_path)

    assert (config.api_url, config.api_key) == ("http://env:2", "ek")


def test_local_file_fills_what_the_environment_lacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)
    (tmp_path / ".sdcloud").mkdir()
    (tmp_path / ".sdcloud" / "local.json").write_text(
        json.dumps({"api_url": "http://127.0.0.1:3000", "api_key": "k"})
    )
    monkeypatch.chdir(tmp_path)

    assert ClientConfig.load() == ClientConfig("http://127.0.0.1:3000", "k")
    assert ClientConfig.load(api_key="arg") == ClientConfig("http://127.0.0.1:3000", "arg")


def test_missing_url_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    monkeypatch.delenv("API_KEY", raising=False)

    with pytest.raises(ConfigError, match="API_URL"):
        ClientConfig.load(cwd=tmp_path)


def test_broken_local_file_names_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_URL", raising=False)
    (tmp_path / ".sdcloud").mkdir()
    (tmp_path / ".sdcloud" / "local.json").write_text("{not json")

    with pytest.raises(ConfigError, match=r"local\.json"):
        ClientConfig.load(cwd=tmp_path)
