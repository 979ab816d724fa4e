"""What every client command shares: the console, the API client, tables and the byte and step progress bars."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from sdcloud_client import ClientConfig, SdCloudClient

# Piped or captured output gets wide lines rather than cut ones; a terminal gets its own width.
console = Console(width=None if sys.stdout.isatty() else 160)
errors = Console(stderr=True)


@dataclass
class Connection:
    """The `--api-url` / `--api-key` given to `sdcloud` itself; the rest comes from ClientConfig.load()."""

    api_url: str | None = None
    api_key: str | None = None

    def client(self) -> SdCloudClient:
        config = ClientConfig.load(self.api_url, self.api_key)
        return SdCloudClient(config.api_url, config.api_key)


def client_of(ctx: typer.Context) -> SdCloudClient:
    connection = ctx.find_object(Connection) or Connection()
    return connection.client()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left")
    for column in columns:
        # ids are copied into the next command: never cut them
        result.add_column(column, no_wrap=column == "id", min_width=32 if column == "id" else None)
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def byte_progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=console)


def step_progress() -> Progress:
    """A job's denoising steps; the detail field says queued / which pass / the ETA the server measured."""
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
