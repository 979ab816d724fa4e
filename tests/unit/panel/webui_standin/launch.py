"""Stand-in of the WebUI's launch.py as extensions' install.py scripts use it."""

installed: set[str] = {"requests"}
pip_commands: list[str] = []


def is_installed(package: str) -> bool:
    return package in installed


def run_pip(command: str, desc: str | None = None) -> None:
    pip_commands.append(command)
