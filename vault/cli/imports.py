"""The import command: a file of people into the vault, in batches, through the server."""

from __future__ import annotations

import argparse
import re
import uuid

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from vault.reports import words
    from vault_client import VaultClientError
    from vault_client.client import IMPORT_BATCH_SUBJECTS
    from vault_client.errors import ServerUnreachableError
except KeyboardInterrupt:
    raise SystemExit(130) from None


from vault.cli import _client, _fail, _option_for, _print_json, console, errors

# Lines that are not a person listed at most, before "and N more".
BAD_LINES_SHOWN = 10


# ------------------------------------------------------------- import
def _import(args: argparse.Namespace) -> int:
    from vault.people_file import BadLine, check, read_people

    if not 1 <= args.batch <= IMPORT_BATCH_SUBJECTS:
        _fail(f"--batch {args.batch}: must be from 1 to {IMPORT_BATCH_SUBJECTS}")
        return 2
    lines, bad = check(args.file)
    if bad:
        for line in bad[:BAD_LINES_SHOWN]:
            _fail(str(line))
        if len(bad) > BAD_LINES_SHOWN:
            errors.print(f"and {words.count(len(bad) - BAD_LINES_SHOWN, 'more line')}")
        errors.print(f"nothing was imported from {args.file}", highlight=False)
        return 1
    if not lines:
        _fail(f"{args.file}: holds no people")
        return 1
    request_id = args.request_id or uuid.uuid4().hex
    ends: list[int] = []  # where each batch sent ends, in people
    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        # The bar only in a terminal, and gone at the end: the summary line stays.
        with (
            Progress(
                *columns, console=errors, transient=True, disable=not errors.is_terminal
            ) as progress,
            _client(args) as client,
        ):
            task = progress.add_task("importing", total=len(lines))

            def sent(people: int) -> None:
                ends.append(people)
                progress.update(task, completed=people)

            summary = client.import_subjects(
                read_people(args.file),
                batch=args.batch,
                request_id=request_id,
                progress=sent,
            )
    except BadLine as changed:  # the file changed since it was checked
        _fail(f"{changed}; the file changed while it was imported")
        _say_how_to_resume(request_id, lines, ends)
        return 1
    except ServerUnreachableError:
        if not ends:
            raise  # nothing was sent: the usual line says what to do
        _fail(f"the server at {args.server} went away during the import")
        _say_how_to_resume(request_id, lines, ends)
        return 1
    except VaultClientError as error:
        _refused(error, args, request_id, lines, ends)
        return 1
    except KeyboardInterrupt:
        _fail("interrupted")
        _say_how_to_resume(request_id, lines, ends)
        return 130
    if args.json:
        _print_json(summary)
        return 0
    console.print(
        f"imported {words.people(summary.subject_count)} with "
        f"{words.count(summary.record_count, 'record')} from {args.file}",
        highlight=False,
    )
    return 0


_PERSON_FIELD = re.compile(r"subjects\[(\d+)\]\.?")


def _refused(
    error: VaultClientError,
    args: argparse.Namespace,
    request_id: str,
    lines: list[int],
    ends: list[int],
) -> None:
    """Why the vault refused the import, at which line, and what it stored."""
    reason = f" [dim](reason: {escape(error.reason)})[/dim]" if error.reason else ""
    placed = _PERSON_FIELD.match(error.field or "")
    if placed is None:
        option = _option_for(error.field, args) if error.field else None
        message = error.message
        if option and error.field and message.startswith(f"{error.field}:"):
            message = option + message.removeprefix(error.field)
        errors.print(f"[red]error:[/red] {escape(message)}{reason}", highlight=False)
        if error.reason == "REQUEST_ID_REUSED":
            errors.print(
                "That --request-id stored other batches: those of another file, or of "
                "another --batch. Run with the file and --batch it was first used with.",
                highlight=False,
            )
        else:
            _say_how_to_resume(request_id, lines, ends)
        return
    index = int(placed[1])
    # "subjects[7].records[1].category: must be ..." reads "line 9: records[1].category: ...".
    message = _PERSON_FIELD.sub("", error.message, count=1)
    errors.print(
        f"[red]error:[/red] line {lines[index]}: {escape(message)}{reason}", highlight=False
    )
    start = max([end for end in ends if end <= index], default=0)
    end = min([end for end in ends if end > index], default=len(lines))
    stored = (
        f"lines {lines[0]}-{lines[start - 1]} were ({words.people(start)})"
        if start
        else "nothing before it was either"
    )
    errors.print(
        f"nothing of its batch (lines {lines[start]}-{lines[end - 1]}) was stored; {stored}.",
        highlight=False,
    )
    fix = (
        "Correct or remove the line (the person may be in the vault already)"
        if error.reason == "IDENTITY_IN_USE"
        else "Fix the line"
    )
    errors.print(
        f"{fix}, then run again with --request-id {request_id}: "
        "what is stored already is not stored twice.",
        highlight=False,
    )


def _say_how_to_resume(request_id: str, lines: list[int], ends: list[int]) -> None:
    sent = f"up to line {lines[ends[-1] - 1]}" if ends else "none"
    errors.print(
        f"Of the people sent ({sent}), the batches the vault took are stored. Run again "
        f"with --request-id {request_id} to store the rest: none is stored twice.",
        highlight=False,
    )
