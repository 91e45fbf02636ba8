"""audit verify, list, head and public-key: the auditor's commands.

`verify` runs on the data directory (or the database URLs), with no server:
it folds the events still waiting into the signed tree first, as a server's
sequencer would, then checks every event against every signed head. Its
exit code says what it found: 0 no change, 1 changes (one line each), 2 the
log could not be checked. The others ask a server, as an auditor or a
privacy officer: `list` prints a table that reads at 80 columns, or JSON
Lines with --json; `head` the latest signed tree head; `public-key` the PEM
that verifies heads, for OpenSSL.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import textwrap
from typing import TYPE_CHECKING, Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import _client, _fail, console, errors
    from vault.reports.words import count
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from vault.core.vault import Vault
    from vault_client import AuditEvent, TreeHead

# Exit codes of `audit verify`.
VERIFIED = 0
CHANGED = 1
NOT_VERIFIED = 2
# How much of a pseudonym the table shows: enough to tell people apart on a
# screen; --json and --subject have it whole.
PSEUDONYM_SHOWN = 8
# Past this many events, verify says on stderr what it is doing (a million
# take tens of seconds).
LONG_LOG = 100_000
# The API's fields, as the options that gave them.
LIST_OPTIONS = {
    "start_time": "--since",
    "end_time": "--until",
    "actor": "--actor",
    "operation": "--operation",
    "subject": "--subject",
    "page_size": "--limit",
}


def event_time(text: str) -> dt.datetime:
    """An ISO 8601 date or time, as --since and --until take it; UTC unless it
    says otherwise."""
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time such as 2026-11-24 or 2026-11-24T09:30Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def event_count(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of events (0 for all)")
    return number


# ---------------------------------------------------------------- verify
def _audit_verify(args: argparse.Namespace) -> int:
    from vault import bootstrap
    from vault import settings as configuration
    from vault.cli.offline import open_vault
    from vault.core.errors import VaultError
    from vault.crypto import KeyringError, TamperedError

    directory = configuration.data_dir(args.data_dir)
    opened = open_vault(
        args, directory, configuration.keyring_settings(directory, args.keyring), existing=True
    )
    if opened is None:
        return NOT_VERIFIED
    runtime, vault = opened
    with contextlib.closing(runtime):
        try:
            return _verify(vault)
        except KeyboardInterrupt:
            _fail("verify was cut short (Ctrl-C): nothing was found or changed; run it again")
            return 130
        except (VaultError, KeyringError, TamperedError, *bootstrap.STORAGE_ERRORS) as error:
            _fail(f"the audit log could not be verified: {getattr(error, 'message', error)}")
            return NOT_VERIFIED
        except Exception as error:
            # A row that does not even read (a time or a hash edited into
            # something else) stops the check; it is no proof of anything.
            _fail(
                "the audit log could not be read to its end, so it was not verified "
                f"({type(error).__name__}: {error}); it may have been changed outside the vault"
            )
            return NOT_VERIFIED


def _verify(vault: Vault) -> int:
    # As a server's sequencer would: verify checks what is in the signed tree.
    sequenced = vault.sequencer.run_until_done()
    if sequenced:
        errors.print(
            f"{count(sequenced, 'waiting event')} folded into the signed tree first",
            highlight=False,
            markup=False,
        )
    size = vault.audit_log.store.size()
    if size >= LONG_LOG:
        errors.print(f"verifying {count(size, 'event')}…", highlight=False, markup=False)
    result = vault.audit_log.verify()
    checked = f"{count(result.events, 'event')} against {count(result.heads, 'signed tree head')}"
    if result.ok:
        _line(f"verified {checked}: no change found")
        return VERIFIED
    for finding in result.findings:
        _line(finding.what)
    errors.print(
        f"{count(len(result.findings), 'change')} found in {checked}",
        highlight=False,
        markup=False,
    )
    return CHANGED


# ------------------------------------------------------------------ list
def _audit_list(args: argparse.Namespace) -> int:
    wanted = args.limit or None
    page_size = min(wanted + 1, 1000) if wanted else 1000
    with _client(args) as client:
        found = client.list_audit_events(
            since=args.since,
            until=args.until,
            actor=args.actor,
            operation=args.operation,
            subject=args.subject,
            sensitive=args.sensitive,
            page_size=page_size,
        )
        events = list(_first(found, wanted + 1)) if wanted else list(found)
    more = wanted is not None and len(events) > wanted
    events = events[:wanted]
    if args.json:
        for event in events:
            sys.stdout.write(json.dumps(_event_json(event), ensure_ascii=False) + "\n")
    else:
        _print_events(events)
    if more:
        errors.print(
            f"(the first {count(len(events), 'event')} shown, oldest first; more match: "
            "--limit 0 lists every one, --since or another filter fewer)",
            highlight=False,
            markup=False,
        )
    return 0


def _first(events: Any, number: int) -> Any:
    for taken, event in enumerate(events):
        if taken >= number:
            return
        yield event


def _print_events(events: list[AuditEvent]) -> None:
    """A line an event, time, operation, subject and result in columns (at
    most 79 characters whatever the words), and under it who did it, wrapped
    at spaces: an actor is never cut or folded, so a token's name can be
    copied whole."""
    if not events:
        _line("no audit events")
        return
    width = max(len("operation"), *(len(event.operation) for event in events))
    _line(f"{'time (UTC)':<19}  {'operation':<{width}}  {'subject':<{PSEUDONYM_SHOWN}}  result")
    for event in events:
        subject = event.subject_pseudonym[:PSEUDONYM_SHOWN] or "-"
        when = f"{event.time.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S}"
        _line(f"{when}  {event.operation:<{width}}  {subject:<{PSEUDONYM_SHOWN}}  {event.result}")
        by = f"by {event.actor}" + ("; sensitive" if event.sensitive else "")
        # Wrapped at spaces only, so a token's name is never broken.
        for line in textwrap.wrap(
            by,
            width=78,
            initial_indent="  ",
            subsequent_indent="     ",
            break_long_words=False,
            break_on_hyphens=False,
        ):
            _line(line)


def _event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "index": event.index,
        "time": event.time.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "system": event.system,
        "operation": event.operation,
        "subject_pseudonym": event.subject_pseudonym,
        "purpose": event.purpose,
        "sensitive": event.sensitive,
        "result": event.result,
        "detail": event.detail,
    }


# ------------------------------------------------------ head, public key
def _audit_head(args: argparse.Namespace) -> int:
    with _client(args) as client:
        signed = client.tree_head(args.size)
    head = signed.head
    if args.json:
        sys.stdout.write(
            json.dumps({**_head_json(head), "public_key": signed.public_key.hex()}) + "\n"
        )
        return 0
    signature = head.signature.hex()
    # Each value on lines of at most 64 hex digits: 80 columns, never wrapped.
    for label, value in [
        ("size", f"{head.size:,} events"),
        ("root", head.root_hash.hex()),
        ("time", _millisecond(head.time)),
        ("signature", signature[:64]),
        ("", signature[64:]),
    ]:
        if value:
            _line(f"{label:<11}{value}")
    return 0


def _head_json(head: TreeHead) -> dict[str, Any]:
    return {
        "size": head.size,
        "root_hash": head.root_hash.hex(),
        "time": head.time.isoformat(),
        "signature": head.signature.hex(),
    }


def _millisecond(moment: dt.datetime) -> str:
    at = moment.astimezone(dt.UTC)
    return f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC"


def _audit_public_key(args: argparse.Namespace) -> int:
    with _client(args) as client:
        signed = client.tree_head()
    # The PEM exactly, so `> audit.pem` makes a file OpenSSL reads.
    sys.stdout.write(signed.public_key_pem)
    return 0


def _line(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)
