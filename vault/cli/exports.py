"""The export command: a subject's data, from the vault and its systems, into one archive."""

from __future__ import annotations

import argparse
from pathlib import Path

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from vault.reports import terminal
except KeyboardInterrupt:
    raise SystemExit(130) from None


from vault.cli import _client, _fail, console, errors


def _export(args: argparse.Namespace) -> int:
    columns = (
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}
    earlier = _file_identity(args.output)
    try:
        # Bars only in a terminal, and gone when the export ends: the summary
        # says how each system's part went.
        with (
            Progress(
                *columns, console=errors, transient=True, disable=not errors.is_terminal
            ) as progress,
            _client(args) as client,
        ):

            def show(system: str, done: int, total: int) -> None:
                if system not in tasks:
                    tasks[system] = progress.add_task(system, total=None)
                progress.update(tasks[system], completed=done, total=total or None)

            summary = client.export_subject(
                args.subject,
                args.output,
                progress=show,
                same_person_systems=args.same_person,
                decided_by=args.by,
            )
    except OSError as error:
        # The client wrote nothing at the path: the archive goes there whole or not at all.
        _fail(f"cannot write the export to {args.output}: {error.strerror or error}")
        return 1
    except KeyboardInterrupt:
        if _file_identity(args.output) not in (None, earlier):
            # Interrupted after the whole archive was renamed into place.
            console.print(f"the export was written whole to {args.output}", highlight=False)
            return 0
        _fail(
            f"interrupted: nothing was written to {args.output}"
            + (" (the earlier file there is as it was)" if earlier else "")
        )
        return 130
    try:
        terminal.print_export_summary(console, summary, args.output)
    except KeyboardInterrupt:
        return 0  # the archive is complete; only the summary was cut short
    return 0


def _file_identity(path: Path) -> tuple[int, int] | None:
    """Which file is at `path` now (device and inode), if any: a new export
    is renamed into place, so a changed identity means it was written."""
    try:
        found = path.resolve().stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino
