"""consent record, state, history and export: a person's consent as
evidence, through a server, in words a privacy officer reads at 80 columns
or through a pipe, and as JSON for tools (--json).

What the options say is checked before any call (a status, a channel, a
time that does not read is one line naming the option, exit 2); what the
server refuses (a purpose not configured, a withdrawal with nothing to
withdraw) is one line naming the option too, exit 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import _client, _fail, _print_json, console, errors
    from vault.reports.words import count
    from vault_client.client import whole_file
    from vault_client.consent import squeezed
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from vault_client import ConsentExport

# The statuses `--status` takes, as people write them, with the client's codes
# for them. The channels `--channel` takes are the words the tables print
# (vault.reports.consent_terminal.CHANNELS), read when a consent is recorded.
STATUSES = {word: word for word in ("given", "refused", "withdrawn", "renewed")}
# What the person did, by status, in a sentence: "the purposes the person gave consent for".
DID = {"given": "gave", "refused": "refused", "withdrawn": "withdrew", "renewed": "renewed"}
# The API's fields, as the options (or arguments) that gave them.
RECORD_OPTIONS = {
    "subject": "SUBJECT",
    "purposes": "--purpose",
    "status": "--status",
    "channel": "--channel",
    "evidence": "--evidence",
    "policy_version": "--policy-version",
    "time": "--time",
    "expire_time": "--expires",
    "request_id": "--request-id",
}
READ_OPTIONS = {"subject": "SUBJECT", "purpose": "--purpose"}
# Events asked for a page of a history (the command follows the pages to the end).
HISTORY_PAGE = 500


class BadOption(Exception):
    """An option's value that does not read: the message starts with the option."""


def one_of(text: str, known: dict[str, str], option: str) -> str:
    """`text` as the client's code for one of the words `known` ("web form",
    "Web-Form" and "web_form" are one), or BadOption listing the words."""
    wanted = squeezed(text)
    for word, code in known.items():
        if squeezed(word) == wanted:
            return code
    listed = ", ".join(f'"{w}"' if " " in w else w for w in known)
    raise BadOption(f"{option}: {text!r} is not one of {listed}")


def moment(text: str | None, option: str) -> dt.datetime | None:
    """An ISO 8601 date or time (UTC unless it says otherwise; a date is its
    midnight), or BadOption."""
    if text is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadOption(
            f"{option}: {text!r} is not a date or time such as 2026-11-24 or 2026-11-24T09:30Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def refused(error: BadOption) -> int:
    _fail(str(error))
    return 2


# ---------------------------------------------------------------- record
def channel_codes() -> dict[str, str]:
    """The words `--channel` takes, with the client's codes for them."""
    from vault.reports.consent_terminal import CHANNELS

    return {word: code for code, (word, _) in CHANNELS.items()}


def _consent_record(args: argparse.Namespace) -> int:
    try:
        status = one_of(args.status, STATUSES, "--status")
        channel = one_of(args.channel, channel_codes(), "--channel")
        time = moment(args.time, "--time")
        expires = moment(args.expires, "--expires")
    except BadOption as error:
        return refused(error)
    if not args.purpose and status != "withdrawn":
        _fail(f"--purpose: name the purposes the person {DID[status]} consent for (repeatable)")
        return 2
    with _client(args) as client:
        events = client.record_consent(
            args.subject,
            args.purpose,
            status,
            channel,
            evidence=args.evidence,
            policy_version=args.policy_version,
            time=time,
            expire_time=expires,
            request_id=args.request_id,
        )
    if args.json:
        _print_json(events)
        return 0
    from vault.reports.consent_terminal import print_recorded

    print_recorded(console, args.subject, events)
    return 0


# ----------------------------------------------------------------- state
def _consent_state(args: argparse.Namespace) -> int:
    with _client(args) as client:
        states = client.consent_state(args.subject)
        if args.json:
            _print_json(states)
            return 0
        # An answer of no purposes is every purpose an integrator's token may
        # ask about (its system's, which the answer does not name): whether
        # others rest on consent, the configured purposes say.
        others = not states and any(p.legal_basis == "consent" for p in client.list_purposes())
    from vault.reports.consent_terminal import print_state

    print_state(console, args.subject, states, only_some_asked=others)
    return 0


# --------------------------------------------------------------- history
def _consent_history(args: argparse.Namespace) -> int:
    with _client(args) as client:
        events = list(client.consent_history(args.subject, args.purpose, page_size=HISTORY_PAGE))
    if args.json:
        _print_json(events)
        return 0
    from vault.reports.consent_terminal import print_history

    print_history(console, args.subject, events)
    return 0


# ---------------------------------------------------------------- export
def _consent_export(args: argparse.Namespace) -> int:
    to_stdout = args.output is None or str(args.output) == "-"
    with _client(args) as client:
        if to_stdout:
            exported = client.export_consent_records(args.subject)
            sys.stdout.write(_readable(exported.document))
            sys.stdout.flush()
            errors.print(f"{_records(exported)} (DPV, JSON-LD)", highlight=False, markup=False)
            return 0
        # The place is tried before the call, as for the subject's export:
        # nothing is asked of the vault for a file that cannot be written.
        try:
            with whole_file(args.output) as out:
                exported = client.export_consent_records(args.subject)
                out.write(_readable(exported.document).encode())
        except OSError as error:
            _fail(f"cannot write the export to {args.output}: {error.strerror or error}")
            return 1
    console.print(
        f"{_records(exported)} (DPV, JSON-LD) written to {args.output}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return 0


def _readable(document: bytes) -> str:
    """Indented, for a person to read; the same JSON-LD, for a tool, either way."""
    return json.dumps(json.loads(document), indent=2, ensure_ascii=False) + "\n"


def _records(exported: ConsentExport) -> str:
    return count(exported.record_count, "consent record")
