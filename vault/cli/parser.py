"""The command line's words: the parser, its commands and their options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import DEFAULT_ADDRESS, DEMO_TOKEN, SERVER_ENV
    from vault.cli.audit import (
        LIST_OPTIONS,
        _audit_head,
        _audit_list,
        _audit_public_key,
        _audit_verify,
        event_count,
        event_time,
    )
    from vault.cli.connectors import _connectors_check, _connectors_list
    from vault.cli.consent import (
        READ_OPTIONS,
        RECORD_OPTIONS,
        _consent_export,
        _consent_history,
        _consent_record,
        _consent_state,
        limit_commands,
    )
    from vault.cli.contact import add_contactable
    from vault.cli.erasure import (
        _erase,
        _requests_confirm,
        _requests_decide,
        _requests_list,
        _requests_retry,
        _requests_show,
    )
    from vault.cli.exports import _export
    from vault.cli.imports import _import
    from vault.cli.offline import _migrate, _retire_kek, _rotate_kek, _serve
    from vault.cli.policy import (
        AFFECTED_OPTIONS,
        PUBLISH_OPTIONS,
        _policy_affected,
        _policy_list,
        _policy_publish,
    )
    from vault.cli.purposes import _purposes_check, _purposes_list
    from vault.cli.subjects import (
        _record_erase,
        _record_get,
        _record_list,
        _record_put,
        _subject_create,
        _subject_find,
        _subject_rectify,
        _subject_show,
    )
    from vault.cli.tokens import (
        ROLES,
        _tokens_create,
        _tokens_list,
        _tokens_revoke,
        role_word,
    )
    from vault.v1 import vault_pb2 as pb
    from vault_client.credentials import TLS_CA_ENV, TOKEN_ENV, TOKEN_FILE_ENV
except KeyboardInterrupt:
    raise SystemExit(130) from None


# Every read of records names the purpose it is for.
_READ_PURPOSE = (
    "the purpose the records are read for (default: the token's; a privacy "
    "officer's is rights_requests, answering the person's request)"
)


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")


# The legal bases a record may rest on, as the client names them (GDPR art. 6(1)).
LEGAL_BASES = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interest",
]

# The states an erasure request can be listed by, as the client names them.
_REQUEST_STATES = [
    value.name.removeprefix("ERASURE_REQUEST_STATE_").lower()
    for value in pb.ErasureRequestState.DESCRIPTOR.values
    if value.number
]


IMPORT_DESCRIPTION = """\
Register the people in PEOPLE.jsonl with their records: one person a line, as
JSON (blank lines are skipped), such as

  {"identities": [{"kind": "personnummer", "value": "19850312-1231"},
                  {"kind": "email", "value": "eva@example.se"},
                  {"kind": "external_id", "system": "lms", "value": "1001"}],
   "roles": ["student"], "protected": false,
   "records": [{"category": "contact", "purpose": "course_delivery",
                "legal_basis": "contract", "source_system": "lms",
                "fields": {"city": "Malmo"}}]}

written on one line. identities is needed (kind: personnummer, email, phone
or external_id, the last with its system); roles, protected (false unless
given) and records may be left out. A record's legal_basis is one of
consent, contract, legal_obligation, vital_interests, public_task or
legitimate_interest; its fields are optional.

Every line is read before anything is sent: lines that are not a person in
this form are listed by number, and nothing is stored. The people then go in
batches (--batch), each stored all or nothing, in the file's order. A person
the vault refuses (a value that breaks a rule, an identity someone holds
already) stops the import at their line: nothing of their batch is stored,
the batches before it are. Fix the line and run the command again with the
--request-id it printed: the batches stored already are not stored twice.
"""


class _Parser(argparse.ArgumentParser):
    """A parser that takes no abbreviation of an option (`--older` is not
    `--older-than` on a command that destroys keys); its sub-parsers are of
    this class too (argparse makes them of the parent's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="consent-vault",
        description="A consent and record vault, encrypted per data subject.",
        epilog="The options above (--server, --token-file, the TLS ones) go before the "
        "command or after it: consent-vault subject show NAME --token-file FILE.",
    )
    _connection_options(parser)
    commands = parser.add_subparsers(title="commands")
    # The connection options again on every command that calls a server, so
    # they may follow it too: `consent-vault record get NAME --token-file F`.
    after = _Parser(add_help=False)
    _connection_options(after, after=True)
    online = [after]

    serve = commands.add_parser("serve", help="run the vault server")
    serve.add_argument("--address", default=DEFAULT_ADDRESS, help="host:port to listen on")
    serve.add_argument(
        "--data-dir", help="where the databases live (default $CONSENT_VAULT_DATA or ./vault-data)"
    )
    serve.add_argument(
        "--keyring", help="the key-encryption keyring file (default DATA_DIR/keyring.json)"
    )
    _database_options(serve)
    serve.add_argument(
        "--config",
        type=Path,
        help="TOML configuration: [connectors.NAME] sections, [purposes] file (the "
        "school's purposes unless given) and the rest",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the school's demo people and connect stand-ins of its four systems",
    )
    serve.add_argument("--max-concurrent-rpcs", type=int, default=64)
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other consent-vault servers started so (SO_REUSEPORT; "
        "Linux spreads connections over them)",
    )
    serve.add_argument(
        "--tls-cert", type=Path, help="the server's certificate chain, PEM ([tls] cert_file)"
    )
    serve.add_argument("--tls-key", type=Path, help="its private key, PEM ([tls] key_file)")
    serve.add_argument(
        "--client-ca",
        type=Path,
        help="accept only clients with a certificate this CA signed: mutual TLS "
        "([tls] client_ca_file)",
    )
    serve.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="serve a non-loopback address without TLS (tokens and data readable on the network)",
    )
    serve.add_argument(
        "--no-reflection",
        action="store_true",
        help="do not serve the schema to tools such as grpcurl ([server] reflection = false)",
    )
    serve.set_defaults(handler=_serve)

    subject = commands.add_parser("subject", help="register, find, show and rectify subjects")
    subject_commands = subject.add_subparsers(title="subject commands")
    create = subject_commands.add_parser("create", parents=online, help="register a subject")
    _identity_options(create)
    create.add_argument(
        "--role", action="append", default=[], help="a role, such as student (repeatable)"
    )
    create.add_argument(
        "--protected", action="store_true", help="the person has a protected identity"
    )
    _json_option(create)
    create.set_defaults(
        handler=_subject_create, options={"identities": "--pnr, --email, --phone or --external"}
    )
    find = subject_commands.add_parser(
        "find", parents=online, help="find a subject by one identity"
    )
    _identity_options(find)
    _json_option(find)
    find.set_defaults(handler=_subject_find)
    show = subject_commands.add_parser("show", parents=online, help="show a subject")
    show.add_argument("name", help="subjects/{subject}")
    _json_option(show)
    show.set_defaults(handler=_subject_show, options={"name": "NAME"})
    rectify = subject_commands.add_parser(
        "rectify", parents=online, help="replace a wrong identity with the right one"
    )
    rectify.add_argument("name")
    rectify.add_argument("kind", choices=["personnummer", "email", "phone", "external_id"])
    rectify.add_argument("old")
    rectify.add_argument("new")
    rectify.add_argument("--system", default="", help="for external_id: the system")
    _json_option(rectify)
    rectify.set_defaults(
        handler=_subject_rectify,
        options={"subject": "NAME", "old_identity": "OLD", "new_identity": "NEW"},
    )

    record = commands.add_parser("record", help="store, read and list records")
    record_commands = record.add_subparsers(title="record commands")
    put = record_commands.add_parser("put", parents=online, help="store a record for a subject")
    put.add_argument("subject", help="subjects/{subject}")
    put.add_argument("--category", required=True)
    put.add_argument("--purpose", required=True)
    put.add_argument(
        "--basis", required=True, choices=LEGAL_BASES, help="the legal basis: %(choices)s"
    )
    put.add_argument("--source", required=True, help="the source system, such as lms")
    put.add_argument("--field", action="append", default=[], metavar="KEY=VALUE")
    put.add_argument("--file", type=Path, help="binary content, such as a photo")
    put.add_argument("--media-type", default="application/octet-stream")
    put.set_defaults(
        handler=_record_put,
        options={
            "parent": "SUBJECT",
            "record": "the record",
            "record.category": "--category",
            "record.purpose": "--purpose",
            "record.legal_basis": "--basis",
            "record.source_system": "--source",
            "record.fields": "--field",
            "record.content": "--file",
            "record.content.media_type": "--media-type",
        },
    )
    get = record_commands.add_parser("get", parents=online, help="read a record")
    get.add_argument("name", help="subjects/{subject}/records/{record}")
    get.add_argument("--purpose", default="", help=_READ_PURPOSE)
    get.set_defaults(handler=_record_get, options={"name": "NAME", "purpose": "--purpose"})
    listing = record_commands.add_parser("list", parents=online, help="list a subject's records")
    listing.add_argument("subject", help="subjects/{subject}")
    listing.add_argument("--category", default="", help="only the records of this category")
    listing.add_argument("--purpose", default="", help=_READ_PURPOSE)
    _json_option(listing)
    listing.set_defaults(
        handler=_record_list,
        options={"parent": "SUBJECT", "category": "--category", "purpose": "--purpose"},
    )

    shred = record_commands.add_parser(
        "erase",
        parents=online,
        help="erase a subject's records of one category, or of one purpose of it",
        description="Destroy the keys of a subject's records of --category, every "
        "purpose's, or with --purpose that purpose's alone (the category's records "
        "held for other purposes stay readable). It cannot be undone.",
    )
    shred.add_argument("subject", help="subjects/{subject}")
    shred.add_argument("--category", required=True)
    shred.add_argument("--purpose", help="erase only the records held for this purpose")
    shred.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _json_option(shred)
    shred.set_defaults(
        handler=_record_erase,
        options={"parent": "SUBJECT", "category": "--category", "purpose": "--purpose"},
    )

    imported = commands.add_parser(
        "import",
        parents=online,
        help="register many new people with their records, from a JSON Lines file",
        description=IMPORT_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imported.add_argument("file", type=Path, metavar="PEOPLE.jsonl", help="one person a line")
    imported.add_argument(
        "--batch",
        type=int,
        default=500,
        help="people a batch, each batch stored all or nothing (default 500, at most 1000)",
    )
    imported.add_argument(
        "--request-id",
        metavar="ID",
        help="the id an import that stopped printed: run again with it, and what it "
        "stored is not stored twice",
    )
    _json_option(imported)
    imported.set_defaults(handler=_import, options={"request_id": "--request-id"})

    export = commands.add_parser(
        "export", parents=online, help="export everything held about a subject to a zip file"
    )
    export.add_argument("subject")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.add_argument(
        "--same-person",
        action="append",
        default=[],
        metavar="SYSTEM",
        help="a system whose records you checked and found to be this person's although "
        "identities disagree (exported instead of withheld; repeatable)",
    )
    export.add_argument("--by", default="", help="with --same-person: who checked the records")
    export.set_defaults(
        handler=_export,
        options={"name": "SUBJECT", "same_person_systems": "--same-person", "decided_by": "--by"},
    )

    erase = commands.add_parser(
        "erase", parents=online, help="erase a subject in the vault and every connected system"
    )
    erase.add_argument("subject")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    _json_option(erase)
    erase.set_defaults(handler=_erase, options={"name": "SUBJECT"})

    requests = commands.add_parser(
        "requests", help="follow erasure requests and confirm manual actions"
    )
    request_commands = requests.add_subparsers(title="request commands")
    listed = request_commands.add_parser(
        "list", parents=online, help="erasure requests with their legal deadlines"
    )
    listed.add_argument(
        "--state", default="", choices=_REQUEST_STATES, help="only requests in this state"
    )
    _json_option(listed)
    listed.set_defaults(handler=_requests_list)
    shown = request_commands.add_parser(
        "show", parents=online, help="one erasure request, system by system"
    )
    shown.add_argument("name", help="erasureRequests/{request}")
    _json_option(shown)
    shown.set_defaults(handler=_requests_show, options={"name": "NAME"})
    retried = request_commands.add_parser(
        "retry", parents=online, help="send the steps that need attention round again"
    )
    retried.add_argument("name")
    _json_option(retried)
    retried.set_defaults(handler=_requests_retry, options={"name": "NAME"})
    confirmed = request_commands.add_parser(
        "confirm", parents=online, help="confirm a manual action was carried out"
    )
    confirmed.add_argument("action", help="erasureRequests/{request}/manualActions/{action}")
    confirmed.add_argument("--by", required=True, help="who carried it out")
    _json_option(confirmed)
    confirmed.set_defaults(
        handler=_requests_confirm, options={"name": "ACTION", "confirmed_by": "--by"}
    )
    decided = request_commands.add_parser(
        "decide",
        parents=online,
        help="decide whether the records a system found, which may be someone else's, "
        "are this person's",
    )
    decided.add_argument("name", help="erasureRequests/{request}")
    decided.add_argument("system", help="the system whose step waits for the decision")
    decided.add_argument(
        "decision",
        choices=["same-person", "not-this-person"],
        help="same-person: the step proceeds; not-this-person: nothing is done in that system",
    )
    decided.add_argument("--by", required=True, help="who decided")
    _json_option(decided)
    decided.set_defaults(
        handler=_requests_decide,
        options={"name": "NAME and SYSTEM", "decided_by": "--by", "decision": "DECISION"},
    )

    connectors = commands.add_parser("connectors", help="list and check the installed connectors")
    connector_commands = connectors.add_subparsers(title="connector commands")
    clist = connector_commands.add_parser(
        "list", parents=online, help="installed connectors and what they hold"
    )
    clist.add_argument("--check", action="store_true", help="run each one's health check")
    _json_option(clist)
    clist.set_defaults(handler=_connectors_list)
    ccheck = connector_commands.add_parser("check", parents=online, help="check one connector now")
    ccheck.add_argument("name")
    _json_option(ccheck)
    ccheck.set_defaults(handler=_connectors_check, options={"name": "NAME"})

    keys = commands.add_parser(
        "rotate-kek",
        help="add a key-encryption and index key version, re-wrap every key under it "
        "and re-index every identity (or finish a rotation a crash cut short)",
    )
    _vault_options(keys)
    keys.add_argument(
        "--retire-older-than",
        metavar="AGE",
        help="then retire the versions made more than AGE ago (such as 30d), as retire-kek does",
    )
    keys.set_defaults(handler=_rotate_kek)
    retire = commands.add_parser(
        "retire-kek",
        help="destroy the key versions made more than AGE ago (never the current one), "
        "once nothing is left under them",
    )
    _vault_options(retire)
    retire.add_argument(
        "--older-than",
        metavar="AGE",
        required=True,
        help="a whole number and a unit: 30d, 12h, 2w (s, min, h, d, w)",
    )
    retire.set_defaults(handler=_retire_kek)

    migrate = commands.add_parser(
        "migrate", help="bring the databases to this version's schema (twice is harmless)"
    )
    migrate.add_argument("--data-dir", help="as for serve")
    _database_options(migrate)
    migrate.set_defaults(handler=_migrate)

    _audit_commands(commands, online)
    _consent_commands(commands, online)

    tokens = commands.add_parser(
        "tokens", help="make, list and revoke API tokens, on the data directory (no server)"
    )
    token_commands = tokens.add_subparsers(title="token commands")
    issue = token_commands.add_parser(
        "create",
        help="make an API token for a role; its secret is printed once, on the last line",
        description="Make an API token for a role, on the data directory (a new one "
        "gets a vault), so the first admin token can be made before any server runs. "
        "The secret is printed once, alone on the last line, and kept only as a keyed hash.",
    )
    issue.add_argument(
        "--role",
        required=True,
        type=role_word,
        choices=ROLES,
        help="what the token may do: %(choices)s (privacy-officer also)",
    )
    issue.add_argument("--system", default="", help="an integrator's source system, such as lms")
    issue.add_argument(
        "--default-purpose",
        default="",
        metavar="PURPOSE",
        help="an integrator's purpose for the reads that name none, such as course_delivery",
    )
    issue.add_argument(
        "--expires", metavar="AGE", help="expires AGE from now, such as 90d (default: never)"
    )
    issue.add_argument("--name", default="", help="a label, such as who or what holds it")
    issue.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the server's TOML configuration, to check an integrator's --system has "
        "purposes (its [purposes] file's, or [systems.NAME] purposes)",
    )
    _vault_options(issue, existing=False)
    _json_option(issue)
    issue.set_defaults(handler=_tokens_create)
    tlist = token_commands.add_parser(
        "list",
        help="the tokens in force, newest first (revoked and expired ones with --all); "
        "never a secret",
    )
    tlist.add_argument("--all", action="store_true", help="revoked and expired tokens too")
    _vault_options(tlist)
    _json_option(tlist)
    tlist.set_defaults(handler=_tokens_list)
    revoke = token_commands.add_parser(
        "revoke", help="revoke a token; running servers refuse it within seconds"
    )
    revoke.add_argument("name", help="tokens/{token}, as tokens list shows it")
    _vault_options(revoke)
    _json_option(revoke)
    revoke.set_defaults(handler=_tokens_revoke)
    return parser


def _audit_commands(commands: Any, online: Sequence[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser(
        "audit", help="read and check the audit trail: who did what to whose data"
    )
    audit_commands = audit.add_subparsers(title="audit commands")
    verify = audit_commands.add_parser(
        "verify",
        help="check every event against the signed tree heads, on the data directory "
        "(no server); exit 0: no change, 1: changes found, 2: not verified",
        description="Fold the events still waiting into the signed tree, then check "
        "every event of the audit log against every signed tree head: each event "
        "edited, removed or moved, and each head not signed by the vault's audit key, "
        "is named on a line of its own. Exit code 0: no change found; 1: changes "
        "found; 2: the log could not be verified.",
    )
    _vault_options(verify)
    verify.set_defaults(handler=_audit_verify)

    listing = audit_commands.add_parser(
        "list",
        parents=online,
        help="audit events, oldest first, as a table (or JSON Lines with --json)",
        description="Audit events, oldest first: when, who, what, about whom (by "
        "audit pseudonym, shortened; --json has it whole) and how it ended. Times are "
        "UTC unless they say otherwise.",
    )
    listing.add_argument(
        "--since",
        type=event_time,
        metavar="TIME",
        help="events at or after TIME (2026-11-24T09:00)",
    )
    listing.add_argument("--until", type=event_time, metavar="TIME", help="events before TIME")
    listing.add_argument(
        "--actor", default="", help="events of this actor, exactly as events name it"
    )
    listing.add_argument(
        "--operation", default="", metavar="WORDS", help="events of this operation: 'get record'"
    )
    listing.add_argument(
        "--subject",
        default="",
        metavar="NAME",
        help="events about subjects/{subject}, while the subject exists",
    )
    sensitivity = listing.add_mutually_exclusive_group()
    sensitivity.add_argument(
        "--sensitive",
        dest="sensitive",
        action="store_const",
        const=True,
        help="only events that touched a protected identity",
    )
    sensitivity.add_argument(
        "--not-sensitive",
        dest="sensitive",
        action="store_const",
        const=False,
        help="only events that did not",
    )
    listing.add_argument(
        "--limit",
        type=event_count,
        default=100,
        metavar="N",
        help="at most N events (default 100; 0: all)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object a line, for scripts")
    listing.set_defaults(handler=_audit_list, options=LIST_OPTIONS)

    head = audit_commands.add_parser(
        "head", parents=online, help="the latest signed tree head: size, root, time, signature"
    )
    head.add_argument(
        "--size", type=int, default=0, metavar="N", help="the head of N events (default the latest)"
    )
    _json_option(head)
    head.set_defaults(handler=_audit_head, options={"size": "--size"})

    key = audit_commands.add_parser(
        "public-key",
        parents=online,
        help="the PEM public key that verifies the tree heads (for OpenSSL)",
    )
    key.set_defaults(handler=_audit_public_key)


RECORD_DESCRIPTION = """\
Record that a person gave, refused, withdrew or renewed consent for one or
more purposes (each configured, resting on consent), all or nothing, with
when they said it, the policy version they were shown, the channel and the
evidence. The history is append-only: an event is never changed, and a
withdrawal is an event of its own, not retroactive.

--status withdrawn with no --purpose withdraws every consent of the person
that stands (an integrator's: its own system's purposes).
"""

PURPOSES_CHECK_DESCRIPTION = """\
Read the vault's record database (of a stopped vault or a running one; no
server is asked) and list every (purpose, legal basis, source system) its
records use whose purpose is not configured, or whose legal basis is not the
configured purpose's, with how many records and why; with --records, the
name of each record beneath its use. Nothing is changed.

The uses are listed on stdout; what was found, in a sentence, on stderr.
Exit status: 0 when every record's purpose is configured, on its legal
basis; 1 when some are not (listed); 2 when the records could not be read.
"""


def _consent_commands(commands: Any, online: Sequence[argparse.ArgumentParser]) -> None:
    """consent record, state, history, export; purposes list, check; policy
    publish, list, affected."""
    consent = commands.add_parser(
        "consent", help="record a person's consent, and read their standing and history"
    )
    consent_commands = consent.add_subparsers(title="consent commands")
    record = consent_commands.add_parser(
        "record",
        parents=online,
        help="record that a person gave, refused, withdrew or renewed consent",
        description=RECORD_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    record.add_argument(
        "--purpose",
        action="append",
        default=[],
        metavar="P",
        help="a purpose resting on consent (repeatable); with --status withdrawn and "
        "no --purpose, every consent that stands is withdrawn",
    )
    record.add_argument("--status", required=True, help="given, refused, withdrawn or renewed")
    record.add_argument(
        "--channel",
        required=True,
        help='how the person said it: "web form", e-mail, "in person", phone, '
        '"paper form", sms or other',
    )
    record.add_argument(
        "--evidence",
        default="",
        metavar="TEXT",
        help="a reference or short text, such as the form submission's id "
        "(one line, at most 500 characters)",
    )
    record.add_argument(
        "--policy-version",
        default="",
        metavar="V",
        help="the policy version the person was shown (default the one in effect at --time)",
    )
    record.add_argument(
        "--time",
        metavar="ISO",
        help="when the person said it, such as 2026-11-24T09:30Z (default now; UTC "
        "unless it says otherwise)",
    )
    record.add_argument(
        "--expires", metavar="ISO", help="for consent given for a while: when it ends"
    )
    record.add_argument(
        "--request-id",
        metavar="ID",
        help="an id for the call: sent again with it, nothing is recorded twice",
    )
    _json_option(record)
    record.set_defaults(handler=_consent_record, options=RECORD_OPTIONS)

    state = consent_commands.add_parser(
        "state",
        parents=online,
        help="a person's standing now for each purpose resting on consent",
    )
    state.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    _json_option(state)
    state.set_defaults(handler=_consent_state, options=READ_OPTIONS)

    history = consent_commands.add_parser(
        "history", parents=online, help="a person's consent events, oldest first"
    )
    history.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    history.add_argument("--purpose", default="", metavar="P", help="only this purpose's events")
    _json_option(history)
    history.set_defaults(handler=_consent_history, options=READ_OPTIONS)

    export = consent_commands.add_parser(
        "export",
        parents=online,
        help="a person's consent records as JSON-LD (the W3C DPV profile of ISO/IEC TS 27560)",
        description="A person's consent records as JSON-LD, the W3C DPV profile of ISO/IEC "
        "TS 27560: JSON already, for a script as for a person (so there is no --json), "
        "indented.",
    )
    export.add_argument("subject", metavar="SUBJECT", help="subjects/{subject}")
    export.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="write it to FILE (mode 0600: it holds evidence), whole or not at all "
        "(default, or -: stdout)",
    )
    export.set_defaults(handler=_consent_export, options=READ_OPTIONS)
    limit_commands(consent_commands, online)
    add_contactable(consent_commands, online)

    purposes = commands.add_parser(
        "purposes", help="the purposes the vault processes for, and records they do not allow"
    )
    purpose_commands = purposes.add_subparsers(title="purpose commands")
    plist = purpose_commands.add_parser(
        "list",
        parents=online,
        help="each purpose: its legal basis in words, description, categories and systems",
    )
    plist.add_argument(
        "--language",
        metavar="TAG",
        help="the descriptions' language, as the purposes are described in: en (the "
        "default) or sv for the school's; any case",
    )
    _json_option(plist)
    plist.set_defaults(handler=_purposes_list)
    check = purpose_commands.add_parser(
        "check",
        help="list the records whose purpose is not configured, or whose legal basis "
        "contradicts it (no server; nothing is changed; exit 1 if any)",
        description=PURPOSES_CHECK_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the server's TOML configuration, whose [purposes] file names the purposes "
        "(default the school's)",
    )
    check.add_argument(
        "--data-dir",
        help="the vault's data directory (default $CONSENT_VAULT_DATA or ./vault-data)",
    )
    check.add_argument(
        "--records",
        action="store_true",
        help="under each use, the name of every one of its records, by record id",
    )
    _database_options(check)
    _json_option(check)
    check.set_defaults(handler=_purposes_check)

    policy = commands.add_parser(
        "policy", help="publish privacy policy versions, and list who must consent again"
    )
    policy_commands = policy.add_subparsers(title="policy commands")
    publish = policy_commands.add_parser(
        "publish",
        parents=online,
        help="publish a policy version: its text (or hash and URL), the day it takes "
        "effect, the purposes it changes",
        description="Publish a version of the privacy policy, once: a published version "
        "never changes. From --effective on, a consent given under an earlier version "
        "for a purpose it changed materially must be given again (policy affected "
        "lists the people).",
    )
    publish.add_argument("version", metavar="VERSION", help="a new name, such as 2026-02")
    publish.add_argument(
        "--effective",
        required=True,
        metavar="YYYY-MM-DD",
        help="the day it takes effect (not before the latest version's)",
    )
    publish.add_argument("--text-file", type=Path, metavar="FILE", help="the policy's text (UTF-8)")
    publish.add_argument(
        "--sha256", metavar="HEX", help="instead of the text: its SHA-256, in hex (with --url)"
    )
    publish.add_argument("--url", help="with --sha256: where the text is published")
    publish.add_argument(
        "--changed",
        action="append",
        default=[],
        metavar="P",
        help="a purpose the version changes (repeatable); material if the purpose's "
        "configuration says its changes are",
    )
    publish.add_argument(
        "--material",
        action="append",
        default=[],
        metavar="P",
        help="a purpose the version changes materially, whatever its configuration says "
        "(repeatable)",
    )
    publish.add_argument("--summary", default="", metavar="TEXT", help="what changed, in words")
    publish.add_argument(
        "--request-id",
        metavar="ID",
        help="an id for the call: sent again with it, the version is not published twice",
    )
    _json_option(publish)
    publish.set_defaults(handler=_policy_publish, options=PUBLISH_OPTIONS)

    versions = policy_commands.add_parser(
        "list", parents=online, help="the published versions, the first published first"
    )
    _json_option(versions)
    versions.set_defaults(handler=_policy_list)

    affected = policy_commands.add_parser(
        "affected",
        parents=online,
        help="the people who must consent again, as they are found; the count last, on stderr",
    )
    affected.add_argument(
        "--purpose", default="", metavar="P", help="only this purpose (default every one)"
    )
    affected.add_argument("--json", action="store_true", help="one JSON object a line, for scripts")
    affected.set_defaults(handler=_policy_affected, options=AFFECTED_OPTIONS)


def _connection_options(parser: argparse.ArgumentParser, *, after: bool = False) -> None:
    """How to reach the server and as whom: before the command, with their
    defaults, and (`after`) again on each command that calls a server, where
    an option not given leaves the one before the command, or the default."""
    # After the command, an option not given sets nothing: the value before it stays.
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after else {}
    parser.add_argument(
        "--server",
        **(unset or {"default": os.environ.get(SERVER_ENV, DEFAULT_ADDRESS)}),
        help=f"the vault server to talk to (default ${SERVER_ENV} or {DEFAULT_ADDRESS})",
    )
    parser.add_argument(
        "--token-file",
        metavar="FILE",
        **unset,
        help=f"the API token to call the server with (default ${TOKEN_ENV}, the file "
        f"${TOKEN_FILE_ENV} names, or for a server on this machine the demo's "
        f"DATA_DIR/{DEMO_TOKEN})",
    )
    parser.add_argument(
        "--ca-file",
        metavar="FILE",
        **unset,
        help=f"speak TLS, trusting the server's certificate by the PEM roots in FILE "
        f"(default ${TLS_CA_ENV}; without either, plaintext)",
    )
    parser.add_argument(
        "--tls",
        dest="system_roots",
        action="store_true",
        **unset,
        help="speak TLS, trusting the server's certificate by the system's roots",
    )
    parser.add_argument(
        "--cert-file",
        metavar="FILE",
        **unset,
        help="for mutual TLS: this client's certificate chain, PEM (with --key-file)",
    )
    parser.add_argument(
        "--key-file", metavar="FILE", **unset, help="for mutual TLS: this client's private key, PEM"
    )
    parser.add_argument(
        "--insecure-plaintext",
        action="store_true",
        **unset,
        help="send the token unencrypted to a server on another machine",
    )


def _vault_options(parser: argparse.ArgumentParser, *, existing: bool = True) -> None:
    """Where the vault is, for the commands on it with no server: its data
    directory, databases and keyring; `existing`: the command makes no vault."""
    must = "; it must hold a vault: nothing is made" if existing else ""
    parser.add_argument(
        "--data-dir",
        help=f"the vault's data directory (default $CONSENT_VAULT_DATA or ./vault-data){must}",
    )
    _database_options(parser)
    parser.add_argument(
        "--keyring",
        metavar="FILE",
        help="the vault's keyring file (default $CONSENT_VAULT_KEYRING_FILE or "
        "DATA_DIR/keyring.json); $CONSENT_VAULT_KEYRING, if set, wins over it",
    )


def _database_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        help="the record database: postgresql://HOST:PORT/DATABASE, or sqlite:///DIRECTORY "
        "(default $CONSENT_VAULT_DATABASE, or the data directory's SQLite files)",
    )
    parser.add_argument(
        "--key-database",
        metavar="URL",
        help="the key database, if not beside the records (default $CONSENT_VAULT_KEY_DATABASE)",
    )


def _identity_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pnr", action="append", default=[], help="personnummer or samordningsnummer"
    )
    parser.add_argument("--email", action="append", default=[])
    parser.add_argument("--phone", action="append", default=[])
    parser.add_argument(
        "--external", action="append", default=[], metavar="SYSTEM:ID", type=_external_id
    )


def _external_id(value: str) -> str:
    system, sep, external_id = value.partition(":")
    if not (sep and system and external_id):
        raise argparse.ArgumentTypeError(f"{value!r} must be SYSTEM:ID, such as lms:1001")
    return value
