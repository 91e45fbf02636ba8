"""The gate's parts on their own: reading the Bearer token, the rate limit's
bucket, the [access] and [systems.NAME] settings it is built from, and a
token's last use written on a pool, never on the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vault import purposes_file, settings
from vault.core.actor import LOCAL, Role
from vault.core.clock import FixedClock
from vault.core.errors import TokenMalformed, TokenMissing
from vault.core.tokens import LAST_USE_EVERY
from vault.core.vault import Vault
from vault.server.access import Gate, RateLimits, peer_address, presented_token
from vault.settings import AccessSettings, SettingsError

T = TypeVar("T")

TOKEN = "cvt_abcdefghijkl_" + "A" * 43


def test_the_token_is_read_from_a_bearer_authorization_of_any_letter_case() -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        assert presented_token([("authorization", f"{scheme} {TOKEN}")]) == TOKEN
    assert presented_token([("x-other", "1"), ("authorization", f"Bearer {TOKEN}")]) == TOKEN


def test_a_missing_or_malformed_authorization_is_refused() -> None:
    with pytest.raises(TokenMissing):
        presented_token([("x-other", "1")])
    for value in (TOKEN, "Basic abc", "Bearer", "Bearer ", "Bearer a b", b"Bearer x"):
        with pytest.raises(TokenMalformed):
            presented_token([("authorization", value)])
    with pytest.raises(TokenMalformed):
        presented_token([("authorization", f"Bearer {TOKEN}")] * 2)


def test_a_bucket_gives_its_burst_then_one_call_per_refill_for_each_caller() -> None:
    now = [100.0]
    rates = RateLimits(per_second=2, burst=3, clock=lambda: now[0])
    assert [rates.take("a") for _ in range(3)] == [0, 0, 0]
    assert rates.take("a") == pytest.approx(0.5)
    assert rates.take("b") == 0  # each caller its own bucket
    now[0] += 0.5
    assert rates.take("a") == 0
    assert rates.take("a") == pytest.approx(0.5)
    now[0] += 100  # a long pause refills no more than the burst
    assert [rates.take("a") for _ in range(4)][-1] > 0


def test_waiting_takes_nothing_and_full_buckets_are_forgotten_past_the_kept_callers() -> None:
    now = [100.0]
    rates = RateLimits(per_second=1, burst=2, clock=lambda: now[0])
    assert rates.wait("a") == 0
    rates.take("a")
    rates.take("a")
    assert rates.wait("a") == pytest.approx(1.0) == rates.wait("a")
    rates.KEPT = 2  # type: ignore[misc]
    rates.take("b")
    now[0] += 5  # both refill to the full
    rates.take("c")  # a third caller: the full buckets go
    assert set(rates._buckets) == {"c"}
    assert rates.wait("a") == 0  # forgotten is as good as new


class Peer:
    def __init__(self, address: str) -> None:
        self.address = address

    def peer(self) -> str:
        return self.address


def test_refused_authentications_are_counted_by_the_address_without_its_port() -> None:
    for peer, address in (
        ("ipv4:203.0.113.7:51234", "ipv4:203.0.113.7"),
        ("ipv6:[2001:db8::1]:443", "ipv6:[2001:db8::1]"),
        ("unix:/run/vault.sock", "unix:/run/vault.sock"),
    ):
        assert peer_address(Peer(peer)) == address  # type: ignore[arg-type]


def test_access_and_systems_settings(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(
        "[access]\ncalls_per_second = 5\nburst = 20\nrefused_per_second = 1\nrefused_burst = 4\n"
        '[systems.lms]\npurposes = ["course_delivery", "grading"]\n'
        "[server]\nreflection = false\n"
    )
    loaded = settings.load(config=config, environ={}).server
    assert (loaded.access.calls_per_second, loaded.access.burst) == (5, 20)
    assert (loaded.access.refused_per_second, loaded.access.refused_burst) == (1, 4)
    assert loaded.access.purposes["lms"] == frozenset({"course_delivery", "grading"})
    assert not loaded.reflection
    assert settings.load(no_reflection=True, environ={}).server.reflection is False
    defaults = settings.load(environ={}).server
    assert (defaults.access.calls_per_second, defaults.access.burst) == (50, 100)
    assert (defaults.access.refused_per_second, defaults.access.refused_burst) == (5, 20)
    assert defaults.reflection
    for text, named in (
        ("[access]\nburst = 0\n", r"\[access\] burst"),
        ("[access]\nrefused_burst = 1.5\n", r"\[access\] refused_burst"),
        ("[access]\ncalls = 5\n", r"\[access\] has no setting 'calls'"),
        ('[systems.lms]\npurposes = "grading"\n', r"\[systems.lms\] purposes"),
        ("[systems.lms]\npurpose = []\n", r"\[systems.lms\] has no setting"),
        (
            '[systems.lms]\npurposes = ["grading", "teaching"]\n',
            r"^\[systems.lms\] purposes: teaching is not a configured purpose "
            r"\(not in the shipped school_purposes.toml\)$",
        ),
        ('[server]\nreflection = "no"\n', r"\[server\] reflection"),
        ("[tls]\ncert_file = 3\n", r"\[tls\] cert_file"),
    ):
        config.write_text(text)
        with pytest.raises(SettingsError, match=named):
            settings.load(config=config, environ={})


@pytest.mark.parametrize("value", ["nan", "inf", "+inf", "-nan"])
def test_no_rate_limit_nor_time_is_nan_or_infinite(tmp_path: Path, value: str) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(f"[access]\ncalls_per_second = {value}\n")
    with pytest.raises(
        SettingsError, match=r"^\[access\] calls_per_second must be a number of calls a second, not"
    ):
        settings.load(config=config, environ={})
    config.write_text(f"[erasure]\nlease_seconds = {value}\n")
    with pytest.raises(
        SettingsError, match=r"^\[erasure\] lease_seconds must be a number of seconds"
    ):
        settings.load(config=config, environ={})


def test_a_systems_purposes_are_the_configured_ones_naming_it_unless_its_section_lists_others(
    tmp_path: Path,
) -> None:
    school = purposes_file.school()
    loaded = settings.load(environ={}).server
    assert loaded.access.purposes == school.systems()
    assert loaded.access.purposes["salon"] == frozenset({"salon_booking", "salon_scheduling"})
    assert loaded.access.purposes["lms"] == school.for_system("lms") >= {"grading"}
    config = tmp_path / "vault.toml"
    config.write_text(
        '[systems.lms]\npurposes = ["grading"]\n'
        "[systems.salon]\npurposes = []\n"  # none at all
        '[systems.crm]\npurposes = ["marketing_email"]\n'  # a system no purpose names
        "[systems.accounting]\n"  # a section without purposes changes nothing
    )
    configured = settings.load(config=config, demo=True, environ={}).server.access.purposes
    assert configured["lms"] == frozenset({"grading"})
    assert configured["salon"] == frozenset()
    assert configured["crm"] == frozenset({"marketing_email"})
    assert configured["accounting"] == school.for_system("accounting")
    assert configured["facebook_group"] == frozenset({"model_bank", "group_moderation"})
    assert set(configured) == set(school.systems()) | {"crm"}


# ----------------------------------------------------------- the last use
class Call:
    """What the gate asks of a call: its metadata, its TLS peer, its address."""

    def __init__(self, token: str, peer: str = "ipv4:10.0.0.7:51234") -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)
        self.address = peer

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self.metadata

    def auth_context(self) -> dict[str, list[bytes]]:
        return {}

    def peer(self) -> str:
        return self.address


class Later(futures.Executor):
    """A pool that runs nothing until the test says so."""

    def __init__(self) -> None:
        self.work: list[Callable[[], object]] = []

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> futures.Future[T]:
        self.work.append(functools.partial(fn, *args, **kwargs))
        return futures.Future()

    def run(self) -> None:
        work, self.work = self.work, []
        for job in work:
            job()


LIST_CONNECTORS = "/vault.v1.ConnectorService/ListConnectors"


def test_the_gate_writes_a_last_use_on_its_pool_without_waiting_and_a_failure_fails_no_call(
    vault: Vault, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    issued = vault.tokens.create(LOCAL, Role.ADMIN)
    later = Later()
    gate = Gate(vault.tokens, AccessSettings(), writes_on=later)

    def last_used() -> dt.datetime | None:
        row = vault.records.tokens.token(issued.token.token_id)
        assert row is not None
        return row.last_used_at

    asyncio.run(gate.admit(LIST_CONNECTORS, Call(issued.secret)))  # type: ignore[arg-type]
    # Admitted before anything was written: the write waits on the pool.
    assert last_used() is None and len(later.work) == 1
    later.run()
    assert last_used() == clock.now()
    asyncio.run(gate.admit(LIST_CONNECTORS, Call(issued.secret)))  # type: ignore[arg-type]
    assert later.work == []  # nothing due within the minute

    def broken(token_id: str, at: dt.datetime) -> None:
        raise OSError("disk full")

    vault.records.tokens.touch_token = broken  # type: ignore[method-assign]
    clock.advance(seconds=LAST_USE_EVERY.total_seconds())
    asyncio.run(gate.admit(LIST_CONNECTORS, Call(issued.secret)))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="vault.server"):
        later.run()
    assert "could not note the last use" in caplog.text
