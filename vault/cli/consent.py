"""consent record, state, history and export: a person's consent as
evidence; consent restrict, object, lift and override: their restrictions
and objections. Through a server, in words a privacy officer reads at 80
columns or through a pipe, and as JSON for tools (--json).

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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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
    from vault_client.consent import ProcessingLimit

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
        recorded = client.recorded_consent(
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
        _print_json(recorded)
        return 0
    from vault.reports.consent_terminal import print_recorded

    print_recorded(console, args.subject, recorded.events, recorded.erasure_requests)
    return 0


# ----------------------------------------------------------------- state
def _consent_state(args: argparse.Namespace) -> int:
    with _client(args) as client:
        states, limits = client.consent_state_and_limits(args.subject)
        if args.json:
            _print_json(states)
            return 0
        # An answer of no purposes is every purpose an integrator's token may
        # ask about (its system's, which the answer does not name): whether
        # others rest on consent, the configured purposes say.
        others = not states and any(p.legal_basis == "consent" for p in client.list_purposes())
    from vault.reports.consent_terminal import print_limits, print_state

    print_state(console, args.subject, states, only_some_asked=others)
    print_limits(console, limits)
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


# -------------------------------------------- restrictions and objections
LIMIT_OPTIONS = {
    "subject": "SUBJECT",
    "name": "NAME",
    "purposes": "--purpose",
    "reason": "--reason",
    "request_id": "--request-id",
}
# Every reason is one line of at most this many characters (the server's rule).
MAX_REASON = 500


def _reason(args: argparse.Namespace, what: str) -> str | None:
    """The --reason given, or None after one line saying what it is for."""
    reason = (args.reason or "").strip()
    if not reason:
        _fail(f"--reason: say why {what}, in one line of at most {MAX_REASON} characters")
        return None
    return reason


def _consent_restrict(args: argparse.Namespace) -> int:
    reason = _reason(args, "processing is restricted")
    if reason is None:
        return 2
    with _client(args) as client:
        limit = client.record_restriction(
            args.subject, args.purpose, reason, request_id=args.request_id
        )
    return _limit_done(args, limit, "recorded")


def _consent_object(args: argparse.Namespace) -> int:
    if not args.purpose:
        _fail("--purpose: name the purposes the person objects to (repeatable)")
        return 2
    reason = _reason(args, "the person objects")
    if reason is None:
        return 2
    with _client(args) as client:
        limit = client.record_objection(
            args.subject, args.purpose, reason, request_id=args.request_id
        )
    return _limit_done(args, limit, "recorded")


def _consent_lift(args: argparse.Namespace) -> int:
    reason = _reason(args, "it is lifted")
    if reason is None:
        return 2
    with _client(args) as client:
        limit = client.lift_processing_limit(args.name, reason, request_id=args.request_id)
    from vault.reports.consent_terminal import limit_lifted

    return _limit_done(args, limit, limit_lifted(limit))


def _consent_override(args: argparse.Namespace) -> int:
    reason = _reason(args, "the objection is overridden: the compelling legitimate grounds")
    if reason is None:
        return 2
    with _client(args) as client:
        limit = client.record_overriding_grounds(args.name, reason, request_id=args.request_id)
    return _limit_done(args, limit, "overridden by compelling grounds")


def _limit_done(args: argparse.Namespace, limit: ProcessingLimit, done: str) -> int:
    if args.json:
        _print_json(limit)
        return 0
    from vault.reports.consent_terminal import print_limit

    print_limit(console, limit, done)
    return 0


def limit_commands(consent_commands: Any, online: Sequence[argparse.ArgumentParser]) -> None:
    """consent restrict, object, lift and override."""
    from vault.cli.parser import _json_option

    reason_help = "why, in one line of at most 500 characters (required)"
    request_help = "an id for the call: sent again with it, nothing is recorded twice"

    restrict = consent_commands.add_parser(
        "restrict",
        parents=online,
        help="restrict processing of a person's data (GDPR art. 18), for some purposes or all",
        description="Restrict processing of a person's data for the purposes named, or with "
        "no --purpose for every purpose (GDPR art. 18): reads for them are refused "
        "(RESTRICTED) until `consent lift` lifts it. Answering the person's own requests "
        "(an export, an erasure) goes on.",
    )
    restrict.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    restrict.add_argument(
        "--purpose",
        action="append",
        default=[],
        metavar="P",
        help="a purpose processing is restricted for (repeatable; none: every purpose)",
    )
    restrict.add_argument(
        "--reason", metavar="TEXT", help=f"{reason_help}, such as 'accuracy contested'"
    )
    restrict.add_argument("--request-id", metavar="ID", help=request_help)
    _json_option(restrict)
    restrict.set_defaults(handler=_consent_restrict, options=LIMIT_OPTIONS)

    objection = consent_commands.add_parser(
        "object",
        parents=online,
        help="record a person's objection to processing for some purposes (GDPR art. 21)",
        description="Record a person's objection to processing for the purposes named (GDPR "
        "art. 21), each resting on legitimate interest or a public task, or direct marketing: "
        "reads for them are refused (OBJECTED). An objection to direct marketing is absolute; "
        "one to another purpose stands until a privacy officer records overriding grounds "
        "(`consent override`). For a purpose resting on consent, the person withdraws their "
        "consent instead (`consent record --status withdrawn`).",
    )
    objection.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    objection.add_argument(
        "--purpose",
        action="append",
        default=[],
        metavar="P",
        help="a purpose objected to (repeatable; at least one)",
    )
    objection.add_argument(
        "--reason", metavar="TEXT", help=f"{reason_help}: the person's words, or where they are"
    )
    objection.add_argument("--request-id", metavar="ID", help=request_help)
    _json_option(objection)
    objection.set_defaults(handler=_consent_object, options=LIMIT_OPTIONS)

    lift = consent_commands.add_parser(
        "lift",
        parents=online,
        help="lift a restriction, or record that the person withdrew their objection",
        description="Lift a restriction of processing, or record that the person withdrew "
        "their objection: an objection is the person's, and only they end one to direct "
        "marketing, which no grounds override (GDPR art. 21(3)). Reads for its purposes go "
        "on; it stays in the person's history, an objection's as withdrawn by the person.",
    )
    lift.add_argument(
        "name",
        metavar="NAME",
        help="subjects/{subject}/restrictions/{id} or subjects/{subject}/objections/{id}",
    )
    lift.add_argument(
        "--reason",
        metavar="TEXT",
        help=f"{reason_help}: why the restriction is lifted, or where the person withdrew "
        "their objection (their words, a letter, a form)",
    )
    lift.add_argument("--request-id", metavar="ID", help=request_help)
    _json_option(lift)
    lift.set_defaults(handler=_consent_lift, options=LIMIT_OPTIONS)

    override = consent_commands.add_parser(
        "override",
        parents=online,
        help="record the compelling grounds that override an objection (GDPR art. 21(1))",
        description="Record the compelling legitimate grounds that override a person's "
        "objection to a purpose resting on legitimate interest or a public task (GDPR art. "
        "21(1)): processing for it goes on. Never for an objection to direct marketing, which "
        "is absolute (OBJECTION_ABSOLUTE).",
    )
    override.add_argument("name", metavar="NAME", help="subjects/{subject}/objections/{id}")
    override.add_argument("--reason", metavar="TEXT", help=f"the grounds: {reason_help}")
    override.add_argument("--request-id", metavar="ID", help=request_help)
    _json_option(override)
    override.set_defaults(handler=_consent_override, options=LIMIT_OPTIONS)
