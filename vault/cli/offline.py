"""The commands on the data directory, with no server to call: serve, rotate-kek,
retire-kek and migrate."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.markup import escape

    from vault.demo_tokens import ROLES as DEMO_ROLES
    from vault.reports import words
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from collections.abc import Callable

    from vault.core.rotation import Progress as KeyProgress
    from vault.core.rotation import Retirement
    from vault.core.vault import Vault
    from vault.demo import Seeding
    from vault.demo_tokens import DemoToken
    from vault.runtime import Runtime
    from vault.settings import KeyringSettings, Settings, StorageSettings

from vault.cli import _fail, console

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
            tls_cert_flag=args.tls_cert,
            tls_key_flag=args.tls_key,
            client_ca_flag=args.client_ca,
            insecure_plaintext=args.insecure_plaintext,
            no_reflection=args.no_reflection,
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
        _print_demo_tokens(runtime.demo_tokens)
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


def _print_demo_tokens(tokens: list[DemoToken]) -> None:
    """One line a token: its role and its file, relative to here when under
    here (short enough for 80 columns); a path is never broken."""
    if not tokens:
        return
    console.print("demo: an API token for each role (files of mode 0600):", highlight=False)
    here = Path.cwd()
    for token in tokens:
        path = token.path.relative_to(here) if token.path.is_relative_to(here) else token.path
        note = " (the CLI's)" if token.role == DEMO_ROLES[0] else ""
        made = ", new" if token.issued else ""
        console.print(
            escape(f"  {token.role.called}{note}{made}: {path}"), highlight=False, soft_wrap=True
        )


def open_vault(
    args: argparse.Namespace, directory: Path, keyring: KeyringSettings, *, existing: bool
) -> tuple[Runtime, Vault] | None:
    """The vault on the stores --database and --key-database name (the data
    directory's by default), made there unless `existing`, processing for the
    purposes of --config if the command has one, with the runtime that holds
    them open; None, once a line has said why, if it cannot be."""
    from vault import settings as configuration
    from vault.runtime import Runtime, StartupError

    try:
        storage = configuration.storage_settings(directory, args.database, args.key_database)
        # The purposes of the server's --config where the command takes one
        # (a token checked against them, say); the school's otherwise, as a
        # server's are without a [purposes] file.
        purposes = configuration.purposes_in(getattr(args, "config", None))
    except configuration.SettingsError as error:
        _fail(str(error))
        return None
    runtime = Runtime(configuration.Settings(storage, keyring, purposes=purposes))
    try:
        return runtime, runtime.open_vault(existing=existing)
    except StartupError as error:
        runtime.close()
        _fail(str(error))
        return None


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
    opened = open_vault(args, directory, keyring, existing=True)
    if opened is None:
        return 2
    runtime, vault = opened
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
                    f"{words.count(rotation.rewrapped.count, 'key')} re-wrapped, "
                    f"{words.count(rotation.reindexed, 'identity')} re-indexed"
                    + (
                        f", {words.count(rotation.removed, 'identity')} of erased people removed"
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
            f"{words.count(unopened, 'key')} did not open (tampered or damaged) and "
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
            f"{words.count(retirement.rewrapped.count, 'key')} re-wrapped and "
            f"{words.count(retirement.reindexed, 'identity')} re-indexed first."
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
        _say(f"  {progress.done:,} of {words.count(progress.total, thing)} {verb}")

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
