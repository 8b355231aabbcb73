"""Progress of a run on several devices: one line per device in one rich display.

rich allows one live display at a time, so the devices share a :class:`Progress`; each device gets
a reporter (the harness's ``phase / done / failed / note``) that updates its own line. Progress
methods take rich's lock: workers may call them from their threads.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .planning import Job


class DeviceLines:
    def __init__(self, console: Console):
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False,
        )

    def __enter__(self) -> "DeviceLines":
        self.progress.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        self.progress.stop()

    def reporter(self, device: str, total: int | None) -> "DeviceLine":
        return DeviceLine(self.progress, device, total)


class DeviceLine:
    """The harness's reporter for one device: its own line, results printed above the lines."""

    def __init__(self, progress: Progress, device: str, total: int | None):
        self.progress, self.device = progress, device
        self.task = progress.add_task(escape(f"{device}: waiting"), total=total)

    def phase(self, job: Job, text: str) -> None:
        self.progress.update(self.task, description=escape(f"{self.device}: {job.label} — {text}"))

    def done(self, job: Job, row: dict[str, Any]) -> None:
        psnr = f", {row['psnr']:.2f} dB" if row.get("psnr") is not None else ""
        self.progress.console.print(f"  [green]✓[/] {escape(self.device)}: {escape(job.label)}: "
                                    f"{row['median_ms']:.2f} ms median{psnr}", highlight=False)
        self.progress.advance(self.task)

    def note(self, job: Job, text: str) -> None:
        self.progress.console.print(f"  [yellow]![/] {escape(self.device)}: {escape(text)}", highlight=False)

    def failed(self, job: Job, message: str) -> None:
        self.progress.console.print(f"  [yellow]✗[/] {escape(self.device)}: {escape(message)}", highlight=False)
        self.progress.advance(self.task)

    def finish(self, text: str) -> None:
        self.progress.update(self.task, description=escape(f"{self.device}: {text}"))
