"""The `consent-vault` command: run the server, and talk to one through the Python client."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import grpc
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from vault.v1 import vault_pb2 as pb
from vault_client import Content, ErasureRequest, Identity, VaultClient, VaultClientError
from vault_client.errors import ServerUnreachableError

if TYPE_CHECKING:
    from vault.core.vault import Vault
    from vault.demo import Seeding

SERVER_ENV = "CONSENT_VAULT_SERVER"
DEFAULT_ADDRESS = "127.0.0.1:50051"

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
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
        field = f" (field {error.field})" if error.field else ""
        errors.print(
            f"[red]error:[/red] {escape(error.message + field)} "
            f"[dim]{error.code.name} {error.reason}[/dim]"
        )
        return 1
    except OSError as error:
        # A file the user named (or a place to write one) is not usable.
        _fail(str(error))
        return 1
    except KeyboardInterrupt:
        return 130


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
        return {"media_type": value.media_type, "filename": value.filename, "size": len(value.data)}
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


# The states an erasure request can be listed by, as the client names them.
_REQUEST_STATES = [
    value.name.removeprefix("ERASURE_REQUEST_STATE_").lower()
    for value in pb.ErasureRequestState.DESCRIPTOR.values
    if value.number
]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    serve.add_argument("--config", type=Path, help="TOML configuration: [connectors.NAME] sections")
    serve.add_argument(
        "--demo",
        action="store_true",
        help="seed the school's demo people and connect stand-ins of its four systems",
    )
    serve.add_argument("--max-concurrent-rpcs", type=int, default=64)
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
    create.set_defaults(handler=_subject_create)
    find = subject_commands.add_parser("find", help="find a subject by one identity")
    _identity_options(find)
    _json_option(find)
    find.set_defaults(handler=_subject_find)
    show = subject_commands.add_parser("show", help="show a subject")
    show.add_argument("name", help="subjects/{subject}")
    _json_option(show)
    show.set_defaults(handler=_subject_show)
    rectify = subject_commands.add_parser(
        "rectify", help="replace a wrong identity with the right one"
    )
    rectify.add_argument("name")
    rectify.add_argument("kind", choices=["personnummer", "email", "phone", "external_id"])
    rectify.add_argument("old")
    rectify.add_argument("new")
    rectify.add_argument("--system", default="", help="for external_id: the system")
    _json_option(rectify)
    rectify.set_defaults(handler=_subject_rectify)

    record = commands.add_parser("record", help="store, read and list records")
    record_commands = record.add_subparsers(title="record commands")
    put = record_commands.add_parser("put", help="store a record for a subject")
    put.add_argument("subject", help="subjects/{subject}")
    put.add_argument("--category", required=True)
    put.add_argument("--purpose", required=True)
    put.add_argument("--basis", required=True, help="consent, contract, legal_obligation, ...")
    put.add_argument("--source", required=True, help="the source system, such as lms")
    put.add_argument("--field", action="append", default=[], metavar="KEY=VALUE")
    put.add_argument("--file", type=Path, help="binary content, such as a photo")
    put.add_argument("--media-type", default="application/octet-stream")
    put.set_defaults(handler=_record_put)
    get = record_commands.add_parser("get", help="read a record")
    get.add_argument("name", help="subjects/{subject}/records/{record}")
    get.set_defaults(handler=_record_get)
    listing = record_commands.add_parser("list", help="list a subject's records")
    listing.add_argument("subject")
    listing.add_argument("--category", default="")
    _json_option(listing)
    listing.set_defaults(handler=_record_list)

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
    export.set_defaults(handler=_export)

    erase = commands.add_parser(
        "erase", help="erase a subject in the vault and every connected system"
    )
    erase.add_argument("subject")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    _json_option(erase)
    erase.set_defaults(handler=_erase)

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
    shown.set_defaults(handler=_requests_show)
    retried = request_commands.add_parser(
        "retry", help="send the steps that need attention round again"
    )
    retried.add_argument("name")
    _json_option(retried)
    retried.set_defaults(handler=_requests_retry)
    confirmed = request_commands.add_parser(
        "confirm", help="confirm a manual action was carried out"
    )
    confirmed.add_argument("action", help="erasureRequests/{request}/manualActions/{action}")
    confirmed.add_argument("--by", required=True, help="who carried it out")
    _json_option(confirmed)
    confirmed.set_defaults(handler=_requests_confirm)
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
    decided.set_defaults(handler=_requests_decide)

    connectors = commands.add_parser("connectors", help="list and check the installed connectors")
    connector_commands = connectors.add_subparsers(title="connector commands")
    clist = connector_commands.add_parser("list", help="installed connectors and what they hold")
    clist.add_argument("--check", action="store_true", help="run each one's health check")
    _json_option(clist)
    clist.set_defaults(handler=_connectors_list)
    ccheck = connector_commands.add_parser("check", help="check one connector now")
    ccheck.add_argument("name")
    _json_option(ccheck)
    ccheck.set_defaults(handler=_connectors_check)

    keys = commands.add_parser(
        "rotate-kek", help="add a new key-encryption key and re-wrap every subject key"
    )
    keys.add_argument("--data-dir")
    keys.add_argument("--keyring")
    keys.set_defaults(handler=_rotate_kek)
    return parser


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
    found = [Identity("personnummer", v) for v in args.pnr]
    found += [Identity("email", v) for v in args.email]
    found += [Identity("phone", v) for v in args.phone]
    for value in args.external:
        system, _, external_id = value.partition(":")
        found.append(Identity("external_id", external_id, system))
    return found


def _client(args: argparse.Namespace) -> VaultClient:
    return VaultClient(args.server)


# ---------------------------------------------------------------- serve
DEMO_LOCK = "demo.lock"


def _serve(args: argparse.Namespace) -> int:
    """Check what would stop the server before anything starts: the address
    must be free, and with --demo no other demo may use the data directory
    (a second one would rebuild the demo systems' databases under the first)."""
    from vault import bootstrap
    from vault.server.app import AddressUnavailable, check_address

    try:
        check_address(args.address)
    except AddressUnavailable as error:
        _fail(f"{error}; choose another with --address HOST:PORT")
        return 2
    if not args.demo:
        # Plain servers may share a data directory: the stores queue their writers.
        return _run_server(args)
    directory = bootstrap.data_dir(args.data_dir)
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
        return _run_server(args)
    finally:
        lock.close()  # releases the lock


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


def _run_server(args: argparse.Namespace) -> int:
    from vault import __version__, bootstrap, demo
    from vault.connectors.registry import ConfigError, ConnectorRegistry, read_config
    from vault.core.erasure import ErasureSettings
    from vault.core.model import Controller
    from vault.plugins.host import VaultHost
    from vault.plugins.manager import make_plugin_manager
    from vault.server.app import AddressUnavailable, ServerSettings, create_server
    from vault.server.context import VaultServices

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and some systems' protocols carry a
    # token in the URL (Moodle's file downloads): credentials never reach the log.
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    directory = bootstrap.data_dir(args.data_dir)
    try:
        config = read_config(args.config) if args.config else {}
    except ConfigError as error:
        _fail(str(error))
        return 2
    # The controller's time zone: connectors' "today" and every retained
    # item's last day kept are dates there.
    time_zone = str(config.get("controller", {}).get("time_zone", "Europe/Stockholm"))
    vault = _open_vault(directory, args.keyring)
    if vault is None:
        return 2
    demo_systems = None
    try:
        sections = dict(config.get("connectors", {}))
        if args.demo:
            from vault_standins import demo as standins
            from vault_standins.people import DEMO_PEOPLE

            # The vault first: the stand-ins get no data of a demo person
            # the vault has erased.
            seeding = demo.seed_remembering(vault, directory)
            _print_seeding(seeding, directory)
            people = [p for p in DEMO_PEOPLE if p.key not in seeding.left_out_keys]
            demo_systems = standins.start(directory / "demo-systems", people)
            sections = {**demo_systems.sections, **sections}
        registry = ConnectorRegistry.load(
            sections,
            make_plugin_manager(),
            VaultHost(__version__),
            args.config.parent if args.config else Path.cwd(),
            time_zone=time_zone,
        )
    except (ConfigError, demo.DemoNoteError) as error:
        _fail(str(error))
        if demo_systems is not None:
            demo_systems.stop()
        bootstrap.close_vault(vault)
        return 2
    for item in registry.installed.values():
        state = "enabled" if item.enabled else "installed, not enabled"
        console.print(f"connector {item.name} {item.version}: {state}")
    erasure = config.get("erasure", {})
    try:
        settings = ErasureSettings(
            lease_seconds=float(erasure.get("lease_seconds", 60)),
            call_timeout_seconds=float(erasure.get("call_timeout_s", 30)),
            max_attempts=int(erasure.get("max_attempts", 8)),
            backoff_base_seconds=float(erasure.get("backoff_base_s", 1)),
            backoff_cap_seconds=float(erasure.get("backoff_cap_s", 600)),
            time_zone=time_zone,
        )
    except (TypeError, ValueError):
        _fail("[erasure] settings must be numbers (seconds, or a count for max_attempts)")
        registry.close()
        if demo_systems is not None:
            demo_systems.stop()
        bootstrap.close_vault(vault)
        return 2
    # Who "we" are on an export's page; the demo is the school's, a configured
    # [controller] wins, and without either the page says none is configured.
    given = config.get("controller", {})
    fallback = (
        Controller("Leep Yrkesutbildning AB, Malmö (demo)", "dataskydd@example.se")
        if args.demo
        else Controller()
    )
    controller = Controller(
        str(given.get("name", fallback.name)),
        str(given.get("contact", fallback.contact)),
        str(given.get("supervisory_authority", fallback.supervisory_authority)),
    )
    services = VaultServices.build(vault, registry, settings, controller=controller)
    try:
        running = create_server(
            services,
            args.address,
            ServerSettings(
                max_concurrent_rpcs=args.max_concurrent_rpcs,
                erasure_workers=int(erasure.get("workers", 8)),
            ),
        )
    except AddressUnavailable as error:
        _fail(f"{error}; choose another with --address HOST:PORT")
        registry.close()
        if demo_systems is not None:
            demo_systems.stop()
        bootstrap.close_vault(vault)
        return 2
    host = args.address.rsplit(":", 1)[0]
    console.print(
        f"consent-vault listening on [bold]{host}:{running.port}[/bold] "
        f"(data in {escape(str(directory.resolve()))}); Ctrl-C or SIGTERM stops it",
        soft_wrap=True,
    )
    stopped = threading.Event()

    def stop(signum: int, frame: object) -> None:
        if not stopped.is_set():
            stopped.set()
            console.print("stopping: health NOT_SERVING, finishing calls in flight")
            threading.Thread(target=running.stop, args=(10.0,), daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    running.wait()
    registry.close()
    if demo_systems is not None:
        demo_systems.stop()
    bootstrap.close_vault(vault)
    return 0


def _open_vault(directory: Path, keyring: str | None) -> Vault | None:
    """The vault in `directory`, or None after one line on what stops it
    (a keyring others can read, a data directory that cannot be written)."""
    from vault import bootstrap
    from vault.core.errors import KeyringError

    try:
        return bootstrap.open_vault(directory, bootstrap.keyring_path(directory, keyring))
    except KeyringError as error:
        _fail(error.message)
    except OSError as error:
        _fail(f"cannot open the vault in {directory}: {error.strerror or error}")
    return None


def _print_seeding(seeding: Seeding, directory: Path) -> None:
    console.print(
        f"demo: {len(seeding.added)} school people added "
        f"({len(seeding.already_there)} already there)",
        highlight=False,
    )
    if seeding.left_out:
        from vault import bootstrap

        # Demo people are fictional: naming them here tells the user who is missing.
        afresh = f"stop the server and remove {directory}"
        if directory == bootstrap.DEFAULT_DATA_DIR.absolute():
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
    from vault import bootstrap, crypto

    directory = bootstrap.data_dir(args.data_dir)
    path = bootstrap.keyring_path(directory, args.keyring)
    vault = _open_vault(directory, args.keyring)
    if vault is None:
        return 2
    new_ring = vault.keyring.with_new_kek()
    # The new ring (holding old and new KEKs) is saved before any re-wrap, so a
    # crash part-way leaves every subject key readable.
    crypto.write_keyring(path, new_ring)
    count = vault.keys.rotate(new_ring)
    console.print(
        f"KEK version {new_ring.current_version} is current; {count} subject keys re-wrapped"
    )
    bootstrap.close_vault(vault)
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


def _print_subject(subject: object, as_json: bool = False) -> None:
    if as_json:
        _print_json(subject)
        return
    # The name goes on a line of its own, never wrapped, so it can be copied.
    console.print(subject.name, soft_wrap=True, highlight=False)  # type: ignore[attr-defined]
    table = Table(show_header=False)
    table.add_row("state", subject.state)  # type: ignore[attr-defined]
    table.add_row("roles", ", ".join(subject.roles) or "-")  # type: ignore[attr-defined]
    table.add_row("protected identity", "yes" if subject.protected_identity else "no")  # type: ignore[attr-defined]
    for identity in subject.identities:  # type: ignore[attr-defined]
        label = f"{identity.kind} ({identity.system})" if identity.system else identity.kind
        table.add_row(label, identity.value)
    console.print(table)


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
    if not records:
        console.print("no records", highlight=False)
    # Each record's full name on a line of its own, never cut: it is what
    # `record get` takes.
    for record in records:
        stored = f"{record.create_time:%Y-%m-%d}" if record.create_time else "-"
        console.print(record.name, soft_wrap=True, highlight=False)
        console.print(
            escape(
                f"  {record.category}: for {record.purpose} ({record.legal_basis}), "
                f"from {record.source_system}, stored {stored}"
            ),
            highlight=False,
        )
    return 0


# ------------------------------------------------------ export, erasure
def _export(args: argparse.Namespace) -> int:
    columns = (
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}
    try:
        with Progress(*columns, console=errors) as progress, _client(args) as client:

            def show(system: str, done: int, total: int) -> None:
                if system not in tasks:
                    tasks[system] = progress.add_task(system, total=None)
                progress.update(tasks[system], completed=done, total=total or None)

            summary = client.export_subject(
                args.subject, args.output, progress=show, same_person_systems=args.same_person
            )
    except OSError as error:
        # The client wrote nothing at the path: the archive goes there whole or not at all.
        _fail(f"cannot write the export to {args.output}: {error.strerror or error}")
        return 1
    console.print(
        f"{summary.records} vault records, {summary.bytes_written} bytes written to {args.output}"
    )
    for system, state in sorted(summary.systems.items()):
        if system != "vault":
            console.print(f"  {system}: {state}", soft_wrap=True, highlight=False)
    withheld = sorted(s for s, state in summary.systems.items() if state.startswith("withheld"))
    if withheld:
        console.print(
            "Withheld systems were left out: the records they found may be someone else's. "
            "Check them in the system; if they are this person's, export again with "
            + " ".join(f"--same-person {s}" for s in withheld),
            soft_wrap=True,
            highlight=False,
        )
    return 0


def _erase(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            errors.print("error: erasure cannot be undone; pass --yes to confirm")
            return 2
        answer = input(f"Erase {args.subject} everywhere, for good? Type 'erase' to confirm: ")
        if answer.strip() != "erase":
            errors.print("not erased")
            return 1
    with _client(args) as client, Live(console=errors, transient=True) as live:
        request = client.erase_subject(
            args.subject, progress=lambda r: live.update(_steps_table(r)), wait=not args.no_wait
        )
    _print_request(request, args.json)
    return 0


def _steps_table(request: ErasureRequest) -> Table:
    table = Table(
        "system", "state", "attempts", "last error", title=f"{request.name}: {request.state}"
    )
    for step in request.steps:
        table.add_row(step.system, step.state, str(step.attempts), step.last_error or "")
    return table


def _print_request(request: ErasureRequest, as_json: bool = False) -> None:
    """The erasure report a person reads: one section per system, each item's
    outcome first and its text wrapped beside it, so it stays legible in an
    80-column terminal (the legal reasons are long)."""
    if as_json:
        _print_json(request)
        return
    console.print(f"{request.name} ({request.subject})", soft_wrap=True, highlight=False)
    console.print(
        f"state: [bold]{_in_words(request.state)}[/bold]; "
        f"received {request.create_time:%Y-%m-%d %H:%M} UTC; "
        f"legal deadline {request.deadline_time:%Y-%m-%d}",
        soft_wrap=True,
    )
    waiting = []
    undecided: list[str] = []
    for step in request.steps:
        console.print()
        console.print(f"[bold]{step.system}[/bold]: {_in_words(step.state)}", highlight=False)
        items = Table.grid(padding=(0, 2))
        items.add_column(no_wrap=True)  # the outcome
        items.add_column()  # what, and why it is kept
        if step.conflict and not step.decision:
            items.add_row(
                "conflict",
                Text(
                    "nothing done here: the records found may be someone else's\n"
                    + "\n".join(f"- {text}" for text in step.conflict)
                    + "\nto decide: see below"
                ),
            )
            undecided.append(step.system)
        elif step.state not in ("succeeded", "not_applicable"):
            attempts = f"{step.attempts} attempt{'s' * (step.attempts != 1)}"
            items.add_row(f"({attempts})", Text(step.last_error or ""))
        if step.decision:
            verdict = (
                "the same person: erased after all"
                if step.decision == "same_person"
                else "not this person: nothing erased here"
            )
            items.add_row("decided", Text(f"by {step.decided_by}: {verdict}"))
        for note in step.notes:
            items.add_row("note", Text(note))
        for item in step.items:
            text = f"{item.category}: {item.description}" if item.category else item.description
            if item.outcome == "retained":
                until = (
                    f"kept through {item.retained_until:%Y-%m-%d}"
                    if item.retained_until
                    else "kept"
                )
                text += f"\n{until}: {item.legal_reason}"
            elif item.outcome == "manual_action":
                if item.confirmed_by:
                    text += f"\nconfirmed by {item.confirmed_by}"
                else:
                    text += "\nwaiting: see below"
                    waiting.append(item)
            items.add_row(_OUTCOME_WORDS.get(item.outcome, item.outcome), Text(text))
        console.print(Padding(items, (0, 0, 0, 2)))
    for system in undecided:
        # Printed whole, never cut to a column: the command is what the officer types.
        console.print(
            f"\n[bold]Is it the same person?[/bold] Check the records {system} found "
            "(look them up in the system), then one of:",
            highlight=False,
        )
        for decision in ("same-person", "not-this-person"):
            console.print(
                f"consent-vault requests decide {request.name} {system} {decision} --by YOUR-NAME",
                soft_wrap=True,
                highlight=False,
            )
    for item in waiting:
        # Printed whole, never cut to a column: the name is what the admin types.
        console.print(
            f"\n[bold]Manual action[/bold] {item.manual_action}", soft_wrap=True, highlight=False
        )
        console.print(
            item.instructions or "(instructions no longer readable)",
            soft_wrap=True,
            highlight=False,
        )
        console.print(
            f"When done: consent-vault requests confirm {item.manual_action} --by YOUR-NAME",
            soft_wrap=True,
            highlight=False,
        )


# What a person reads in the report; --json keeps the codes.
_OUTCOME_WORDS = {
    "removed": "removed",
    "retained": "kept",
    "manual_action": "by hand",
    "no_match": "nobody found",
}
_STATE_WORDS = {
    "pending": "waiting to start",
    "retrying": "failed, will be retried",
    "succeeded": "done",
    "not_applicable": "not applicable",
}


def _in_words(state: str) -> str:
    return _STATE_WORDS.get(state, state.replace("_", " "))


def _requests_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        requests = list(client.list_erasure_requests(args.state))
    if args.json:
        _print_json(requests)
        return 0
    if not requests:
        console.print("no erasure requests", highlight=False)
    # Names whole, each on a line of its own: show, retry and confirm take them.
    for request in requests:
        console.print(f"{request.name}  {request.state}", soft_wrap=True, highlight=False)
        console.print(f"  subject   {request.subject}", soft_wrap=True, highlight=False)
        console.print(
            f"  received  {request.create_time:%Y-%m-%d}, "
            f"legal deadline {request.deadline_time:%Y-%m-%d}",
            highlight=False,
        )
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
    # One section per connector, its holdings beneath it: long retention
    # texts wrap in their own column and stay legible at 80 columns.
    for c in connectors:
        heading = f"[bold]{c.name}[/bold] {c.version}: " + ("enabled" if c.enabled else "disabled")
        if c.location:
            heading += f", hosted in {c.location}"
        if args.check and c.enabled:
            heading += "; health " + ("ok" if c.healthy else "[bold]FAILING[/bold]")
            heading += f" ({c.health_detail})" if c.health_detail else ""
        console.print(heading, highlight=False)
        holdings = Table.grid(padding=(0, 2))
        holdings.add_column(no_wrap=True)  # category
        holdings.add_column(no_wrap=True)  # legal basis
        holdings.add_column()  # retention
        for h in c.holdings:
            basis = h.legal_basis + ("" if h.erasable else ", legal hold")
            holdings.add_row(h.category, basis, h.retention)
        console.print(Padding(holdings, (0, 0, 1, 2)))
    return 0


def _connectors_check(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connector = client.check_connector(args.name)
    if args.json:
        _print_json(connector)
        return 0 if connector.healthy else 1
    state = "ok" if connector.healthy else "FAILING"
    console.print(
        f"{connector.name} {connector.version}: {state} ({connector.health_detail})", soft_wrap=True
    )
    return 0 if connector.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
