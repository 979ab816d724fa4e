"""`sdcloud users|models|endpoints ...`: the admin and model-management commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api_schema.model_types import MODEL_TYPES
from sdcloud.commands.common import byte_progress, client_of, console, human_size, table
from sdcloud_client import ApiError, SdCloudClient

users = typer.Typer(help="Users and their API keys (admin); your own webhook secret.", no_args_is_help=True)
models = typer.Typer(help="Models: upload, list, delete.", no_args_is_help=True)
endpoints = typer.Typer(help="SageMaker async endpoints.", no_args_is_help=True)



# --- users ---------------------------------------------------------------------------------------
@users.command("create")
def users_create(ctx: typer.Context, name: str,
                 role: Annotated[str, typer.Option(help="user or admin")] = "user") -> None:
    """Create a user and print its API key (shown only this once)."""
    created = client_of(ctx).create_user(name, role)
    console.print(f"created {created['user']['role']} [bold]{created['user']['name']}[/bold]")
    console.print(f"API_KEY={created['api_key']}", soft_wrap=True, highlight=False)


@users.command("list")
def users_list(ctx: typer.Context) -> None:
    rows = [(u["name"], u["role"], u["created_at"]) for u in client_of(ctx).list_users()]
    console.print(table("users", ("name", "role", "created"), rows))


@users.command("webhook-secret")
def users_webhook_secret(ctx: typer.Context) -> None:
    """Create or rotate your webhook signing secret and print it (shown only this once).

    Jobs submitted with --webhook-url are POSTed there when they end, signed as Standard Webhooks says
    (headers webhook-id, webhook-timestamp, webhook-signature); verify them with this secret, e.g.
    `standardwebhooks.Webhook(secret).verify(body, headers)`. A new secret replaces the old one at once.
    """
    console.print(f"WEBHOOK_SECRET={client_of(ctx).rotate_webhook_secret()}", soft_wrap=True, highlight=False)


@users.command("revoke")
def users_revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a user: its key stops working at once."""
    client_of(ctx).revoke_user(name)
    console.print(f"revoked {name}")


# --- models --------------------------------------------------------------------------------------
@models.command("upload")
def models_upload(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    type: Annotated[str, typer.Option("--type", "-t", help=f"one of {', '.join(MODEL_TYPES)}")],
    name: Annotated[str | None, typer.Option(help="the name payloads use (default: file name without suffix)")]
    = None,
) -> None:
    """Upload a model file straight to S3 in parts; run it again to resume an interrupted upload."""
    model = upload_with_progress(client_of(ctx), path, name or path.stem, type)
    console.print(f"model [bold]{model['name']}[/bold] ({model['type']}) is {model['status']}: id {model['id']}")


def upload_with_progress(client: SdCloudClient, path: Path, name: str, type: str) -> dict:
    with byte_progress() as progress:
        task = progress.add_task(f"{name}", total=path.stat().st_size)
        return client.upload_model(path, name, type,
                                   progress=lambda sent, total: progress.update(task, completed=sent, total=total))


@models.command("list")
def models_list(ctx: typer.Context,
                type: Annotated[str | None, typer.Option("--type", "-t", help="only this type")] = None) -> None:
    rows = [(m["name"], m["type"], human_size(m["size_bytes"]), m["status"], m["owner"], m["id"])
            for m in client_of(ctx).all_models(type)]
    console.print(table("models", ("name", "type", "size", "status", "owner", "id"), rows))


@models.command("delete")
def models_delete(ctx: typer.Context, model: Annotated[str, typer.Argument(help="model id or name")]) -> None:
    client = client_of(ctx)
    client.delete_model(model_id_of(client, model))
    console.print(f"deleted model {model}")


def model_id_of(client: SdCloudClient, id_or_name: str) -> str:
    try:
        return str(client.get_model(id_or_name)["id"])
    except ApiError as exc:
        if exc.status != 404:
            raise
    matches = [m for m in client.all_models() if m["name"] == id_or_name]
    if not matches:
        raise ApiError(404, f"no model has the id or name '{id_or_name}'")
    return str(matches[0]["id"])


# --- endpoints -----------------------------------------------------------------------------------
@endpoints.command("create")
def endpoints_create(
    ctx: typer.Context,
    name: str,
    instance_type: Annotated[str, typer.Option(help="SageMaker instance type")] = "ml.g5.xlarge",
    min_instances: Annotated[int, typer.Option("--min", help="0 scales to zero when idle")] = 0,
    max_instances: Annotated[int, typer.Option("--max")] = 1,
    wait: Annotated[bool, typer.Option(help="wait until it is InService")] = False,
) -> None:
    """Create an endpoint (admin); it is Creating until SageMaker reports it InService."""
    client = client_of(ctx)
    endpoint = client.create_endpoint(name, instance_type, min_instances, max_instances)
    console.print(f"endpoint [bold]{name}[/bold] is {endpoint['status']}")
    if wait:
        wait_endpoint(client, name)


@endpoints.command("list")
def endpoints_list(ctx: typer.Context,
                   status: Annotated[str | None, typer.Option(help="only endpoints in this status")] = None) -> None:
    rows = [(e["name"], e["status"], e["instance_type"], f"{e['min_instances']}-{e['max_instances']}",
             e.get("failure_reason"), e["created_at"]) for e in client_of(ctx).list_endpoints(status)]
    console.print(table("endpoints", ("name", "status", "instance type", "instances", "failure", "created"), rows))


@endpoints.command("delete")
def endpoints_delete(ctx: typer.Context, name: str) -> None:
    client_of(ctx).delete_endpoint(name)
    console.print(f"endpoint {name} is being deleted")


@endpoints.command("wait")
def endpoints_wait(ctx: typer.Context, name: str,
                   timeout: Annotated[float, typer.Option(help="seconds")] = 1800.0) -> None:
    """Wait until the endpoint is InService (exit 1 if it fails)."""
    wait_endpoint(client_of(ctx), name, timeout)


def wait_endpoint(client: SdCloudClient, name: str, timeout: float = 1800.0, interval: float = 2.0) -> dict:
    with console.status(f"endpoint {name}: waiting") as status:
        endpoint = client.wait_endpoint(name, poll_interval=interval, timeout=timeout,
                                        on_update=lambda e: status.update(f"endpoint {name}: {e['status']}"))
    if endpoint["status"] != "InService":
        console.print(f"[red]endpoint {name} is {endpoint['status']}: {endpoint.get('failure_reason')}[/red]")
        raise typer.Exit(1)
    console.print(f"endpoint [bold]{name}[/bold] is InService")
    return endpoint
