"""The gate's parts on their own: reading the Bearer token, the rate limit's
bucket, and the [access] and [systems.NAME] settings it is built from."""

from __future__ import annotations

from pathlib import Path

import pytest

from vault import demo, settings
from vault.core.errors import TokenMalformed, TokenMissing
from vault.runtime import with_demo_purposes
from vault.server.access import RateLimits, presented_token
from vault.settings import SettingsError

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


def test_access_and_systems_settings(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(
        "[access]\ncalls_per_second = 5\nburst = 20\n"
        '[systems.lms]\npurposes = ["course_delivery", "grading"]\n'
        "[server]\nreflection = false\n"
    )
    loaded = settings.load(config=config, environ={}).server
    assert (loaded.access.calls_per_second, loaded.access.burst) == (5, 20)
    assert loaded.access.purposes == {"lms": frozenset({"course_delivery", "grading"})}
    assert not loaded.reflection
    assert settings.load(no_reflection=True, environ={}).server.reflection is False
    defaults = settings.load(environ={}).server
    assert (defaults.access.calls_per_second, defaults.access.burst) == (50, 100)
    assert defaults.reflection
    for text, named in (
        ("[access]\nburst = 0\n", r"\[access\] burst"),
        ("[access]\ncalls = 5\n", r"\[access\] has no setting 'calls'"),
        ('[systems.lms]\npurposes = "grading"\n', r"\[systems.lms\] purposes"),
        ("[systems.lms]\npurpose = []\n", r"\[systems.lms\] has no setting"),
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


def test_the_demo_adds_its_systems_purposes_where_it_starts_and_the_configuration_wins(
    tmp_path: Path,
) -> None:
    config = tmp_path / "vault.toml"
    config.write_text('[systems.lms]\npurposes = ["grading"]\n')
    loaded = settings.load(config=config, demo=True, environ={}).server
    assert loaded.access.purposes == {"lms": frozenset({"grading"})}  # nothing of the demo's
    purposes = with_demo_purposes(loaded).access.purposes
    assert purposes["lms"] == frozenset({"grading"})
    assert purposes["salon"] == demo.SYSTEM_PURPOSES["salon"]
    assert set(purposes) == set(demo.SYSTEM_PURPOSES)
