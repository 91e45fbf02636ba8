"""Wires the application from its settings: the stores, the vault, the demo,
the connectors, the one step engine and the kinds of request it runs (the
erasure, and the erasure for one purpose that a withdrawal of consent
starts); starts the server and the background workers, and stops and closes
them all in the reverse order.

    runtime = Runtime(settings)
    with runtime:                 # opens everything, or raises StartupError
        running = runtime.start()  # serves, and runs the workers
        running.wait()
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from vault import __version__, bootstrap, demo, demo_tokens
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.core.clock import Clock
from vault.core.erasure import ErasureCoordinator, ErasureSettings
from vault.core.model import Controller
from vault.core.rotation import Retirement, Rotation
from vault.core.steps import StepEngine
from vault.core.vault import Vault
from vault.crypto import KeyringError
from vault.keyring import KEYRING_ENV, KeyringSource, load_or_create_keyring
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.server.app import RunningServer, create_server
from vault.server.context import VaultServices, enabled_connectors, installed_holdings
from vault.settings import KeySettings, Settings

if TYPE_CHECKING:
    from vault_standins.demo import DemoSystems

log = logging.getLogger("vault.runtime")

# How often the key cache's hit rate is logged: often enough to judge a change
# of [keys] cache_entries within minutes, seldom enough to stay out of the way.
KEY_CACHE_REPORT_SECONDS = 300.0

# How often a server looks whether [keys] rotate_every or retire_after is due:
# part of the time a promise "a key-store backup older than N days cannot
# restore an erased person" adds to N.
KEY_ROTATION_CHECK_SECONDS = 3600.0

# How often a server folds the audit events written meanwhile into the
# signed tree: an event is in a signed tree head within about this long (the
# README's bounded delay), however many server processes share the log.
AUDIT_SEQUENCE_SECONDS = 1.0


def _no_vault(where: str, keyring: Path) -> str:
    return (
        f"no vault there ({where}): no keyring at {keyring} and no keys in the key "
        "database; name the vault's --data-dir (or its --database and --keyring)"
    )


class StartupError(Exception):
    """What stops the application from starting, in one line."""


class NoVault(StartupError):
    """rotate-kek and retire-kek name a place that holds no vault (a typo in
    --data-dir, say): nothing was made there."""


def step_engine(vault: Vault, erasure: ErasureSettings | None = None) -> StepEngine:
    """The process's one durable step engine, over the record store's steps, with
    the leases and backoff of the [erasure] settings; each kind of request
    registers with it, and the workers run it."""
    return StepEngine(
        vault.records.steps, vault.clock, (erasure or ErasureSettings()).engine_settings()
    )


def build_services(
    vault: Vault,
    registry: ConnectorRegistry | None = None,
    erasure: ErasureSettings | None = None,
    controller: Controller | None = None,
    export_timeout_seconds: float = 30.0,
    engine: StepEngine | None = None,
    stores_embedded: bool = True,
) -> VaultServices:
    """What the servicers work with: the vault, the connectors, and the erasure,
    registered with `engine` (one of its own if none is given); `stores_embedded`
    as `Stores.embedded` says (False over a network database)."""
    registry = registry or ConnectorRegistry()
    coordinator = ErasureCoordinator(
        vault,
        engine or step_engine(vault, erasure),
        enabled_connectors(registry),
        installed_holdings(registry),
        erasure,
    )
    # A withdrawal of consent becomes a durable erasure of what is held for its
    # purpose, told to the systems that hold data for it.
    vault.consents.intake = coordinator.withdrawals
    return VaultServices(
        vault,
        registry,
        coordinator,
        export_timeout_seconds,
        controller or Controller(),
        stores_embedded,
    )


class Workers:
    """The background workers: threads that carry out the step engine's due
    steps (an erasure's, and any other kind's it runs), one that runs the
    vault's maintenance, one that sequences the audit log and one that logs
    how the key cache does. Started once the server serves, stopped before
    the stores close."""

    def __init__(
        self,
        vault: Vault,
        engine: StepEngine,
        erasure_workers: int = 8,
        maintenance_interval_seconds: float = 30.0,
        step_timeout_seconds: float = ErasureSettings.call_timeout_seconds,
        key_cache_report_seconds: float = KEY_CACHE_REPORT_SECONDS,
        keys: KeySettings | None = None,
        key_rotation_check_seconds: float = KEY_ROTATION_CHECK_SECONDS,
        audit_sequence_seconds: float = AUDIT_SEQUENCE_SECONDS,
    ) -> None:
        self.vault = vault
        self.engine = engine
        # How long a step may still take once asked to stop (a connector's call has
        # its own deadline).
        self.step_timeout_seconds = step_timeout_seconds
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=_run_steps,
                args=(engine, self._stop),
                name=f"erasure-worker-{index}",
                daemon=True,
            )
            for index in range(erasure_workers)
        ]
        if maintenance_interval_seconds > 0:
            self._threads.append(
                threading.Thread(
                    target=_maintain,
                    args=(vault, maintenance_interval_seconds, self._stop),
                    name="vault-maintenance",
                    daemon=True,
                )
            )
        if keys is not None and keys.scheduled and key_rotation_check_seconds > 0:
            # A thread of its own, beside maintenance: a rotation of a big vault
            # takes minutes, and the purge and scrub after an erasure must not wait.
            self._threads.append(
                threading.Thread(
                    target=_rotate_on_schedule,
                    args=(vault, keys, key_rotation_check_seconds, self._stop),
                    name="vault-key-rotation",
                    daemon=True,
                )
            )
        if audit_sequence_seconds > 0:
            self._threads.append(
                threading.Thread(
                    target=_sequence_audit_log,
                    args=(vault, audit_sequence_seconds, self._stop),
                    name="audit-sequencer",
                    daemon=True,
                )
            )
        if key_cache_report_seconds > 0:
            self._threads.append(
                threading.Thread(
                    target=_report_key_cache,
                    args=(vault, key_cache_report_seconds, self._stop),
                    name="vault-key-cache-report",
                    daemon=True,
                )
            )

    def start(self) -> None:
        # Steps a crashed process of this host held go back in the queue first, and
        # a request that completed just before a crash loses the secrets it held.
        self.engine.recover()
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Returns once no worker runs; safe from any thread, and more than once."""
        self._stop.set()
        self.vault.scrub_due.set()  # wakes the maintenance thread so it can end
        self.engine.work_available.set()  # and the step workers
        for thread in self._threads:
            if thread.is_alive():
                # A worker may be inside a connector call; that call has its own deadline.
                thread.join(timeout=self.step_timeout_seconds + 5)


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock
        self.stores: bootstrap.Stores | None = None
        self.vault: Vault | None = None
        # What seeding the demo did; set even when a later part of open() fails.
        self.seeding: demo.Seeding | None = None
        # The demo's token files, one a role; set once the demo has seeded.
        self.demo_tokens: list[demo_tokens.DemoToken] = []
        self.registry: ConnectorRegistry | None = None
        self.services: VaultServices | None = None
        self.running: RunningServer | None = None
        self.workers: Workers | None = None
        self.engine: StepEngine | None = None
        self._demo_systems: DemoSystems | None = None

    @property
    def data_dir(self) -> Path:
        return self.settings.storage.data_dir

    def open_vault(self, *, existing: bool = False) -> Vault:
        """The keyring, the stores and the vault alone (what rotate-kek needs).
        `existing`: NoVault, with nothing made, unless a vault is there (a
        keyring file, or keys in the key database)."""
        directory = self.data_dir
        ring = self.settings.keyring
        storage = self.settings.storage
        if ring.given and self.settings.keys.scheduled:
            raise StartupError(
                f"[keys] rotate_every and retire_after change the keyring, and one given "
                f"whole in ${KEYRING_ENV} cannot change under a running server: move it "
                f"into a file of mode 0600 and unset ${KEYRING_ENV}, or leave both settings out"
            )
        no_keyring = not ring.given and not ring.path.exists()
        if existing and no_keyring and not bootstrap.may_hold_keys(storage.key_url or storage.url):
            raise NoVault(_no_vault(storage.where, ring.path))
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self.stores = bootstrap.open_stores(storage.url, storage.key_url)
            if no_keyring and bootstrap.holds_keys(self.stores.keys):
                # A keyring is made for a new vault only: beside keys another
                # keyring wrapped, a new one would read nothing and find no one.
                raise KeyringError(
                    f"no keyring at {ring.path}, and the key database already holds keys: "
                    "give this server the keyring the vault was written with (--keyring, "
                    f"or ${KEYRING_ENV})"
                )
            if existing and no_keyring:
                raise NoVault(_no_vault(storage.where, ring.path))
            # A keyring file is watched (a rotation elsewhere is picked up
            # without a restart); one given whole in the environment cannot change.
            keyring = KeyringSource(
                load_or_create_keyring(ring.path, {KEYRING_ENV: ring.given} if ring.given else {}),
                None if ring.given else ring.path,
            )
            self.vault = bootstrap.vault_over(
                self.stores,
                keyring,
                self.clock,
                key_cache_entries=self.settings.keys.cache_entries,
                remember_requests_for=self.settings.requests.remember_for,
                purposes=self.settings.purposes.catalogue,
                time_zone=self.settings.controller.time_zone,
            )
        except KeyringError as error:
            raise StartupError(error.message) from None
        except (bootstrap.UnknownStorage, *bootstrap.STORAGE_ERRORS) as error:
            raise StartupError(str(error)) from None
        except OSError as error:
            raise StartupError(
                f"cannot open the vault in {directory}: {error.strerror or error}"
            ) from None
        return self.vault

    def open(self) -> None:
        """Everything but the server and its workers: the vault, the demo if
        asked for, the connectors and the step engine. On a StartupError
        whatever was opened is closed again."""
        try:
            vault = self.open_vault()
            sections = dict(self.settings.connectors.sections)
            if self.settings.demo.enabled:
                sections = {**self._start_demo(vault), **sections}
            self.registry = ConnectorRegistry.load(
                sections,
                make_plugin_manager(),
                VaultHost(__version__),
                self.settings.connectors.base_dir,
                time_zone=self.settings.controller.time_zone,
                purposes=self.settings.purposes.catalogue,
            )
        except (
            ConfigError,
            demo.DemoNoteError,
            demo.DemoPurposesError,
            demo_tokens.DemoTokenError,
        ) as error:
            self.close()
            raise StartupError(str(error)) from None
        except BaseException:
            self.close()
            raise
        erasure = self.settings.erasure.for_steps(self.settings.controller.time_zone)
        self.engine = step_engine(vault, erasure)
        assert self.stores is not None
        self.services = build_services(
            vault,
            self.registry,
            erasure,
            self.settings.controller.controller,
            engine=self.engine,
            stores_embedded=self.stores.embedded,
        )

    def _start_demo(self, vault: Vault) -> dict[str, dict[str, object]]:
        """Seed the demo people, then start stand-ins of the school's systems
        with them; returns the connector sections that reach the stand-ins."""
        from vault_standins import demo as standins
        from vault_standins.people import DEMO_PEOPLE

        # The vault first: the stand-ins get no data of a demo person the vault has erased.
        self.seeding = demo.seed_remembering(vault, self.data_dir)
        self.demo_tokens = demo_tokens.keep_tokens(vault, self.data_dir)
        people = [p for p in DEMO_PEOPLE if p.key not in self.seeding.left_out_keys]
        self._demo_systems = standins.start(self.data_dir / "demo-systems", people)
        return dict(self._demo_systems.sections)

    def start(self) -> RunningServer:
        """Serve on the configured address, then start the background workers.
        Raises AddressUnavailable when the address cannot be listened on."""
        services, engine = self.services, self.engine
        if services is None or engine is None:
            raise RuntimeError("open() the runtime before starting it")
        assert self.stores is not None
        self.running = create_server(services, self.settings.server)
        self.workers = Workers(
            services.vault,
            engine,
            self.settings.erasure.workers,
            self.settings.maintenance.interval_seconds,
            self.settings.erasure.call_timeout_seconds,
            keys=self.settings.keys,
        )
        self.workers.start()
        return self.running

    def stop(self, grace: float | None = 10.0) -> None:
        """Stop serving (health NOT_SERVING, calls in flight finish within
        `grace`), then the workers. Safe from any thread, and more than once."""
        if self.running is not None:
            self.running.stop(grace)
        if self.workers is not None:
            self.workers.stop()

    def close(self) -> None:
        """Stop, then close what open() opened, the stores last."""
        self.stop(grace=None)
        if self.services is not None:
            self.services.coordinator.close()
        if self.registry is not None:
            self.registry.close()
        if self._demo_systems is not None:
            self._demo_systems.stop()
        if self.stores is not None:
            self.stores.close()
        self.services = self.registry = self._demo_systems = self.stores = None
        self.engine = None
        self.vault = None

    def __enter__(self) -> Runtime:
        self.open()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _run_steps(engine: StepEngine, stop: threading.Event) -> None:
    """Carry out due steps; sleep until new work or the next retry is due."""
    while not stop.is_set():
        # Cleared before the pass, so work announced during it is not missed.
        engine.work_available.clear()
        try:
            engine.run_pending()
            due = engine.seconds_until_due()
        except Exception:
            log.exception("erasure worker pass failed; will try again")
            due = 5.0
        engine.work_available.wait(5.0 if due is None else min(max(due, 0.05), 5.0))


def _maintain(vault: Vault, interval: float, stop: threading.Event) -> None:
    """Run maintenance every `interval` seconds, and at once after an erasure."""
    while not stop.is_set():
        vault.scrub_due.wait(interval)
        if stop.is_set():
            return
        try:
            vault.maintain()
        except Exception:
            log.exception("maintenance pass failed; will try again")
        if vault.scrub_due.is_set():
            stop.wait(1.0)  # a reader kept the WAL; do not spin


def _sequence_audit_log(vault: Vault, interval: float, stop: threading.Event) -> None:
    """Fold the waiting audit events into the signed tree every `interval`
    seconds, and once more on the way out, so a clean stop leaves none waiting."""
    while True:
        stopping = stop.wait(interval)
        try:
            vault.sequencer.run_until_done()
        except Exception:
            log.exception("sequencing the audit log failed; will try again")
        if stopping:
            return


def _rotate_on_schedule(
    vault: Vault, keys: KeySettings, interval: float, stop: threading.Event
) -> None:
    """Rotate and retire key versions as [keys] asks, looked at every `interval`
    seconds (and once at start); of several servers, the one holding the key
    store's rotation lease does it, the others pass."""
    while not stop.is_set():
        try:
            for done in vault.rotation.scheduled(keys.rotate_every, keys.retire_after):
                log.info("scheduled key %s", _key_work(done))
        except Exception:
            log.exception("scheduled key rotation failed; will try again")
        stop.wait(interval)


def _key_work(done: Rotation | Retirement) -> str:
    if isinstance(done, Rotation):
        verb = "rotation finished" if done.resumed else "rotation"
        return (
            f"{verb}: version {done.version} current, {done.rewrapped.count:,} keys "
            f"re-wrapped, {done.reindexed:,} identities re-indexed"
        )
    return f"retirement: versions {done.retired} retired, {done.current} current"


def _report_key_cache(vault: Vault, interval: float, stop: threading.Event) -> None:
    """Log the key cache's hit rate every `interval` seconds, over that interval
    alone (a rate since the start would hide a change); an idle vault logs nothing."""
    earlier = vault.keys.stats()
    while not stop.wait(interval):
        now = vault.keys.stats()
        recent = now.since(earlier)
        if recent.lookups:
            log.info("key cache, last %s: %s", _duration(interval), recent.summary())
        earlier = now


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
