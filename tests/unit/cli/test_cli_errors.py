"""The CLI prints every problem of a refused request, markup-safe, and exits 1."""

from __future__ import annotations

import pytest

from sdcloud import cli
from sdcloud_client import ApiError, FieldError


def test_every_error_of_a_400_is_printed_on_its_own_line(monkeypatch, capsys):
    errors = [FieldError("payload.steps", "payload.steps: must be at least 1"),
              FieldError("payload.override_settings.sd_model_checkpoint", "checkpoint model 'x [abc123]' is unknown")]

    def refuse(**_: object) -> None:
        raise ApiError(400, errors[0].message, errors[0].field, errors)

    monkeypatch.setattr(cli, "app", refuse)

    with pytest.raises(SystemExit) as exited:
        cli.main([])

    assert exited.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error 400: 2 problems", "  - payload.steps: must be at least 1",
                     "  - payload.override_settings.sd_model_checkpoint: checkpoint model 'x [abc123]' is unknown"]
