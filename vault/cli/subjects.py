"""The commands on subjects and their records, through the server."""

from __future__ import annotations

import argparse
import sys

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.markup import escape

    from vault.reports import terminal, words
    from vault_client import Content, Identity, Subject
except KeyboardInterrupt:
    raise SystemExit(130) from None


from vault.cli import _client, _fail, _identities, _print_json, console, errors


# ------------------------------------------------------------- subjects
def _subject_create(args: argparse.Namespace) -> int:
    with _client(args) as client:
        subject = client.create_subject(_identities(args), args.role, args.protected)
    _print_subject(subject, args.json)
    return 0


def _subject_find(args: argparse.Namespace) -> int:
    identities = _identities(args)
    if len(identities) != 1:
        errors.print("error: give exactly one identity (--pnr, --email, --phone or --external)")
        return 2
    with _client(args) as client:
        _print_subject(
            client.find_subject(identities[0].kind, identities[0].value, identities[0].system),
            args.json,
        )
    return 0


def _subject_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_subject(client.get_subject(args.name), args.json)
    return 0


def _subject_rectify(args: argparse.Namespace) -> int:
    with _client(args) as client:
        subject = client.rectify_identity(
            args.name,
            Identity(args.kind, args.old, args.system),
            Identity(args.kind, args.new, args.system),
        )
    _print_subject(subject, args.json)
    return 0


def _print_subject(subject: Subject, as_json: bool = False) -> None:
    if as_json:
        _print_json(subject)
    else:
        terminal.print_subject(console, subject)


# -------------------------------------------------------------- records
def _record_put(args: argparse.Namespace) -> int:
    fields: dict[str, object] = {}
    for item in args.field:
        key, sep, value = item.partition("=")
        if not sep:
            errors.print(f"error: --field {item!r} must be KEY=VALUE")
            return 2
        fields[key] = value
    content = None
    if args.file:
        try:
            content = Content(args.file.read_bytes(), args.media_type, args.file.name)
        except OSError as error:
            _fail(f"cannot read --file {args.file}: {error.strerror or error}")
            return 1
    with _client(args) as client:
        record = client.create_record(
            args.subject,
            category=args.category,
            purpose=args.purpose,
            legal_basis=args.basis,
            source_system=args.source,
            fields=fields,
            content=content,
        )
    console.print(record.name, soft_wrap=True, highlight=False)
    return 0


def _record_get(args: argparse.Namespace) -> int:
    with _client(args) as client:
        record = client.get_record(args.name, args.purpose)
    _print_json(record)
    return 0


def _record_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        records = list(client.list_records(args.subject, args.category, purpose=args.purpose))
    if args.json:
        _print_json(records)
        return 0
    terminal.print_records(console, records, args.purpose)
    return 0


def _record_erase(args: argparse.Namespace) -> int:
    what = f"{args.category} records" + (f" held for {args.purpose}" if args.purpose else "")
    if not args.yes:
        if not sys.stdin.isatty():
            errors.print("error: erasure cannot be undone; pass --yes to confirm")
            return 2
        answer = input(f"Erase the {what} of {args.subject}, for good? Type 'erase' to confirm: ")
        if answer.strip() != "erase":
            errors.print("not erased")
            return 1
    with _client(args) as client:
        erased = client.erase_category(args.subject, args.category, purpose=args.purpose)
    if args.json:
        _print_json(erased)
        return 0
    # The subject's name on a line of its own, whole, so it can be copied.
    console.print(args.subject, soft_wrap=True, highlight=False, markup=False)
    if not (erased.keys_destroyed or erased.records_shredded):
        # A mistyped category or purpose must not read as an erasure done.
        console.print(
            escape(
                f"  Nothing erased: the subject held no {args.category} records"
                + (f" for {args.purpose}." if args.purpose else ".")
            ),
            highlight=False,
            soft_wrap=False,
        )
        return 0
    console.print(
        escape(
            f"  Erased its {erased.category} records held for "
            f"{words.listed(erased.purposes, 'and')}: "
            f"{words.count(erased.records_shredded, 'record')} and "
            f"{words.count(erased.keys_destroyed, 'key')} destroyed."
        ),
        highlight=False,
        soft_wrap=False,  # wrapped at words, readable at 80 columns
    )
    return 0
