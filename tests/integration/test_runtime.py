"""The runtime wires the app from its settings, runs the background workers
and stops them; create_server alone only serves."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.access import token_for
from tests.serving import ANY_PORT
from vault import bootstrap, demo
from vault.core.actor import LOCAL, Role
from vault.core.consent.purposes import Purposes
from vault.core.errors import SubjectNotFound
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.keyring import Keyring, write_keyring
from vault.runtime import Runtime, StartupError, Workers, build_services
from vault.server.app import create_server
from vault.settings import (
    ConnectorSections,
    DemoSettings,
    KeyringSettings,
    PurposeSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from vault_client import Identity, SubjectErasedError, VaultClient

# Worker threads other tests left behind (a daemon still inside a slow call) are not ours.
_EARLIER: set[threading.Thread] = set()


@pytest.fixture(autouse=True)
def _earlier_threads() -> None:
    _EARLIER.clear()
    _EARLIER.update(threading.enumerate())


def _workers() -> list[str]:
    """The background worker threads started during this test and still running."""
    names = [t.name for t in threading.enumerate() if t not in _EARLIER]
    return [n for n in names if n.startswith(("erasure-worker", "vault-maintenance"))]


def _officer(runtime: Runtime) -> str:
    """A privacy officer's token, made in the runtime's vault."""
    assert runtime.vault is not None
    return token_for(runtime.vault, Role.PRIVACY_OFFICER)


def test_the_runtime_serves_erases_and_stops_every_worker(tmp_path: Path) -> None:
    data = tmp_path / "vault-data"
    with Runtime(Settings.for_data_dir(data, server=ANY_PORT)) as runtime:
        running = runtime.start()
        assert len(_workers()) == 8 + 1  # the erasure workers, and maintenance
        with VaultClient(
            f"127.0.0.1:{running.port}", token=_officer(runtime), timeout=10
        ) as client:
            eva = client.create_subject([Identity("email", "eva@example.se")])
            request = client.erase_subject(eva.name)  # carried out by the runtime's workers
            assert request.state == "completed"
            with pytest.raises(SubjectErasedError):
                client.get_subject(eva.name)
        runtime.stop(grace=None)
        assert _workers() == []
    # The stores are closed and on disk where the URL said.
    assert runtime.stores is None
    assert (data / "records.db").exists() and (data / "keys.db").exists()


def test_short_reads_and_puts_run_on_the_event_loop_only_over_embedded_stores(
    tmp_path: Path, engine: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[tuple[str, str]] = []

    def noting(name: str) -> None:
        original = getattr(Vault, name)

        def call(self: Vault, *args: object) -> object:
            threads.append((name, threading.current_thread().name))
            return original(self, *args)

        monkeypatch.setattr(Vault, name, call)

    noting("get_subject")
    noting("create_record")

    # The put and the read that awaits its event's commit on the loop:
    # coroutines, noted where they run.
    def noting_async(name: str) -> None:
        original = getattr(Vault, name)

        async def call(self: Vault, *args: object) -> object:
            threads.append((name, threading.current_thread().name))
            return await original(self, *args)

        monkeypatch.setattr(Vault, name, call)

    noting_async("get_subject_async")
    noting_async("create_record_async")
    data = tmp_path / "vault-data"
    settings = Settings.for_data_dir(data, server=ANY_PORT)
    if engine is not None:  # a network database: a read waits on the network
        settings = Settings(StorageSettings.in_directory(data, engine), settings.keyring, ANY_PORT)
    with Runtime(settings) as runtime:
        running = runtime.start()
        with VaultClient(
            f"127.0.0.1:{running.port}", token=_officer(runtime), timeout=10
        ) as client:
            eva = client.create_subject([Identity("email", "eva@example.se")])
            client.get_subject(eva.name)
            client.create_record(
                eva.name,
                category="contact",
                purpose="course_delivery",
                legal_basis="contract",
                source_system="lms",
                fields={"a": "b"},
            )
        runtime.stop(grace=None)
    on_pool = {name: thread.startswith("vault-rpc") for name, thread in threads}
    if engine is None:  # the loop's own thread
        assert on_pool == {"get_subject_async": False, "create_record_async": False}, threads
    else:  # the blocking pool's, or a thread of the loop's own executor
        assert "get_subject_async" not in on_pool and "get_subject" in on_pool, threads
        assert "create_record_async" not in on_pool and "create_record" in on_pool, threads
        assert not any(t == "MainThread" or "loop" in t for _, t in threads), threads


def test_create_server_alone_starts_no_worker(vault: Vault) -> None:
    services = build_services(vault)
    running = create_server(services, ANY_PORT)
    try:
        assert _workers() == []
    finally:
        running.stop(grace=None)
        services.coordinator.close()


def test_the_workers_run_maintenance_after_an_erasure(
    vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    passes = threading.Semaphore(0)
    monkeypatch.setattr(vault, "maintain", passes.release)
    services = build_services(vault)
    workers = Workers(vault, services.coordinator.engine, 1, maintenance_interval_seconds=3600)
    workers.start()
    try:
        vault.scrub_due.set()  # as an erasure does
        assert passes.acquire(timeout=10), "no maintenance pass ran"
    finally:
        workers.stop()
        services.coordinator.close()
    assert _workers() == []


def test_a_storage_url_of_another_engine_is_one_line(tmp_path: Path) -> None:
    settings = Settings.for_data_dir(tmp_path / "data")
    settings = Settings(
        StorageSettings(tmp_path / "data", "mysql://127.0.0.1/vault"), settings.keyring
    )
    runtime = Runtime(settings)
    with pytest.raises(StartupError, match=r"give sqlite:///DIRECTORY .* or postgresql://"):
        runtime.open()
    assert runtime.stores is None


def test_a_failed_start_closes_what_was_opened(tmp_path: Path) -> None:
    settings = Settings.for_data_dir(
        tmp_path / "data", connectors=ConnectorSections({"crm": {}}, tmp_path)
    )
    runtime = Runtime(settings)
    with pytest.raises(StartupError, match="'crm' is configured but not installed"):
        runtime.open()
    assert runtime.stores is None and runtime.vault is None
    # Closed, not held: the same directory opens again at once.
    reopened = bootstrap.open_vault(tmp_path / "data")
    bootstrap.close_vault(reopened)


def test_the_demo_does_not_start_over_purposes_that_lack_the_schools(tmp_path: Path) -> None:
    theirs = Purposes.from_mapping(
        {
            "purposes": {
                "newsletter": {
                    "description": {"en": "The newsletter"},
                    "legal_basis": "consent",
                    "categories": ["contact"],
                    "systems": ["crm"],
                }
            }
        }
    )
    settings = Settings.for_data_dir(
        tmp_path / "data",
        demo=DemoSettings(True),
        purposes=PurposeSettings(tmp_path / "purposes.toml", theirs),
    )
    runtime = Runtime(settings)
    with pytest.raises(StartupError, match=r"leave \[purposes\] file out") as refused:
        runtime.open()
    assert "\n" not in str(refused.value)
    # Refused before anyone was seeded, and what was opened is closed.
    assert runtime.stores is None and runtime.seeding is None
    assert not (tmp_path / "data" / demo.NOTE_FILE).exists()
    reopened = bootstrap.open_vault(tmp_path / "data")
    try:
        with pytest.raises(SubjectNotFound):
            reopened.find_subject(LOCAL, demo.PEOPLE[0].identities[0])
    finally:
        bootstrap.close_vault(reopened)


def test_a_keyring_others_can_read_stops_the_start_in_one_line(tmp_path: Path) -> None:
    settings = Settings.for_data_dir(tmp_path / "data")
    settings.keyring.path.parent.mkdir(parents=True)
    runtime = Runtime(settings)
    runtime.open_vault()
    runtime.close()
    settings.keyring.path.chmod(0o644)
    with pytest.raises(StartupError, match="chmod 600") as refused:
        Runtime(settings).open()
    assert "\n" not in str(refused.value)


def test_stop_from_another_thread_ends_the_wait(tmp_path: Path) -> None:
    # As SIGTERM does in `consent-vault serve`: stop on one thread, wait on another.
    runtime = Runtime(
        Settings.for_data_dir(tmp_path / "data", server=ServerSettings("127.0.0.1:0"))
    )
    with runtime:
        running = runtime.start()
        threading.Timer(0.2, runtime.stop, args=(1.0,)).start()
        started = time.monotonic()
        running.wait()
        assert time.monotonic() - started < 10
    assert _workers() == []


def _settings(data: Path, engine: str | None, keyring: Path) -> Settings:
    storage = StorageSettings.in_directory(data, engine)
    return Settings(storage, KeyringSettings(keyring), ANY_PORT)


def _a_vault_with_someone(data: Path, engine: str | None, keyring: Path) -> None:
    with Runtime(_settings(data, engine, keyring)) as runtime:
        assert runtime.vault is not None
        runtime.vault.create_subject(
            LOCAL, [IdentityInput(IdentityKind.EMAIL, "eva@example.se")], []
        )


def test_a_keyring_that_does_not_open_the_keys_is_refused_at_start(
    tmp_path: Path, engine: str | None
) -> None:
    _a_vault_with_someone(tmp_path / "data", engine, tmp_path / "keyring.json")
    other = tmp_path / "other-keyring.json"
    write_keyring(other, Keyring.generate())
    runtime = Runtime(_settings(tmp_path / "data", engine, other))
    with pytest.raises(StartupError, match="not the keyring this vault was written with"):
        runtime.open()
    assert runtime.stores is None


def test_no_keyring_is_made_beside_a_key_database_that_holds_keys(
    tmp_path: Path, engine: str | None
) -> None:
    _a_vault_with_someone(tmp_path / "data", engine, tmp_path / "keyring.json")
    missing = tmp_path / "second-machine" / "keyring.json"
    runtime = Runtime(_settings(tmp_path / "data", engine, missing))
    with pytest.raises(StartupError, match=f"no keyring at {missing}, and the key database"):
        runtime.open()
    assert not missing.exists()


def test_a_connector_holding_data_for_a_purpose_the_vault_lacks_does_not_start(
    tmp_path: Path,
) -> None:
    theirs = Purposes.from_mapping(
        {
            "purposes": {
                "newsletter": {
                    "description": {"en": "The newsletter"},
                    "legal_basis": "consent",
                    "categories": ["contact"],
                    "systems": ["crm"],
                }
            }
        }
    )
    settings = Settings.for_data_dir(
        tmp_path / "data",
        connectors=ConnectorSections({"facebook_group": {"register": "register.db"}}, tmp_path),
        purposes=PurposeSettings(tmp_path / "purposes.toml", theirs),
    )
    runtime = Runtime(settings)
    with pytest.raises(StartupError, match="group_moderation, which is not configured") as refused:
        runtime.open()
    assert "'facebook_group'" in str(refused.value) and "\n" not in str(refused.value)
    assert runtime.stores is None
