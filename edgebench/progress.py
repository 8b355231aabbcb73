"""The rich progress bar `edgebench run` shows while it works."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .planning import Job


class ProgressReporter:
    def __init__(self, console: Console, total: int, device: str):
        self.console, self.device = console, device
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=console, transient=False,
        )
        self.task = self.progress.add_task(f"{device}: starting", total=total)

    def __enter__(self) -> "ProgressReporter":
        self.progress.start()
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is not None:  # the error is the one line the user must read: no half-drawn bar above it
            self.progress.live.transient = True
        else:
            self.progress.update(self.task, description=f"{self.device}: done")
        self.progress.stop()

    def phase(self, job: Job, text: str) -> None:
        self.progress.update(self.task, description=escape(f"{self.device}: {job.label} — {text}"))

    def done(self, job: Job, row: dict[str, Any]) -> None:
        psnr = f", {row['psnr']:.2f} dB" if row.get("psnr") is not None else ""
        # partial delegation is the commonest delegate surprise: say it where the user looks
        delegation = (row.get("runtime") or {}).get("delegation")
        nodes = f", {delegation}" if delegation else ""
        self.progress.console.print(f"  [green]✓[/] {escape(job.label)}: {row['median_ms']:.2f} ms median{psnr}"
                                    f"{escape(nodes)}", highlight=False)
        self.progress.advance(self.task)

    def note(self, job: Job, text: str) -> None:
        self.progress.console.print(f"  [yellow]![/] {escape(text)}", highlight=False)

    def failed(self, job: Job, message: str) -> None:
        self.progress.console.print(f"  [yellow]✗[/] {escape(message)}", highlight=False)
        self.progress.advance(self.task)
