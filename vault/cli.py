"""The `consent-vault` command: run the server, and talk to one through the Python client."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import logging
import os
import re
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    import grpc
    from rich.console import Console
    from rich.live import Live
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from vault.reports import terminal, words
    from vault.v1 import vault_pb2 as pb
    from vault_client import (
        Content,
        ErasureRequest,
        Identity,
        Subject,
        VaultClient,
        VaultClientError,
    )
    from vault_client.client import IMPORT_BATCH_SUBJECTS
    from vault_client.errors import ServerUnreachableError
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from collections.abc import Callable

    from vault.core.rotation import Progress as KeyProgress
    from vault.core.rotation import Retirement
    from vault.demo import Seeding
    from vault.settings import Settings, StorageSettings

SERVER_ENV = "CONSENT_VAULT_SERVER"
DEFAULT_ADDRESS = "127.0.0.1:50051"

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = _parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        offline = (_serve, _rotate_kek, _retire_kek, _migrate)
        if args.handler not in offline and not _ADDRESS.fullmatch(args.server):
            _fail(
                f"--server {args.server!r}: write the address as HOST:PORT, "
                f"such as {DEFAULT_ADDRESS} (no http://, no trailing /)"
            )
            return 2
        return _run(args)
    except KeyboardInterrupt:
        return 130


# HOST:PORT as gRPC takes it: a name or IPv4 address, or an IPv6 one in brackets.
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}")


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args) or 0)
    except ServerUnreachableError:
        _fail(
            f"no server answers at {args.server}; start one with `consent-vault serve` "
            f"(or `make run`), or name yours with --server or ${SERVER_ENV}"
        )
        return 1
    except VaultClientError as error:
        if error.code == grpc.StatusCode.UNIMPLEMENTED and not error.reason:
            _fail(f"the server at {args.server} does not answer the consent-vault API")
            return 1
        # The message in words, naming the option the user typed rather than
        # the API's field; the stable reason stays, dim, for scripts and support.
        message = error.message
        option = _option_for(error.field, args) if error.field else None
        if error.field and option:
            # "record.legal_basis: must be ..." reads "--basis: must be ...";
            # a message that does not start with its field keeps its words.
            if message.startswith(f"{error.field}:"):
                message = option + message.removeprefix(error.field)
            else:
                message = f"{option}: {message}"
        reason = f" [dim](reason: {escape(error.reason)})[/dim]" if error.reason else ""
        errors.print(f"[red]error:[/red] {escape(message)}{reason}", highlight=False)
        return 1
    except OSError as error:
        # A file the user named (or a place to write one) is not usable.
        _fail(str(error))
        return 1


def _option_for(field: str, args: argparse.Namespace) -> str | None:
    """The CLI option (or argument) that gave the API field `field`, if the
    command knows it: the longest field path that `field` starts with."""
    given: list[str] = getattr(args, "identity_options", [])
    indexed = re.match(r"identities\[(\d+)\]", field)
    if indexed and int(indexed[1]) < len(given):
        return given[int(indexed[1])]
    if field.startswith("identity") and len(given) == 1:
        return given[0]
    options: dict[str, str] = getattr(args, "options", {})
    for path in sorted(options, key=len, reverse=True):
        if field == path or field.startswith((f"{path}.", f"{path}[")):
            return options[path]
    return None


def _fail(message: str) -> None:
    """One line on stderr; the message printed as it is, never read as markup."""
    errors.print(f"[red]error:[/red] {escape(message)}")


def _print_json(data: object) -> None:
    # Plain text on stdout for scripts: no colours, no wrapping.
    sys.stdout.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")


def _plain(value: Any) -> Any:
    """The client's data classes as JSON values: times in ISO 8601, content as
    its media type, file name and size (the bytes themselves are not printed)."""
    if isinstance(value, Content):
        # `size`, not the bytes' length: a write's answer carries no bytes.
        return {"media_type": value.media_type, "filename": value.filename, "size": value.size}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return value


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

# Lines that are not a person listed at most, before "and N more".
BAD_LINES_SHOWN = 10


class _Parser(argparse.ArgumentParser):
    """A parser that takes no abbreviation of an option (`--older` is not
    `--older-than` on a command that destroys keys); its sub-parsers are of
    this class too (argparse makes them of the parent's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="consent-vault", description="A consent and record vault, encrypted per data subject."
    )
    parser.add_argument(
        "--server",
        default=os.environ.get(SERVER_ENV, DEFAULT_ADDRESS),
        help=f"the vault server to talk to (default ${SERVER_ENV} or {DEFAULT_ADDRESS})",
    )
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the vault server")
    serve.add_argument("--address", default=DEFAULT_ADDRESS, help="host:port to listen on")
    serve.add_argument(
        "--data-dir", help="where the databases live (default $CONSENT_VAULT_DATA or ./vault-data)"
    )
    serve.add_argument(
        "--keyring", help="the key-encryption keyring file (default DATA_DIR/keyring.json)"
    )
    _database_options(serve)
    serve.add_argument("--config", type=Path, help="TOML configuration: [connectors.NAME] sections")
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
    serve.set_defaults(handler=_serve)

    subject = commands.add_parser("subject", help="register, find, show and rectify subjects")
    subject_commands = subject.add_subparsers(title="subject commands")
    create = subject_commands.add_parser("create", help="register a subject")
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
    find = subject_commands.add_parser("find", help="find a subject by one identity")
    _identity_options(find)
    _json_option(find)
    find.set_defaults(handler=_subject_find)
    show = subject_commands.add_parser("show", help="show a subject")
    show.add_argument("name", help="subjects/{subject}")
    _json_option(show)
    show.set_defaults(handler=_subject_show, options={"name": "NAME"})
    rectify = subject_commands.add_parser(
        "rectify", help="replace a wrong identity with the right one"
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
    put = record_commands.add_parser("put", help="store a record for a subject")
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
    get = record_commands.add_parser("get", help="read a record")
    get.add_argument("name", help="subjects/{subject}/records/{record}")
    get.set_defaults(handler=_record_get, options={"name": "NAME"})
    listing = record_commands.add_parser("list", help="list a subject's records")
    listing.add_argument("subject")
    listing.add_argument("--category", default="")
    _json_option(listing)
    listing.set_defaults(
        handler=_record_list, options={"parent": "SUBJECT", "category": "--category"}
    )

    shred = record_commands.add_parser(
        "erase",
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
        "export", help="export everything held about a subject to a zip file"
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
        "erase", help="erase a subject in the vault and every connected system"
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
    listed = request_commands.add_parser("list", help="erasure requests with their legal deadlines")
    listed.add_argument(
        "--state", default="", choices=_REQUEST_STATES, help="only requests in this state"
    )
    _json_option(listed)
    listed.set_defaults(handler=_requests_list)
    shown = request_commands.add_parser("show", help="one erasure request, system by system")
    shown.add_argument("name", help="erasureRequests/{request}")
    _json_option(shown)
    shown.set_defaults(handler=_requests_show, options={"name": "NAME"})
    retried = request_commands.add_parser(
        "retry", help="send the steps that need attention round again"
    )
    retried.add_argument("name")
    _json_option(retried)
    retried.set_defaults(handler=_requests_retry, options={"name": "NAME"})
    confirmed = request_commands.add_parser(
        "confirm", help="confirm a manual action was carried out"
    )
    confirmed.add_argument("action", help="erasureRequests/{request}/manualActions/{action}")
    confirmed.add_argument("--by", required=True, help="who carried it out")
    _json_option(confirmed)
    confirmed.set_defaults(
        handler=_requests_confirm, options={"name": "ACTION", "confirmed_by": "--by"}
    )
    decided = request_commands.add_parser(
        "decide",
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
    clist = connector_commands.add_parser("list", help="installed connectors and what they hold")
    clist.add_argument("--check", action="store_true", help="run each one's health check")
    _json_option(clist)
    clist.set_defaults(handler=_connectors_list)
    ccheck = connector_commands.add_parser("check", help="check one connector now")
    ccheck.add_argument("name")
    _json_option(ccheck)
    ccheck.set_defaults(handler=_connectors_check, options={"name": "NAME"})

    keys = commands.add_parser(
        "rotate-kek",
        help="add a key-encryption and index key version, re-wrap every key under it "
        "and re-index every identity (or finish a rotation a crash cut short)",
    )
    _key_command_options(keys)
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
    _key_command_options(retire)
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
    return parser


def _key_command_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        help="the vault's data directory (default $CONSENT_VAULT_DATA or ./vault-data); "
        "it must hold a vault: nothing is made",
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


def _identities(args: argparse.Namespace) -> list[Identity]:
    """The identities the options give, in order; `args.identity_options`
    notes which option gave each, so an error about one can name it."""
    found = [Identity("personnummer", v) for v in args.pnr]
    found += [Identity("email", v) for v in args.email]
    found += [Identity("phone", v) for v in args.phone]
    for value in args.external:
        system, _, external_id = value.partition(":")
        found.append(Identity("external_id", external_id, system))
    args.identity_options = (
        ["--pnr"] * len(args.pnr)
        + ["--email"] * len(args.email)
        + ["--phone"] * len(args.phone)
        + ["--external"] * len(args.external)
    )
    return found


def _client(args: argparse.Namespace) -> VaultClient:
    return VaultClient(args.server)


# ---------------------------------------------------------------- serve
DEMO_LOCK = "demo.lock"


def _serve(args: argparse.Namespace) -> int:
    """Check what would stop the server before anything starts: its settings,
    the address must be free, and with --demo no other demo may use the data
    directory (a second one would rebuild the demo systems' databases under the first)."""
    from vault import settings as configuration
    from vault.server.app import AddressUnavailable, check_address

    try:
        settings = configuration.load(
            address=args.address,
            data_dir_flag=args.data_dir,
            database_flag=args.database,
            key_database_flag=args.key_database,
            keyring_flag=args.keyring,
            config=args.config,
            demo=args.demo,
            max_concurrent_rpcs=args.max_concurrent_rpcs,
            reuse_port=args.reuse_port,
        )
    except configuration.SettingsError as error:
        _fail(str(error))
        return 2
    try:
        check_address(settings.server.address, settings.server.reuse_port)
    except AddressUnavailable as error:
        _fail(_address_taken(error, settings))
        return 2
    if not settings.demo.enabled:
        # Plain servers may share a data directory: the stores queue their writers.
        return _run_server(settings)
    directory = settings.storage.data_dir
    try:
        lock = _hold_demo_lock(directory)
    except OSError as error:
        _fail(f"cannot open the vault in {directory}: {error.strerror or error}")
        return 2
    if lock is None:
        _fail(
            f"another consent-vault demo is using {directory}; stop it first, or start this one with another --data-dir"
        )
        return 2
    try:
        return _run_server(settings)
    finally:
        lock.close()  # releases the lock


def _address_taken(error: OSError, settings: Settings) -> str:
    if settings.server.reuse_port:
        return f"{error}; choose another with --address HOST:PORT"
    return (
        f"{error}; choose another with --address HOST:PORT, or start every server "
        "there with --reuse-port"
    )


def _hold_demo_lock(directory: Path) -> IO[bytes] | None:
    """An exclusive lock on the demo systems' folder, held while the returned
    file stays open; None when another process holds it. The kernel drops the
    lock when the process ends, however it ends, so it never goes stale."""
    import fcntl

    folder = directory / "demo-systems"
    folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / DEMO_LOCK).open("ab")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _run_server(settings: Settings) -> int:
    from vault.runtime import Runtime, StartupError
    from vault.server.app import AddressUnavailable

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and some systems' protocols carry a
    # token in the URL (Moodle's file downloads): credentials never reach the log.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    runtime = Runtime(settings)
    try:
        runtime.open()
    except StartupError as error:
        # The demo may have seeded the vault before what failed.
        if runtime.seeding is not None:
            _print_seeding(runtime.seeding, settings.storage)
        _fail(str(error))
        return 2
    with contextlib.closing(runtime):  # however this ends
        if runtime.seeding is not None:
            _print_seeding(runtime.seeding, settings.storage)
        assert runtime.registry is not None
        for item in runtime.registry.installed.values():
            state = "enabled" if item.enabled else "installed, not enabled"
            console.print(f"connector {item.name} {item.version}: {state}")
        try:
            running = runtime.start()
        except AddressUnavailable as error:
            _fail(_address_taken(error, settings))
            return 2
        host = settings.server.address.rsplit(":", 1)[0]
        console.print(
            f"consent-vault listening on [bold]{host}:{running.port}[/bold] "
            f"({escape(settings.storage.where)}); Ctrl-C or SIGTERM stops it",
            soft_wrap=True,
        )
        stopped = threading.Event()

        def stop(signum: int, frame: object) -> None:
            if not stopped.is_set():
                stopped.set()
                console.print("stopping: health NOT_SERVING, finishing calls in flight")
                threading.Thread(target=runtime.stop, args=(10.0,), daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        running.wait()
    return 0


def _print_seeding(seeding: Seeding, storage: StorageSettings) -> None:
    directory = storage.data_dir
    console.print(
        f"demo: {words.people(len(seeding.added))} of the school added "
        f"({len(seeding.already_there)} already there)",
        highlight=False,
    )
    if seeding.left_out:
        from vault.settings import DEFAULT_DATA_DIR

        # Demo people are fictional: naming them here tells the user who is missing.
        afresh = f"stop the server and remove {directory}"
        if not storage.url.startswith("sqlite:///"):
            afresh += " and the vault's tables in its database"
        elif directory == DEFAULT_DATA_DIR.absolute():
            afresh += " (`make clean` does, and removes .venv too)"
        console.print(
            escape(
                f"demo: left out, as erased earlier: {', '.join(seeding.left_out)}. "
                f"They and their data in the demo systems come back only in a fresh "
                f"data directory: {afresh}."
            ),
            highlight=False,
            soft_wrap=False,  # wrapped at words, readable at 80 columns
        )


def _rotate_kek(args: argparse.Namespace) -> int:
    return _key_versions(args, rotate=True, retire_age=args.retire_older_than)


def _retire_kek(args: argparse.Namespace) -> int:
    return _key_versions(args, rotate=False, retire_age=args.older_than)


def _key_versions(args: argparse.Namespace, *, rotate: bool, retire_age: str | None) -> int:
    """rotate-kek and retire-kek: everything that could refuse is checked before
    anything is changed (the age, a keyring given whole, the settings)."""
    from vault import settings as configuration
    from vault.core.actor import LOCAL
    from vault.core.rotation import RetirementBlocked, RotationBusy, duration
    from vault.crypto import KeyringError, TamperedError
    from vault.keyring import given_whole
    from vault.runtime import Runtime, StartupError

    command = "rotate-kek" if rotate else "retire-kek"
    option = "--retire-older-than" if rotate else "--older-than"
    try:
        older_than = None if retire_age is None else duration(retire_age, option)
    except ValueError as error:
        _fail(str(error))
        return 2
    directory = configuration.data_dir(args.data_dir)
    keyring = configuration.keyring_settings(directory, args.keyring)
    if keyring.given and args.keyring:
        # The variable wins over the flag, here as everywhere.
        variable = f"${configuration.KEYRING_ENV}"
        _fail(
            f"{variable} is set, and it wins over --keyring: the keyring it gives whole "
            f"cannot change under a running server, so it is not rotated; unset {variable} "
            f"to {command} the keyring file {args.keyring}"
        )
        return 2
    if keyring.given:
        _fail(given_whole(f"${configuration.KEYRING_ENV}"))
        return 2
    try:
        storage = configuration.storage_settings(directory, args.database, args.key_database)
    except configuration.SettingsError as error:
        _fail(str(error))
        return 2
    runtime = Runtime(configuration.Settings(storage, keyring))
    try:
        vault = runtime.open_vault(existing=True)
    except StartupError as error:
        runtime.close()
        _fail(str(error))
        return 2
    with contextlib.closing(runtime):
        doing = "rotation"
        try:
            if rotate:
                rotation = vault.rotate_keys(LOCAL, _show_key_progress())
                if rotation.resumed:
                    _say(
                        f"The rotation to key version {rotation.version} was unfinished: "
                        "finished it (no new version made; run rotate-kek again for one)."
                    )
                else:
                    _say(f"Key version {rotation.version} is current.")
                _say(
                    f"{_counted(rotation.rewrapped.count, 'key')} re-wrapped, "
                    f"{_counted(rotation.reindexed, 'identity')} re-indexed"
                    + (
                        f", {_counted(rotation.removed, 'identity')} of erased people removed"
                        if rotation.removed
                        else ""
                    )
                    + "."
                )
                _say_unopened(rotation.rewrapped.unopened)
            if older_than is not None:
                doing = "retirement"
                retirement = vault.retire_keys(LOCAL, older_than, _show_key_progress())
                _print_retirement(retirement, retire_age or "")
        except KeyboardInterrupt:
            # The lease is given up on the way out; what was moved stays moved.
            if doing == "rotation":
                _fail(
                    "the rotation was cut short (Ctrl-C): every key still opens; "
                    "run rotate-kek to finish it"
                )
            else:
                _fail(
                    "the retirement was cut short (Ctrl-C): every key still opens; "
                    f"run retire-kek {option.replace('--retire-', '--')} "
                    f"{retire_age} to finish it"
                )
            return 130
        except (RotationBusy, RetirementBlocked) as error:
            _fail(str(error))
            return 1
        except (KeyringError, OSError) as error:
            # A keyring that does not read, or a file the user cannot write.
            _fail(str(error))
            return 2
        except TamperedError:
            _fail(
                "a key or sealed value did not open (tampered or damaged); nothing "
                "more was changed: the server log names the subject or job"
            )
            return 2
    return 0


def _say_unopened(unopened: int) -> None:
    if unopened:
        _say(
            f"{_counted(unopened, 'key')} did not open (tampered or damaged) and "
            "stayed under an older version: the log names whose. Their version cannot "
            "be retired while they are there."
        )


def _print_retirement(retirement: Retirement, age: str) -> None:
    if not retirement.retired:
        current = retirement.current
        if not retirement.kept:
            _say(f"Nothing retired: only version {current}, the current one, is live.")
        else:
            _say(
                f"Nothing retired: {_versions(retirement.kept)} "
                f"{'was' if len(retirement.kept) == 1 else 'were'} made less than {age} "
                f"ago, and version {current} is current."
            )
        return
    numbers = ", ".join(str(v) for v in retirement.retired)
    noun, their = ("version", "its") if len(retirement.retired) == 1 else ("versions", "their")
    if retirement.index_shared:
        _say(
            f"Key {noun} {numbers} retired: {their} keys are gone from the keyring, so no "
            "copy of the key database from before can be unwrapped. But a version that "
            f"stays shares {their} index key (a keyring of format 1 had one for every "
            "version): a copy of the records from before still matches people by "
            "identity through it, until a version made by a later rotation is current "
            "and every version sharing that key is retired too."
        )
    else:
        _say(
            f"Key {noun} {numbers} retired: {their} keys are gone from the keyring, so no "
            "copy of the key database from before can be unwrapped, and no copy of the "
            "records from before matches anyone by identity."
        )
    if retirement.rewrapped.count or retirement.reindexed:
        _say(
            f"{_counted(retirement.rewrapped.count, 'key')} re-wrapped and "
            f"{_counted(retirement.reindexed, 'identity')} re-indexed first."
        )
    if not retirement.scrubbed:
        _say(
            "A reader kept the key database's files from being scrubbed; a running "
            "server's maintenance does it, or run retire-kek again."
        )


def _versions(numbers: tuple[int, ...]) -> str:
    """ "version 4", "versions 4 to 6", "versions 2, 5 and 6"."""
    if len(numbers) == 1:
        return f"version {numbers[0]}"
    if len(numbers) > 2 and list(numbers) == list(range(numbers[0], numbers[-1] + 1)):
        return f"versions {numbers[0]} to {numbers[-1]}"
    return f"versions {', '.join(map(str, numbers[:-1]))} and {numbers[-1]}"


def _say(text: str) -> None:
    """A sentence on stdout, wrapped at words to the terminal (80 columns in a pipe)."""
    console.print(text, highlight=False, soft_wrap=False)


def _counted(number: int, thing: str) -> str:
    """`words.count` with thousands separated: 1,234 keys."""
    return words.count(number, thing).replace(str(number), f"{number:,}", 1)


def _show_key_progress() -> Callable[[KeyProgress], None]:
    """Progress of a rotation as lines of counts, each tenth of the way, for
    vaults big enough to take a while; readable through a pipe."""
    from vault.core.keys import REWRAP_PAGE

    shown: dict[str, int] = {}
    verbs = {"keys": ("key", "re-wrapped"), "identities": ("identity", "re-indexed")}

    def show(progress: KeyProgress) -> None:
        if progress.total <= REWRAP_PAGE:
            return
        tenth = progress.done * 10 // progress.total
        if shown.get(progress.stage) == tenth:
            return
        shown[progress.stage] = tenth
        thing, verb = verbs[progress.stage]
        _say(f"  {progress.done:,} of {_counted(progress.total, thing)} {verb}")

    return show


def _migrate(args: argparse.Namespace) -> int:
    """Apply what each database lacks, and say what was done."""
    from vault import bootstrap
    from vault import settings as configuration

    try:
        storage = configuration.storage_settings(
            configuration.data_dir(args.data_dir), args.database, args.key_database
        )
        done = bootstrap.migrate(storage.url, storage.key_url)
    except (configuration.SettingsError, *bootstrap.STORAGE_ERRORS) as error:
        _fail(str(error))
        return 2
    for database, applied in done:
        if applied:
            console.print(f"{database}: applied {', '.join(applied)}", highlight=False)
        else:
            console.print(f"{database}: up to date, nothing to apply", highlight=False)
    return 0


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
        record = client.get_record(args.name)
    _print_json(record)
    return 0


def _record_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        records = list(client.list_records(args.subject, args.category))
    if args.json:
        _print_json(records)
        return 0
    terminal.print_records(console, records)
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


# ------------------------------------------------------ export, erasure
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


def _erase(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            errors.print("error: erasure cannot be undone; pass --yes to confirm")
            return 2
        answer = input(f"Erase {args.subject} everywhere, for good? Type 'erase' to confirm: ")
        if answer.strip() != "erase":
            errors.print("not erased")
            return 1
    accepted: list[ErasureRequest] = []

    def follow(request: ErasureRequest) -> None:
        accepted[:] = [request]
        _show_progress(live, request)

    # The live table only in a terminal; through a pipe, the report alone.
    live = Live(console=errors, transient=True) if errors.is_terminal else None
    try:
        with _client(args) as client, live or contextlib.nullcontext():
            request = client.erase_subject(args.subject, progress=follow, wait=not args.no_wait)
    except KeyboardInterrupt:
        if accepted:
            name = accepted[0].name
            _fail(
                f"interrupted: the erasure goes on at the server; "
                f"follow it with `consent-vault requests show {name}`"
            )
        else:
            _fail(
                "interrupted before the server answered; if it accepted the erasure, "
                "`consent-vault requests list` shows it"
            )
        return 130
    _print_request(request, args.json)
    return 0


def _show_progress(live: Live | None, request: ErasureRequest) -> None:
    if live is not None:
        live.update(terminal.steps_table(request))


def _print_request(request: ErasureRequest, as_json: bool = False) -> None:
    if as_json:
        _print_json(request)
    else:
        terminal.print_request(console, request)


def _requests_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        requests = list(client.list_erasure_requests(args.state))
    if args.json:
        _print_json(requests)
        return 0
    terminal.print_requests(console, requests)
    return 0


def _requests_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.get_erasure_request(args.name), args.json)
    return 0


def _requests_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.retry_erasure_request(args.name), args.json)
    return 0


def _requests_confirm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.confirm_manual_action(args.action, args.by), args.json)
    return 0


def _requests_decide(args: argparse.Namespace) -> int:
    decision = args.decision.replace("-", "_")
    with _client(args) as client:
        _print_request(client.decide_match(args.name, args.system, decision, args.by), args.json)
    return 0


def _connectors_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connectors = client.list_connectors(check_health=args.check)
    if args.json:
        _print_json(connectors)
        return 0
    terminal.print_connectors(console, connectors, checked=args.check)
    return 0


def _connectors_check(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connector = client.check_connector(args.name)
    if args.json:
        _print_json(connector)
        return 0 if connector.healthy else 1
    terminal.print_connector_check(console, connector)
    return 0 if connector.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
