"""`sdcloud`: the local stack, sample models, the client commands, the panel and the demo."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from sdcloud.commands.common import Connection, console, errors
from sdcloud.commands.jobs import img2img, jobs, txt2img
from sdcloud.commands.resources import endpoints, models, users
from sdcloud.payload_options import OptionError
from sdcloud_client import ApiError, ClientConfig, ConfigError

app = typer.Typer(help="Stable Diffusion on SageMaker async endpoints, from the command line.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
local = typer.Typer(help="The whole system on this machine (no AWS account needed).", no_args_is_help=True)
app.add_typer(local, name="local")
app.add_typer(users, name="users")
app.add_typer(models, name="models")
app.add_typer(endpoints, name="endpoints")
app.add_typer(jobs, name="jobs")
app.command("txt2img")(txt2img)
app.command("img2img")(img2img)

Device = Annotated[str, typer.Option(help="cpu or cuda (the inference server's device)")]


@app.callback()
def root(ctx: typer.Context,
         api_url: Annotated[str | None, typer.Option(help="default: $API_URL, then .sdcloud/local.json")] = None,
         api_key: Annotated[str | None, typer.Option(help="default: $API_KEY, then .sdcloud/local.json")] = None,
         ) -> None:
    ctx.obj = Connection(api_url, api_key)


def _check_device(device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise typer.BadParameter("must be cpu or cuda", param_hint="--device")
    return device


@local.command("up")
def local_up(port: Annotated[int, typer.Option(help="the API's port on 127.0.0.1")] = 3000,
             device: Device = "cpu") -> None:
    """Run moto, the API, the SageMaker async emulator and the inference server until Ctrl-C."""
    from sdcloud.local.stack import LOCAL_CONFIG, LocalStack

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    stack = LocalStack(port=port, device=_check_device(device), config_path=LOCAL_CONFIG)
    stopping = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    code = 0
    try:
        with console.status("starting the local stack"):
            stack.start()
        print(f"API_URL={stack.api_url}", flush=True)
        print(f"API_KEY={stack.api_key}", flush=True)
        console.print(f"wrote {LOCAL_CONFIG}; the CLI uses it from this directory. Ctrl-C stops.")
        while not stopping.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    except OSError as exc:  # the port is taken, most likely
        errors.print(f"[red]error: the local stack could not start on port {port}: {exc}[/red]")
        code = 1
    except Exception:
        errors.print_exception()
        code = 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        console.print("stopping")
        stack.stop()
        if code == 0:  # ours; a failed start must not remove the config of another stack in this directory
            LOCAL_CONFIG.unlink(missing_ok=True)
        console.print("stopped")
        # Everything is stopped and closed; the interpreter's own teardown of torch and friends (loaded once an
        # endpoint ran) can take seconds more on a busy machine, so end the process here.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


@app.command("sample-models")
def sample_models(directory: Path) -> None:
    """Write tiny random-weight models (checkpoint, ControlNet, VAE, LoRA, ...) and print their paths as JSON."""
    from sdcloud.local.inference_host import quiet_ml_libraries
    from sdcloud_tools.sample_models import write_sample_models

    quiet_ml_libraries()
    paths = write_sample_models(directory)
    print(json.dumps({kind: str(path) for kind, path in paths.items()}, indent=2))


@app.command("ui")
def ui(ctx: typer.Context, port: Annotated[int, typer.Option()] = 7860) -> None:
    """Open the cloud panel (txt2img and img2img) as a local web page."""
    from sdcloud_panel.standalone import launch

    connection = ctx.find_object(Connection) or Connection()
    config = ClientConfig.load(connection.api_url, connection.api_key)
    console.print(f"panel on http://127.0.0.1:{port} for {config.api_url}")
    launch(port, config.api_url, config.api_key)


@app.command("demo")
def demo(out: Annotated[Path, typer.Option(help="where the PNGs go")] = Path("out"), device: Device = "cpu") -> None:
    """Local stack, sample models, upload, endpoint, one txt2img with LoRA, VAE, canny + openpose; then stop."""
    from sdcloud.demo import run_demo
    from sdcloud.local.inference_host import quiet_ml_libraries

    quiet_ml_libraries()
    run_demo(out, _check_device(device))


def main(argv: list[str] | None = None) -> Any:
    try:
        return app(args=argv, standalone_mode=True)
    except ApiError as exc:
        if len(exc.errors) > 1:
            errors.print(f"[red]error {exc.status}: {len(exc.errors)} problems[/red]")
            for problem in exc.errors:
                errors.print(f"[red]  - {escape(str(problem))}[/red]", soft_wrap=True)
        else:
            field = f" (field: {exc.field})" if exc.field else ""
            errors.print(f"[red]error {exc.status or ''}: {escape(exc.message)}{field}[/red]" if exc.status
                         else f"[red]error: {escape(exc.message)}[/red]")
    except (ConfigError, OptionError, TimeoutError) as exc:
        errors.print(f"[red]error: {exc}[/red]")
    raise SystemExit(1)
