"""The `consent-vault` command: run the server, and talk to one through the Python client."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from rich.console import Console
from rich.live import Live
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

from vault_client import Content, ErasureRequest, Identity, VaultClient, VaultClientError

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
    except VaultClientError as error:
        field = f" (field {error.field})" if error.field else ""
        errors.print(
            f"[red]error:[/red] {error.message}{field} [dim]{error.code.name} {error.reason}[/dim]"
        )
        return 1
    except KeyboardInterrupt:
        return 130


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
    create.set_defaults(handler=_subject_create)
    find = subject_commands.add_parser("find", help="find a subject by one identity")
    _identity_options(find)
    find.set_defaults(handler=_subject_find)
    show = subject_commands.add_parser("show", help="show a subject")
    show.add_argument("name", help="subjects/{subject}")
    show.set_defaults(handler=_subject_show)
    rectify = subject_commands.add_parser(
        "rectify", help="replace a wrong identity with the right one"
    )
    rectify.add_argument("name")
    rectify.add_argument("kind", choices=["personnummer", "email", "phone", "external_id"])
    rectify.add_argument("old")
    rectify.add_argument("new")
    rectify.add_argument("--system", default="", help="for external_id: the system")
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
    listing.set_defaults(handler=_record_list)

    export = commands.add_parser(
        "export", help="export everything held about a subject to a zip file"
    )
    export.add_argument("subject")
    export.add_argument("-o", "--output", type=Path, required=True)
    export.set_defaults(handler=_export)

    erase = commands.add_parser(
        "erase", help="erase a subject in the vault and every connected system"
    )
    erase.add_argument("subject")
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.add_argument("--no-wait", action="store_true", help="return once the request is accepted")
    erase.set_defaults(handler=_erase)

    requests = commands.add_parser(
        "requests", help="follow erasure requests and confirm manual actions"
    )
    request_commands = requests.add_subparsers(title="request commands")
    listed = request_commands.add_parser("list", help="erasure requests with their legal deadlines")
    listed.add_argument("--state", default="", help="only this state, such as partially_completed")
    listed.set_defaults(handler=_requests_list)
    shown = request_commands.add_parser("show", help="one erasure request, system by system")
    shown.add_argument("name", help="erasureRequests/{request}")
    shown.set_defaults(handler=_requests_show)
    retried = request_commands.add_parser(
        "retry", help="send the steps that need attention round again"
    )
    retried.add_argument("name")
    retried.set_defaults(handler=_requests_retry)
    confirmed = request_commands.add_parser(
        "confirm", help="confirm a manual action was carried out"
    )
    confirmed.add_argument("action", help="erasureRequests/{request}/manualActions/{action}")
    confirmed.add_argument("--by", required=True, help="who carried it out")
    confirmed.set_defaults(handler=_requests_confirm)

    connectors = commands.add_parser("connectors", help="list and check the installed connectors")
    connector_commands = connectors.add_subparsers(title="connector commands")
    clist = connector_commands.add_parser("list", help="installed connectors and what they hold")
    clist.add_argument("--check", action="store_true", help="run each one's health check")
    clist.set_defaults(handler=_connectors_list)
    ccheck = connector_commands.add_parser("check", help="check one connector now")
    ccheck.add_argument("name")
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
    parser.add_argument("--external", action="append", default=[], metavar="SYSTEM:ID")


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
def _serve(args: argparse.Namespace) -> int:
    from vault import __version__, bootstrap, demo
    from vault.connectors.registry import ConfigError, ConnectorRegistry, read_config
    from vault.core.erasure import ErasureSettings
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
        sections = dict(config.get("connectors", {}))
        demo_systems = None
        if args.demo:
            from vault_standins import demo as standins

            demo_systems = standins.start(directory / "demo-systems")
            sections = {**demo_systems.sections, **sections}
        registry = ConnectorRegistry.load(
            sections,
            make_plugin_manager(),
            VaultHost(__version__),
            args.config.parent if args.config else Path.cwd(),
        )
    except ConfigError as error:
        errors.print(f"[red]error:[/red] {error}")
        return 2
    keyring = Path(args.keyring) if args.keyring else None
    vault = bootstrap.open_vault(directory, keyring)
    if args.demo:
        added = demo.seed(vault)
        console.print(
            f"demo: {added} school people added ({len(demo.PEOPLE) - added} already there)"
        )
    for item in registry.installed.values():
        state = "enabled" if item.enabled else "installed, not enabled"
        console.print(f"connector {item.name} {item.version}: {state}")
    erasure = config.get("erasure", {})
    services = VaultServices.build(
        vault,
        registry,
        ErasureSettings(
            lease_seconds=float(erasure.get("lease_seconds", 60)),
            call_timeout_seconds=float(erasure.get("call_timeout_s", 30)),
            max_attempts=int(erasure.get("max_attempts", 8)),
            backoff_base_seconds=float(erasure.get("backoff_base_s", 1)),
            backoff_cap_seconds=float(erasure.get("backoff_cap_s", 600)),
        ),
    )
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
        errors.print(f"[red]error:[/red] {error}; choose another with --address HOST:PORT")
        registry.close()
        if demo_systems is not None:
            demo_systems.stop()
        bootstrap.close_vault(vault)
        return 2
    host = args.address.rsplit(":", 1)[0]
    console.print(
        f"consent-vault listening on [bold]{host}:{running.port}[/bold] "
        f"(data in {directory.resolve()}); Ctrl-C or SIGTERM stops it",
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


def _rotate_kek(args: argparse.Namespace) -> int:
    from vault import bootstrap, crypto

    directory = bootstrap.data_dir(args.data_dir)
    path = bootstrap.keyring_path(directory, args.keyring)
    vault = bootstrap.open_vault(directory, path)
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
    _print_subject(subject)
    return 0


def _subject_find(args: argparse.Namespace) -> int:
    identities = _identities(args)
    if len(identities) != 1:
        errors.print("error: give exactly one identity (--pnr, --email, --phone or --external)")
        return 2
    with _client(args) as client:
        _print_subject(
            client.find_subject(identities[0].kind, identities[0].value, identities[0].system)
        )
    return 0


def _subject_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_subject(client.get_subject(args.name))
    return 0


def _subject_rectify(args: argparse.Namespace) -> int:
    with _client(args) as client:
        subject = client.rectify_identity(
            args.name,
            Identity(args.kind, args.old, args.system),
            Identity(args.kind, args.new, args.system),
        )
    _print_subject(subject)
    return 0


def _print_subject(subject: object) -> None:
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
        content = Content(args.file.read_bytes(), args.media_type, args.file.name)
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
    console.print_json(json.dumps(_record_json(record)))
    return 0


def _record_list(args: argparse.Namespace) -> int:
    table = Table("record", "category", "purpose", "legal basis", "source", "stored")
    with _client(args) as client:
        for record in client.list_records(args.subject, args.category):
            table.add_row(
                record.name.rsplit("/", 1)[-1],
                record.category,
                record.purpose,
                record.legal_basis,
                record.source_system,
                record.create_time.strftime("%Y-%m-%d") if record.create_time else "",
            )
    console.print(table)
    return 0


def _record_json(record: object) -> dict[str, object]:
    data = {
        k: v for k, v in vars(record).items() if k not in ("content", "create_time", "update_time")
    }
    content = getattr(record, "content", None)
    if content is not None:
        data["content"] = {
            "media_type": content.media_type,
            "filename": content.filename,
            "size": len(content.data),
        }
    return data


# ------------------------------------------------------ export, erasure
def _export(args: argparse.Namespace) -> int:
    columns = (
        TextColumn("{task.description:>16}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    tasks: dict[str, TaskID] = {}
    with Progress(*columns, console=errors) as progress, _client(args) as client:

        def show(system: str, done: int, total: int) -> None:
            if system not in tasks:
                tasks[system] = progress.add_task(system, total=None)
            progress.update(tasks[system], completed=done, total=total or None)

        summary = client.export_subject(args.subject, args.output, progress=show)
    console.print(
        f"{summary.records} vault records, {summary.bytes_written} bytes written to {args.output}"
    )
    for system, state in sorted(summary.systems.items()):
        if system != "vault":
            console.print(f"  {system}: {state}", soft_wrap=True)
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
    _print_request(request)
    return 0


def _steps_table(request: ErasureRequest) -> Table:
    table = Table(
        "system", "state", "attempts", "last error", title=f"{request.name}: {request.state}"
    )
    for step in request.steps:
        table.add_row(step.system, step.state, str(step.attempts), step.last_error or "")
    return table


def _print_request(request: ErasureRequest) -> None:
    """The erasure report a person reads: one section per system, each item's
    outcome first and its text wrapped beside it, so it stays legible in an
    80-column terminal (the legal reasons are long)."""
    console.print(f"{request.name} ({request.subject})", soft_wrap=True, highlight=False)
    console.print(
        f"state: [bold]{request.state}[/bold]; received {request.create_time:%Y-%m-%d %H:%M} UTC; "
        f"legal deadline {request.deadline_time:%Y-%m-%d}",
        soft_wrap=True,
    )
    waiting = []
    for step in request.steps:
        console.print()
        console.print(f"[bold]{step.system}[/bold]: {step.state}", highlight=False)
        items = Table.grid(padding=(0, 2))
        items.add_column(no_wrap=True)  # the outcome
        items.add_column()  # what, and why it is kept
        if step.state != "succeeded":
            attempts = f"{step.attempts} attempt{'s' * (step.attempts != 1)}"
            items.add_row(f"({attempts})", step.last_error or "")
        for item in step.items:
            text = f"{item.category}: {item.description}" if item.category else item.description
            if item.outcome == "retained":
                until = f"until {item.retained_until:%Y-%m-%d}" if item.retained_until else "kept"
                text += f"\n{until}: {item.legal_reason}"
            elif item.outcome == "manual_action":
                if item.confirmed_by:
                    text += f"\nconfirmed by {item.confirmed_by}"
                else:
                    text += "\nwaiting: see below"
                    waiting.append(item)
            items.add_row(item.outcome, Text(text))
        console.print(Padding(items, (0, 0, 0, 2)))
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


def _requests_list(args: argparse.Namespace) -> int:
    table = Table("request", "subject", "state", "received", "deadline")
    with _client(args) as client:
        for request in client.list_erasure_requests(args.state):
            table.add_row(
                request.name,
                request.subject,
                request.state,
                f"{request.create_time:%Y-%m-%d}",
                f"{request.deadline_time:%Y-%m-%d}",
            )
    console.print(table)
    return 0


def _requests_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.get_erasure_request(args.name))
    return 0


def _requests_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.retry_erasure_request(args.name))
    return 0


def _requests_confirm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.confirm_manual_action(args.action, args.by))
    return 0


def _connectors_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connectors = client.list_connectors(check_health=args.check)
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
    state = "ok" if connector.healthy else "FAILING"
    console.print(
        f"{connector.name} {connector.version}: {state} ({connector.health_detail})", soft_wrap=True
    )
    return 0 if connector.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
