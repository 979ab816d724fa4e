"""Stand-in of modules/shared.py: the settings object (`opts.data` holds every setting by key, and each
is an attribute too), the command line options, and the state of the running job (modules/shared_state.py's
State: what `/internal/progress` reads for the progress bar, `interrupted` set by the Interrupt button)."""

from types import SimpleNamespace
from typing import Any

DEFAULTS = {
    "samples_save": True,
    "samples_format": "png",
    "grid_save": True,
    "grid_format": "png",
    "grid_only_if_multiple": True,
    "grid_extended_filename": False,
}


class Options:
    def __init__(self) -> None:
        self.data: dict[str, Any] = dict(DEFAULTS)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name) from None


opts = Options()
cmd_opts = SimpleNamespace(no_prompt_history=False)


class State:
    interrupted = False
    job_count = 0
    job_no = 0
    sampling_step = 0
    sampling_steps = 0
    textinfo: str | None = None
    time_start: float | None = None

    def interrupt(self) -> None:
        self.interrupted = True


state = State()
