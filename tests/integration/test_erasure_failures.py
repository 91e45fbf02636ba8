"""A connector that raises, hangs, returns malformed data or is down: the others
complete, the request shows exactly which failed and why, and a retry finishes it."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vault import __version__, demo
from vault.connectors import (
    Connector,
    ConnectorUnavailable,
    ExportItem,
    HeldCategory,
    Holdings,
    Removed,
    Retained,
)
from vault.connectors.registry import ConnectorRegistry
from vault.core.actor import LOCAL
from vault.core.erasure import KIND, ErasureCoordinator, ErasureSettings
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis
from vault.core.steps import OPEN, RequestState, StepState
from vault.core.vault import IdentityInput, Vault
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services
from vault_standins import demo as standins


class Flaky(Connector):
    """A connector whose behaviour the test sets: ok, raise, hang, malformed, down."""

    name = "flaky"
    mode = "ok"
    release = threading.Event()

    def holdings(self) -> Holdings:
        return Holdings(
            "flaky",
            "a test system",
            "SE",
            (HeldCategory("contact", "contact details", "testing", LegalBasis.CONTRACT, "1 year"),),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def export(self, identities):  # type: ignore[no-untyped-def]
        if type(self).mode == "odd_values":
            from decimal import Decimal

            return iter(
                [
                    ExportItem(
                        "contact",
                        {
                            "balance": Decimal("12.50"),
                            "raw": b"\x01\x02",
                            "at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                        },
                    )
                ]
            )
        return iter(())

    def erase(self, identities, today):  # type: ignore[no-untyped-def]
        mode = type(self).mode
        if mode == "raise":
            raise RuntimeError("the system said no")
        if mode == "down":
            raise ConnectorUnavailable("connection refused")
        if mode == "hang":
            type(self).release.wait(10)
        if mode == "malformed":
            return {"removed": "everything"}
        if mode == "undeclared":
            return [Removed("billing", "invoices")]
        if mode == "datetime":
            return [
                Retained(
                    "contact",
                    "contact details",
                    "a law",
                    dt.datetime(2030, 5, 1, 12, 30, tzinfo=dt.UTC),
                )
            ]
        return [Removed("contact", "contact details")]


class FlakyPlugin:
    @hookimpl
    def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
        return [Flaky]


@pytest.fixture
def coordinator(
    vault: Vault, systems: standins.DemoSystems, tmp_path: Path
) -> Iterator[ErasureCoordinator]:
    Flaky.mode, Flaky.release = "ok", threading.Event()
    sections = {**systems.sections, "flaky": {}}
    registry = ConnectorRegistry.load(
        sections,
        make_plugin_manager([FlakyPlugin()]),
        VaultHost(__version__),
        tmp_path,
        systems.environ,  # type: ignore[attr-defined]
    )
    demo.seed(vault)
    services = build_services(
        vault,
        registry,
        ErasureSettings(
            call_timeout_seconds=0.5,
            backoff_base_seconds=0.01,
            backoff_cap_seconds=0.05,
            max_attempts=3,
        ),
    )
    yield services.coordinator
    Flaky.release.set()
    services.coordinator.close()
    registry.close()


def anna(vault: Vault) -> str:
    return vault.find_subject(
        LOCAL, IdentityInput(IdentityKind.EMAIL, "anna.andersson@example.se")
    ).subject_id


def run_until_rest(coordinator: ErasureCoordinator, request_id: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        coordinator.vault.clock.advance(seconds=1)  # type: ignore[attr-defined]  # past any backoff
        coordinator.run_pending()
        if coordinator.get(LOCAL, request_id).state in (
            "completed",
            "partially_completed",
            "awaiting_manual_action",
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"request did not rest: {coordinator.get(LOCAL, request_id)}")


def steps(coordinator: ErasureCoordinator, request_id: str) -> dict[str, tuple[str, str]]:
    return {s.system: (s.state, s.last_error) for s in coordinator.get(LOCAL, request_id).steps}


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("raise", "gave up after 3 attempts; last: RuntimeError: the system said no"),
        ("down", "gave up after 3 attempts; last: ConnectorUnavailable: connection refused"),
        ("hang", "gave up after 3 attempts; last: ConnectorUnavailable: no answer within 0.5 s"),
        ("malformed", "NeedsAttention: connector returned dict, not a list of outcomes"),
        (
            "undeclared",
            "NeedsAttention: outcome 0 names category 'billing', which the connector does not declare",
        ),
    ],
)
def test_one_failing_system_never_blocks_the_others(
    coordinator: ErasureCoordinator, vault: Vault, mode: str, error: str
) -> None:
    Flaky.mode = mode
    request = coordinator.request(LOCAL, anna(vault))
    run_until_rest(coordinator, request.request_id)
    view = coordinator.get(LOCAL, request.request_id)
    assert view.state == "partially_completed"
    states = steps(coordinator, request.request_id)
    assert states.pop("flaky") == ("needs_attention", error)
    assert {state for state, _ in states.values()} == {"succeeded"}

    # Someone fixes the system and retries: the request finishes.
    Flaky.mode = "ok"
    Flaky.release.set()
    coordinator.retry(LOCAL, request.request_id)
    run_until_rest(coordinator, request.request_id)
    assert coordinator.get(LOCAL, request.request_id).state == "completed"
    assert steps(coordinator, request.request_id)["flaky"] == ("succeeded", "")


def test_a_system_that_is_down_for_a_while_is_retried_with_backoff(
    coordinator: ErasureCoordinator, vault: Vault, systems: standins.DemoSystems
) -> None:
    systems.moodle.down = True
    request = coordinator.request(LOCAL, anna(vault))
    coordinator.run_pending()
    lms = next(s for s in coordinator.get(LOCAL, request.request_id).steps if s.system == "lms")
    assert (
        lms.state == "retrying" and "HTTP 503" in lms.last_error and lms.next_attempt_at is not None
    )
    systems.moodle.down = False
    run_until_rest(coordinator, request.request_id)
    assert (
        next(
            s for s in coordinator.get(LOCAL, request.request_id).steps if s.system == "lms"
        ).attempts
        >= 2
    )
    assert coordinator.get(LOCAL, request.request_id).state == "completed"


def test_a_refused_token_needs_attention_at_once(
    coordinator: ErasureCoordinator, vault: Vault, systems: standins.DemoSystems
) -> None:
    systems.accounting.token = "rotated-by-someone"
    request = coordinator.request(LOCAL, anna(vault))
    run_until_rest(coordinator, request.request_id)
    state, error = steps(coordinator, request.request_id)["accounting"]
    assert state == "needs_attention" and "refused the token" in error
    assert (
        next(
            s for s in coordinator.get(LOCAL, request.request_id).steps if s.system == "accounting"
        ).attempts
        == 1
    )


def test_a_worker_whose_lease_ran_out_cannot_overwrite_the_next_attempt(
    coordinator: ErasureCoordinator, vault: Vault
) -> None:
    request = coordinator.request(LOCAL, anna(vault))
    now = vault.clock.now()
    with coordinator.steps.write() as tx:
        # A lease that is already over.
        stale = tx.claim_step({KIND}, OPEN, StepState.RUNNING, "dead-worker", now, now)
    assert stale is not None
    vault.clock.advance(seconds=1)  # type: ignore[attr-defined]
    coordinator.run_pending()  # takes the expired lease over and finishes
    with coordinator.steps.write() as tx:
        assert not tx.finish_step(
            stale.request_id,
            stale.name,
            "dead-worker",
            StepState.NEEDS_ATTENTION,
            9,
            now,
            "late",
            None,
            now,
        )
    run_until_rest(coordinator, request.request_id)
    assert coordinator.get(LOCAL, request.request_id).state == "completed"


def test_the_legal_deadline_is_one_calendar_month(
    coordinator: ErasureCoordinator, vault: Vault
) -> None:
    from vault.core.erasure import one_month_after

    assert one_month_after(dt.datetime(2026, 1, 31, tzinfo=dt.UTC)).date() == dt.date(2026, 2, 28)
    assert one_month_after(dt.datetime(2026, 12, 15, tzinfo=dt.UTC)).date() == dt.date(2027, 1, 15)
    request = coordinator.request(LOCAL, anna(vault))
    assert request.deadline_at == one_month_after(request.received_at)


def test_a_retained_until_given_as_a_datetime_keeps_the_day(
    coordinator: ErasureCoordinator, vault: Vault
) -> None:
    Flaky.mode = "datetime"
    request = coordinator.request(LOCAL, anna(vault))
    run_until_rest(coordinator, request.request_id)
    flaky = next(s for s in coordinator.get(LOCAL, request.request_id).steps if s.system == "flaky")
    assert flaky.outcomes[0].until == dt.date(2030, 5, 1)


def test_export_writes_values_json_has_no_type_for_as_text(
    coordinator: ErasureCoordinator, vault: Vault
) -> None:
    import io
    import json
    import zipfile

    from vault.core.fanout import export_everywhere
    from vault.reports.archive import export_archive
    from vault.server.context import VaultServices

    Flaky.mode = "odd_values"
    services = VaultServices(vault, coordinator_registry(coordinator), coordinator)
    events = list(
        export_archive(
            export_everywhere(LOCAL, vault, services.connectors, services.holdings, anna(vault), 10)
        )
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    flaky = json.loads(archive.read("export.json"))["systems"]["flaky"]
    assert flaky["items"][0]["data"] == {
        "balance": "12.50",
        "raw": "0102",
        "at": "2026-01-02T00:00:00+00:00",
    }


def coordinator_registry(coordinator: ErasureCoordinator) -> ConnectorRegistry:
    from vault.connectors.registry import InstalledConnector

    return ConnectorRegistry(
        {
            name: InstalledConnector(name, "test", True, connector, coordinator.holdings[name])
            for name, connector in coordinator.connectors.items()
        }
    )


@pytest.mark.sqlite_only  # counts the job keys in the SQLite file
def test_an_erasure_that_loses_the_race_to_another_leaves_no_job_key(
    coordinator: ErasureCoordinator, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses
    import sqlite3

    from vault.core.errors import ErasurePending
    from vault.core.model import SubjectState

    subject_id = anna(vault)
    # Another request wins between this one's first look and its transaction.
    looked = vault.records.subjects.subject(subject_id)
    with vault.records.write() as tx:
        tx.subjects.set_subject_state(subject_id, SubjectState.ERASURE_PENDING, vault.clock.now())
    monkeypatch.setattr(vault.records.subjects, "subject", lambda _: dataclasses.replace(looked))  # type: ignore[type-var]
    with pytest.raises(ErasurePending):
        coordinator.request(LOCAL, subject_id)
    conn = sqlite3.connect(vault.keys.store.path)  # type: ignore[attr-defined]
    try:
        assert conn.execute("SELECT count(*) FROM job_keys").fetchone() == (0,)
    finally:
        conn.close()


def test_keys_a_failed_destruction_left_are_destroyed_before_the_erasure_completes(
    coordinator: ErasureCoordinator, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky.mode = "ok"
    subject_id = anna(vault)
    destroy = vault.keys.destroy_subject
    failed: list[str] = []

    def lost_connection_once(subject: str) -> int:
        # The erased mark has committed; the keys' destruction fails, once.
        if not failed:
            failed.append(subject)
            raise OSError("the connection to the key database was lost")
        return destroy(subject)

    monkeypatch.setattr(vault.keys, "destroy_subject", lost_connection_once)
    request = coordinator.request(LOCAL, subject_id)
    run_until_rest(coordinator, request.request_id)
    assert failed == [subject_id]
    assert coordinator.get(LOCAL, request.request_id).state == "completed"
    # The retried vault step found the subject erased and finished the job.
    assert vault.keys.store.subject_key(subject_id) is None


def test_secrets_a_completed_request_kept_are_forgotten_without_a_restart(
    coordinator: ErasureCoordinator, vault: Vault, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky.mode = "ok"
    engine = coordinator.engine
    forget = engine.end_if_completed
    failed: list[str] = []

    def lost_connection_once(request_id: str) -> None:
        stored = engine.store.request(request_id)
        if not failed and stored is not None and stored.state is RequestState.COMPLETED:
            failed.append(request_id)  # completed, and then the connection went
            raise OSError("the connection was lost")
        forget(request_id)

    monkeypatch.setattr(engine, "end_if_completed", lost_connection_once)
    request_id = coordinator.request(LOCAL, anna(vault)).request_id
    with pytest.raises(OSError):  # as the worker's pass ends; the runtime logs it
        run_until_rest(coordinator, request_id)
    assert failed == [request_id]
    assert coordinator.get(LOCAL, request_id).state == "completed"
    assert vault.keys.job_key(request_id) is not None  # kept by the failure
    monkeypatch.setattr(engine, "SWEEP_SECONDS", 0.0)
    engine.run_pending()  # an idle worker's pass sweeps
    assert vault.keys.job_key(request_id) is None
    stored = engine.store.request(request_id)
    assert stored is not None and stored.sealed_payload is None
