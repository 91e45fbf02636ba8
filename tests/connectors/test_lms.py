"""The LMS connector against the Moodle stand-in: grading basis in calendar months,
dates in the controller's time zone, re-runs through the sealed references, and
matches that say what each user holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from vault import __version__
from vault.connectors import Connector, Match, Removed, Retained
from vault.connectors.registry import ConnectorRegistry
from vault.connectors.testing import erase_as_the_vault_does
from vault.core.identities import Identity, IdentityKind
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_lms import ATTACHED_GRADE_REASON, GRADING_BASIS_REASON
from vault_standins import demo as standins

STOCKHOLM = ZoneInfo("Europe/Stockholm")
ANNA = [
    Identity(IdentityKind.PERSONNUMMER, "198112189876"),
    Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),
    Identity(IdentityKind.PHONE, "+46701234567"),
]


def lms(systems: standins.DemoSystems, tmp_path: Path, time_zone: str) -> Iterator[Connector]:
    registry = ConnectorRegistry.load(
        {"lms": systems.sections["lms"]},
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        systems.environ,  # type: ignore[attr-defined]
        time_zone=time_zone,
    )
    connector = registry.get("lms").connector  # type: ignore[union-attr]
    assert connector is not None
    yield connector
    registry.close()


@pytest.fixture
def connector(systems: standins.DemoSystems, tmp_path: Path) -> Iterator[Connector]:
    yield from lms(systems, tmp_path, "Europe/Stockholm")


def graded(systems: standins.DemoSystems, *moments: dt.datetime) -> int:
    """Give Anna's grades these moments; her Moodle user id."""
    user_id = systems.moodle.user_id("anna.andersson@example.se")
    systems.moodle.set_grade_times(user_id, *moments)
    return user_id


def kept_until(outcomes: list) -> list[dt.date]:
    """The last days kept: all the account holds is kept through the same one."""
    return sorted({o.until for o in outcomes if isinstance(o, Retained)})


@pytest.mark.parametrize(
    ("graded_on", "last_day"),
    [
        (dt.date(2026, 7, 1), dt.date(2027, 1, 1)),
        (dt.date(2026, 8, 31), dt.date(2027, 2, 28)),
        (dt.date(2027, 8, 31), dt.date(2028, 2, 29)),
        (dt.date(2026, 3, 31), dt.date(2026, 9, 30)),
    ],
)
def test_the_grading_basis_is_kept_six_calendar_months_through_its_last_day(
    systems: standins.DemoSystems, connector: Connector, graded_on: dt.date, last_day: dt.date
) -> None:
    graded(
        systems, dt.datetime(graded_on.year, graded_on.month, graded_on.day, 10, tzinfo=STOCKHOLM)
    )
    # On its last day the grading basis is still kept, and reported until that day.
    outcomes = connector.erase(ANNA, last_day)
    assert kept_until(outcomes) == [last_day]
    assert systems.moodle.users, "the stripped account stays, holding the grading basis"


def test_the_day_after_the_last_day_the_user_is_deleted(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    graded(systems, dt.datetime(2026, 7, 1, 10, tzinfo=STOCKHOLM))
    outcomes = connector.erase(ANNA, dt.date(2027, 1, 2))
    assert kept_until(outcomes) == []
    assert {o.category for o in outcomes if isinstance(o, Removed)} >= {"student.grading"}
    assert not systems.moodle.users


def test_a_grade_set_late_in_the_utc_day_is_dated_in_the_controllers_time_zone(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    # 22:30 UTC on 30 June is half past midnight on 1 July in Stockholm.
    graded(systems, dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC))
    grading = [i for i in connector.export(ANNA) if i.category == "student.grading"]
    assert [i.data["graded_on"] for i in grading] == ["2026-07-01"]
    assert kept_until(connector.erase(ANNA, dt.date(2027, 1, 1))) == [dt.date(2027, 1, 1)]


def test_the_time_zone_is_the_one_the_registry_was_given(
    systems: standins.DemoSystems, tmp_path: Path
) -> None:
    graded(systems, dt.datetime(2026, 6, 30, 22, 30, tzinfo=dt.UTC))
    for connector in lms(systems, tmp_path, "UTC"):
        assert kept_until(connector.erase(ANNA, dt.date(2026, 12, 1))) == [dt.date(2026, 12, 30)]


def test_a_re_run_with_the_references_reports_the_grading_basis_again(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    graded(systems, dt.datetime(2026, 10, 1, 10, tzinfo=STOCKHOLM))
    today = dt.date(2026, 12, 1)
    references = connector.find(ANNA)
    first = connector.erase(ANNA, today, references=references)
    # The first attempt blanked e-mail and idnumber: the identities find nobody.
    assert connector.find(ANNA) == []
    second = connector.erase(ANNA, today, references=references)
    assert second == [o for o in first if isinstance(o, Retained)]
    assert kept_until(second) == [dt.date(2027, 4, 1)]


def test_a_stripped_profile_whose_grading_basis_has_run_out_is_deleted_on_a_re_run(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    graded(systems, dt.datetime(2026, 10, 1, 10, tzinfo=STOCKHOLM))
    references = connector.find(ANNA)
    connector.erase(ANNA, dt.date(2026, 12, 1), references=references)
    later = connector.erase(ANNA, dt.date(2027, 4, 2), references=references)
    assert kept_until(later) == []
    removed = {o.category for o in later if isinstance(o, Removed)}
    # What the first attempt removed is not reported removed a second time.
    assert "contact" not in removed and "identity_number" not in removed
    assert {"account", "student.grading", "student.coursework"} <= removed
    assert not systems.moodle.users


def test_a_deleted_user_is_nothing_on_a_re_run(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    graded(systems, dt.datetime(2024, 1, 15, 10, tzinfo=STOCKHOLM))
    references = connector.find(ANNA)
    assert connector.erase(ANNA, dt.date(2026, 12, 1), references=references)
    assert connector.erase(ANNA, dt.date(2026, 12, 1), references=references) == []


def test_a_user_found_by_e_mail_whose_idnumber_differs_shows_it_in_holds(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    user_id = systems.moodle.user_id("anna.andersson@example.se")
    systems.moodle.users[user_id].update(idnumber="19900101-0017", phone1="040-12 34 56")
    [match] = connector.match(ANNA)
    assert match == Match(
        f"user:{user_id}",
        (Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),),
        (
            Identity(IdentityKind.PERSONNUMMER, "199001010017"),
            Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),
            Identity(IdentityKind.PHONE, "+4640123456"),
            Identity(IdentityKind.EXTERNAL_ID, str(user_id), "lms"),
            Identity(IdentityKind.EXTERNAL_ID, "anna.andersson", "lms"),
        ),
    )


def test_each_identity_that_found_a_user_is_named(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    user_id = systems.moodle.user_id("anna.andersson@example.se")
    identities = [*ANNA, Identity(IdentityKind.EXTERNAL_ID, str(user_id), "lms")]
    [match] = connector.match(identities)
    assert set(match.matched_by) == {
        identities[0],
        identities[1],
        identities[3],
    }  # the phone is no search key in Moodle
    assert connector.holdings().identified_by == (
        IdentityKind.EMAIL,
        IdentityKind.PERSONNUMMER,
        IdentityKind.EXTERNAL_ID,
    )


def test_everything_a_kept_account_holds_is_reported_removed_or_kept(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    # An older grade past its six months, and one still grading basis.
    user_id = graded(
        systems,
        dt.datetime(2026, 1, 15, 10, tzinfo=STOCKHOLM),
        dt.datetime(2026, 10, 1, 10, tzinfo=STOCKHOLM),
    )
    today, last_day = dt.date(2026, 12, 1), dt.date(2027, 4, 1)
    held = {item.category for item in connector.export(ANNA)}
    assert held == {
        "contact",
        "identity_number",
        "account",
        "student.enrolment",
        "student.grading",
        "student.coursework",
    }
    references = connector.find(ANNA)
    outcomes = erase_as_the_vault_does(connector, ANNA, today, references)
    removed = {o.category for o in outcomes if isinstance(o, Removed)}
    kept = {o.category: o for o in outcomes if isinstance(o, Retained)}
    assert removed == {"contact", "identity_number", "account"}
    assert set(kept) == {
        "account",
        "student.enrolment",
        "student.grading_basis",
        "student.grading",
        "student.coursework",
    }
    assert held <= removed | set(kept)
    assert {o.until for o in kept.values()} == {last_day}
    assert kept["student.grading"].legal_reason == ATTACHED_GRADE_REASON
    for category in ("account", "student.enrolment", "student.coursework"):
        assert kept[category].legal_reason == GRADING_BASIS_REASON
    # What the kept account still holds is what was reported kept.
    left = list(connector.export(ANNA, references=references))
    assert {item.category for item in left} <= set(kept)
    assert [i.data for i in left if i.category == "account"] == [
        {"last_ip": systems.moodle.users[user_id]["lastip"]}
    ]
    assert erase_as_the_vault_does(connector, ANNA, today, references) == list(kept.values())


def test_export_with_references_reads_the_examined_users_only(
    systems: standins.DemoSystems, connector: Connector
) -> None:
    references = connector.find(ANNA)
    user_id = systems.moodle.user_id("anna.andersson@example.se")
    # A second account with Anna's e-mail, created after the vault examined hers.
    systems.moodle.users[user_id + 100] = dict(
        systems.moodle.users[user_id], id=user_id + 100, idnumber=""
    )
    contacts = [i for i in connector.export(ANNA, references=references) if i.category == "contact"]
    assert len(contacts) == 1
    assert len([i for i in connector.export(ANNA) if i.category == "contact"]) == 2
    assert list(connector.export(ANNA, references=[])) == []
