"""The panel's events: lists refreshed and followed, a job picked and watched, Generate on Cloud, Save, Send to
img2img and the settings form."""

from __future__ import annotations

import html
import time
from typing import Any

import gradio as gr

from sdcloud_client.client import FINAL_JOB_STATUSES
from sdcloud_client.progress import fraction_of, progress_text
from sdcloud_panel.compat import event_options, off_queue, periodically
from sdcloud_panel.labels import endpoint_name, job_id
from sdcloud_panel.payload import PanelError
from sdcloud_panel.service import NO_VAE_CHOICES, JobOutput, PanelService
from sdcloud_panel.sessions import Session
from sdcloud_panel.widgets import CloudPanel, SettingsForm, key_note

JOB_POLL_SECONDS = 1.0
JOB_LIST_SECONDS = 2.0  # the job list refreshes itself this often: new jobs on top, labels to succeed / fail
JOB_WATCH_SECONDS = 900.0


def _error(exc: PanelError) -> str:
    return f"**Error:** {exc}"


def wire_panel(panel: CloudPanel, service: PanelService, page: gr.Blocks | None = None) -> None:
    """Refresh buttons (also run when `page` loads), job picking and Save; the host wires Generate."""

    def refresh_endpoints(current: str | None) -> tuple[Any, str]:
        try:
            labels = service.endpoint_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        name = endpoint_name(current)
        value = next((label for label in labels if endpoint_name(label) == name), None)
        return _choices(labels, current, value), f"{len(labels)} endpoint(s)"

    _on_click_and_load(
        panel.endpoint_refresh, page, refresh_endpoints, [panel.endpoint], [panel.endpoint, panel.status]
    )

    def refresh_models(*current: Any) -> list[Any]:
        try:
            checkpoints = service.model_names("checkpoint")
            vaes = service.model_names("vae")
            loras = service.model_names("lora")
            controlnets = service.model_names("controlnet")
        except PanelError as exc:
            return [gr.update()] * (3 + len(panel.units)) + [_error(exc)]
        checkpoint, vae, chosen_loras, *unit_models = current
        return [
            gr.update(
                choices=checkpoints,
                value=checkpoint if checkpoint in checkpoints else (checkpoints[0] if checkpoints else None),
            ),
            gr.update(choices=NO_VAE_CHOICES + vaes, value=vae if vae in NO_VAE_CHOICES + vaes else "Automatic"),
            gr.update(choices=loras, value=[name for name in chosen_loras or [] if name in loras]),
            *[gr.update(choices=["None", *controlnets], value=m if m in controlnets else "None") for m in unit_models],
            f"{len(checkpoints)} checkpoint(s), {len(vaes)} VAE(s), {len(loras)} LoRA(s), "
            f"{len(controlnets)} ControlNet model(s)",
        ]

    unit_models = [unit["model"] for unit in panel.units]
    _on_click_and_load(
        panel.models_refresh,
        page,
        refresh_models,
        [*panel.model_inputs, *unit_models],
        [*panel.model_inputs, *unit_models, panel.status],
    )

    def job_choices(labels: list[str], current: str | None) -> Any:
        return _choices(labels, current, _same_job(labels, current))

    def refresh_jobs(current: str | None, session: Session) -> tuple[Any, str]:
        try:
            labels = service.job_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        session.listed = labels  # shown: the next follow_jobs has nothing to send (its answer could undo a pick)
        return job_choices(labels, current), f"{len(labels)} job(s)"

    _on_click_and_load(
        panel.job_refresh, page, refresh_jobs, [panel.job, panel.session], [panel.job, panel.status]
    )

    outputs = [panel.gallery, panel.progress, panel.prompt_out, panel.info_out, panel.status]
    unchanged = (gr.update(),) * len(outputs)

    def show_job(label: str | None, session: Session) -> Any:
        """Fill Output with the job as it is now (quick: it always runs, even while a watcher does)."""
        session.shown_job = label
        if not label:
            return unchanged
        try:
            output = service.job_output(label)
        except PanelError as exc:
            return *unchanged[:-1], _error(exc)
        if session.shown_job != label:
            return unchanged  # picked again while this read: that pick's answer shows its job
        session.shown_state = _state(label, output)
        return _output_updates(output)

    def watch(session: Session) -> Any:
        """Follow the session's shown job until it ends, whichever job that becomes meanwhile: its progress bar
        while it runs, its images once it has.

        gradio 3 drops a trigger of an event that is still running, so one watcher must follow later
        picks and submissions; where a newer watcher does start (current gradio), the older one stops.
        gradio 3.41 ends a generator by sending its last output once more, or None for every output (which
        blanks Output) when it sent none: a watcher's last word is no change.
        """
        session.watcher += 1
        generation = session.watcher
        session.watching = True
        try:
            yield from follow_shown(session, generation)
        finally:
            if session.watcher == generation:
                session.watching = False
        yield unchanged

    def follow_shown(session: Session, generation: int) -> Any:
        deadline = time.monotonic() + JOB_WATCH_SECONDS
        while session.watcher == generation and time.monotonic() < deadline:
            label = session.shown_job
            if not label:
                return
            try:
                output = service.job_output(label)
            except PanelError as exc:
                yield *unchanged[:-1], _error(exc)
                return
            if session.shown_job != label:
                continue  # picked meanwhile: that pick's answer shows its job
            if _state(label, output) != session.shown_state:
                session.shown_state = _state(label, output)
                yield _output_updates(output)
            if output.finished and session.shown_job == label:
                return
            time.sleep(JOB_POLL_SECONDS)

    def catch_up(picked: str | None, session: Session) -> Any:
        """Output put right from the job list's own value. gradio 3.41 drops a pick made while the previous
        pick's show_job is still pending (its frontend skips a trigger of a pending event): the list then shows
        the pick and Output the job before. A pick two ticks in a row found unshown is shown here (one tick can
        have read the list just before the pick's own show_job ran); no watcher follows it then, so the ticks
        follow a shown job that runs while no watcher does."""
        unshown = picked if picked and job_id(picked) != job_id(session.shown_job) else None
        seen_before, session.unshown_pick = session.unshown_pick, unshown
        if unshown is not None and unshown == seen_before:
            session.unshown_pick = None
            return show_job(unshown, session)
        label, state = session.shown_job, session.shown_state
        if session.watching or not label or state is None or state[1] in FINAL_JOB_STATUSES:
            return unchanged
        try:
            output = service.job_output(label)
        except PanelError:
            return unchanged
        if session.watching or session.shown_job != label or session.shown_state != state:
            return unchanged  # a watcher or a pick took over while this tick read
        if _state(label, output) == state:
            return unchanged
        session.shown_state = _state(label, output)
        return _output_updates(output)

    def follow_jobs(picked: str | None, session: Session) -> Any:
        """Every few seconds: new jobs on top of the list, the shown job's label moving on (an unchanged list
        is left alone, and so is one listed or picked while this one was read: its answer could land after
        theirs and undo them); then Output put right (`catch_up`)."""
        listed, shown = session.listed, session.shown_job
        try:
            labels = service.job_labels()
        except PanelError:
            return gr.update(), *unchanged
        listing = gr.update()
        if labels != listed and session.listed is listed and session.shown_job == shown:
            session.listed = labels
            listing = followed(labels, shown)
        return listing, *catch_up(picked, session)

    periodically(
        page, JOB_LIST_SECONDS, follow_jobs, [panel.job, panel.session], [panel.job, *outputs], panel.eid("job_follow")
    )

    panel.job.change(show_job, [panel.job, panel.session], outputs, **event_options()).then(
        watch, [panel.session], outputs, **event_options(then=True)
    )

    def save(label: str | None) -> tuple[Any, str]:
        try:
            paths = service.save_images(label)
        except PanelError as exc:
            return gr.update(visible=False), _error(exc)
        return gr.update(value=paths, visible=True), f"Saved {len(paths)} image(s)"

    panel.save.click(save, [panel.job], [panel.files, panel.status])


def followed(labels: list[str], shown: str | None) -> Any:
    """The followed job list: new choices, and a new value only where the shown job's own label moved on.
    Setting an unchanged value would undo a job picked while the list was being read (its answer lands after
    the pick, and the page would go back to the job shown before)."""
    moved = _same_job(labels, shown)
    return gr.update(choices=labels, value=moved) if moved and moved != shown else gr.update(choices=labels)


def _same_job(labels: list[str], label: str | None) -> str | None:
    """The label in `labels` of `label`'s job, whatever its status now."""
    ident = job_id(label)
    return next((other for other in labels if job_id(other) == ident), None) if ident else None


def _choices(labels: list[str], current: str | None, value: str | None) -> Any:
    """New choices; the value is only touched when one was chosen (a pick made meanwhile stays)."""
    return gr.update(choices=labels, value=value) if current else gr.update(choices=labels)


def _on_click_and_load(button: Any, page: gr.Blocks | None, fn: Any, inputs: list[Any], outputs: list[Any]) -> None:
    """`fn` reports in the status line (the last output) when clicked; on page load it only fills lists."""
    button.click(fn, inputs, outputs)
    if page is not None:
        page.load(lambda *args: [*fn(*args)[:-1], gr.update()], inputs, outputs, **off_queue())


def _state(label: str, output: JobOutput) -> tuple[str, str, object]:
    return label, output.job["status"], output.job.get("progress")


def _output_updates(output: JobOutput) -> tuple[Any, str, Any, Any, str]:
    bar = progress_bar(output.job)
    if output.job["status"] != "succeeded":
        return gr.update(value=[], visible=False), bar, "", "", output.message
    return gr.update(value=output.images, visible=True), bar, output.prompt, output.info, output.message


def progress_bar(job: dict[str, Any]) -> str:
    """The job's steps as a bar with the words of `progress_text` (queued: an empty bar); nothing once it ended."""
    if not job.get("progress"):
        return ""
    percent = round(100 * (fraction_of(job) or 0))
    return (f'<div class="sdcloud-progress"><progress max="100" value="{percent}"></progress> '
            f"<span>{html.escape(progress_text(job))}</span></div>")


def wire_generate(
    panel: CloudPanel, service: PanelService, button: Any, native: dict[str, Any] | None, interrupt: Any = None
) -> None:
    """Generate on Cloud: check the endpoint, submit, put the new job on top of the list and show it.
    `native` holds the standalone page's parameter widgets; None when the host submits itself (WebUI, whose
    own Interrupt cancels the job); `interrupt` the standalone page's Interrupt button: it cancels the shown job."""

    def label_for(endpoint: str | None) -> Any:
        return gr.update(value=service.button_label(endpoint))

    panel.endpoint.change(label_for, [panel.endpoint], [button])
    if native is None:
        return
    names = list(native)
    model_count = len(panel.model_inputs)

    def generate(session: Session, endpoint: str | None, *args: Any) -> tuple[Any, str]:
        native_values = dict(zip(names, args[: len(names)], strict=True))
        models, units = panel.values(args[len(names) : len(names) + model_count], args[len(names) + model_count :])
        try:
            label = service.submit(panel.task, endpoint, {**native_values, **models}, units)
            labels = service.job_labels()
        except PanelError as exc:
            return gr.update(), _error(exc)
        session.shown_job = label  # a running watcher follows the new job
        session.listed = labels
        return gr.update(choices=labels, value=label), f"Submitted: {label}"

    button.click(
        generate,
        [panel.session, panel.endpoint, *native.values(), *panel.model_inputs, *panel.unit_inputs],
        [panel.job, panel.status],
        **event_options(),
    )
    if interrupt is None:
        return

    def cancel(session: Session) -> str:
        try:
            return service.cancel(session.shown_job)
        except PanelError as exc:
            return _error(exc)

    interrupt.click(cancel, [panel.session], [panel.status], **event_options())


def wire_send_to_img2img(
    panel: CloudPanel, service: PanelService, targets: dict[str, Any], tabs: Any, tab_id: str = "img2img"
) -> None:
    """Carry the shown job's first image and its parameters into the img2img tab and switch to it.
    `targets` maps `init_image` and WebUI API parameter names to the img2img widgets."""
    names = list(targets)

    def send(label: str | None) -> list[Any]:
        try:
            output = service.job_output(label)
        except PanelError as exc:
            return [gr.update()] * (len(names) + 1) + [_error(exc)]
        if not output.images:
            return [gr.update()] * (len(names) + 1) + [_error(PanelError("The job has no image to send"))]
        params = {**(output.job.get("parameters") or {}), "init_image": output.images[0]}
        if output.job.get("seeds"):
            params["seed"] = output.job["seeds"][0]
        values = [gr.update(value=params[name]) if name in params else gr.update() for name in names]
        return [*values, gr.update(selected=tab_id), f"Sent {output.job['id']} to img2img"]

    panel.send_to_img2img.click(send, [panel.job], [*targets.values(), tabs, panel.status])


def wire_settings(form: SettingsForm, service: PanelService) -> None:
    """Save and test: an empty key field keeps the saved key. Upload: with a progress bar."""

    def save_and_test(api_url: str, api_key: str, unit_count: float | None = None) -> tuple[str, str, str, str]:
        changes: dict[str, Any] = {"api_url": api_url.strip().rstrip("/"), "api_key": api_key.strip()}
        if unit_count is not None:
            changes["controlnet_units"] = int(unit_count)
        saved = service.store.save(**changes)
        if not saved.api_url:
            return saved.api_url, "", key_note(saved), _error(PanelError("No API URL: enter the sd-cloud API's URL"))
        return saved.api_url, "", key_note(saved), service.test_connection(saved.api_url, saved.api_key)

    units = [form.units] if form.units is not None else []
    form.test.click(save_and_test, [form.url, form.key, *units], [form.url, form.key, form.key_note, form.result])

    def upload_model(path: str, name: str, type: str, progress: Any = gr.Progress()) -> str:  # noqa: B008
        def report(sent: int, total: int) -> None:
            progress((sent, total), desc="Uploading", unit="bytes")

        try:
            return service.upload_model(path, name, type, report)
        except PanelError as exc:
            return _error(exc)

    form.upload.click(upload_model, [form.upload_path, form.upload_name, form.upload_type], [form.uploaded])
