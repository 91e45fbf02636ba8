"""Roles are sealed under the subject's keys, and request ids are kept only as a
keyed hash and forgotten after the configured time: on both engines, read the
way an attacker with a copy of the record database would read them."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from tests.residue import found, places
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.core.errors import RequestIdReused, SubjectErased
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft
from vault.core.replay import DEFAULT_REMEMBER_FOR, request_hash
from vault.core.vault import IdentityInput, Vault
from vault.crypto import TamperedError
from vault.runtime import build_services

ROLE = "model_xyz_marker"
CREATE_ID = "create-anna-marker"
RECORD_ID = "record-anna-marker"
ERASE_ID = "erase-anna-marker"


def anna(vault: Vault, request_id: str = CREATE_ID) -> str:
    return vault.create_subject(
        LOCAL,
        [IdentityInput(IdentityKind.EMAIL, "anna@example.se")],
        [ROLE, "student"],
        request_id=request_id,
    ).subject_id


def note(text: str = "a") -> RecordDraft:
    return RecordDraft("notes", "salon_booking", LegalBasis.CONTRACT, "salon", {"n": text})


# ------------------------------------------------------------------ roles
def test_roles_are_stored_sealed_and_read_back_through_every_reader(
    vault: Vault, data_dir: Path, engine: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = anna(vault)
    row = vault.records.subjects.subject(sid)
    assert row is not None and row.sealed_roles is not None
    assert vault.get_subject(LOCAL, sid).roles == (ROLE, "student")
    assert vault.export_subject(LOCAL, sid).subject.roles == (ROLE, "student")
    assert vault.find_subject(
        LOCAL, IdentityInput(IdentityKind.EMAIL, "anna@example.se")
    ).roles == (ROLE, "student")
    assert found(places(data_dir, engine, caplog.text), [ROLE, CREATE_ID]) == []

    updated = vault.update_subject(LOCAL, sid, ["salon_customer"], None)
    assert updated.roles == ("salon_customer",)
    # Changing only the flag keeps the roles as they were sealed.
    assert vault.update_subject(LOCAL, sid, None, True).roles == ("salon_customer",)
    assert vault.get_subject(LOCAL, sid).roles == ("salon_customer",)
    assert vault.update_subject(LOCAL, sid, [], None).roles == ()


def test_an_erased_subject_keeps_no_roles(vault: Vault) -> None:
    sid = anna(vault)
    vault.erase_subject(LOCAL, sid)
    row = vault.records.subjects.subject(sid)
    assert row is not None and row.sealed_roles is None
    with pytest.raises(SubjectErased):
        vault.get_subject(LOCAL, sid)


def test_sealed_roles_open_only_as_their_own_subjects(vault: Vault) -> None:
    sid = anna(vault)
    other = vault.create_subject(
        LOCAL, [IdentityInput(IdentityKind.EMAIL, "other@example.se")], ["student"]
    ).subject_id
    theirs = vault.records.subjects.subject(sid)
    assert theirs is not None
    with vault.records.write() as tx:
        tx.subjects.update_subject(other, theirs.sealed_roles, False, theirs.updated_at)
    with pytest.raises(TamperedError):
        vault.get_subject(LOCAL, other)


def test_the_length_of_sealed_roles_does_not_tell_one_role_from_another(vault: Vault) -> None:
    lengths = set()
    for n, roles in enumerate([["model"], ["salon_customer"], ["student", "employee"], []]):
        subject = vault.create_subject(
            LOCAL, [IdentityInput(IdentityKind.EMAIL, f"p{n}@example.se")], roles
        )
        row = vault.records.subjects.subject(subject.subject_id)
        assert row is not None and row.sealed_roles is not None
        lengths.add(len(row.sealed_roles))
    assert len(lengths) == 1


# ------------------------------------------------------------ request ids
def test_a_request_id_is_stored_only_as_its_keyed_hash(
    vault: Vault, data_dir: Path, engine: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = anna(vault)
    vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID)
    assert vault.records.replay.remembered([CREATE_ID]) is None
    remembered = vault.replay.lookup(CREATE_ID)
    assert remembered is not None and remembered.subject_id == sid
    assert remembered.request_hash == request_hash(vault.keyring, CREATE_ID)
    assert remembered.key_version == vault.keyring.current_version
    assert found(places(data_dir, engine, caplog.text), [CREATE_ID, RECORD_ID]) == []


def test_a_retry_answers_the_same_and_other_content_is_refused(vault: Vault) -> None:
    sid = anna(vault)
    assert anna(vault) == sid
    first = vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID)
    assert vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID) == first
    assert vault.count_records(LOCAL, sid) == 1
    with pytest.raises(RequestIdReused):
        vault.create_record(LOCAL, sid, note("other"), request_id=RECORD_ID)
    with pytest.raises(RequestIdReused):
        vault.update_subject(LOCAL, sid, ["student"], None, request_id=RECORD_ID)


def test_after_the_configured_time_a_retry_is_a_new_request(
    vault: Vault, clock: FixedClock
) -> None:
    sid = anna(vault)
    first = vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID)
    clock.advance(seconds=DEFAULT_REMEMBER_FOR.total_seconds() - 60)
    vault.maintain()
    assert vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID) == first
    clock.advance(seconds=120)
    vault.maintain()
    assert vault.replay.lookup(RECORD_ID) is None and vault.replay.lookup(CREATE_ID) is None
    again = vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID)
    assert again.record_id != first.record_id
    assert vault.count_records(LOCAL, sid) == 2
    # Remembered anew, from now.
    assert vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID) == again


def test_the_time_requests_are_remembered_is_the_vaults_setting(
    vault: Vault, clock: FixedClock
) -> None:
    vault.replay.remember_for = dt.timedelta(days=2)
    sid = anna(vault)
    clock.advance(days=1)
    vault.maintain()
    assert vault.replay.lookup(CREATE_ID) is not None
    clock.advance(days=1, seconds=1)
    vault.maintain()
    assert vault.replay.lookup(CREATE_ID) is None
    assert vault.get_subject(LOCAL, sid).roles == (ROLE, "student")


def test_an_erasures_request_id_is_forgotten_in_time_and_its_receipt_stays(
    vault: Vault, clock: FixedClock
) -> None:
    sid = anna(vault)
    receipt = vault.erase_subject(LOCAL, sid, request_id=ERASE_ID)
    # The subject's other requests go with it; the erasure's own stays, for a retry.
    assert vault.replay.lookup(CREATE_ID) is None
    assert vault.replay.lookup(ERASE_ID) is not None
    assert vault.erase_subject(LOCAL, sid, request_id=ERASE_ID) == receipt
    clock.advance(days=DEFAULT_REMEMBER_FOR.days + 1)
    vault.maintain()
    assert vault.replay.lookup(ERASE_ID) is None
    assert vault.records.receipts.erasure_receipt(sid) is not None
    # A retry now is a new request, answered by the erased subject's receipt.
    assert vault.erase_subject(LOCAL, sid, request_id=ERASE_ID) == receipt


def test_after_a_rotation_a_retry_of_an_earlier_request_answers_the_same(vault: Vault) -> None:
    sid = anna(vault)
    first = vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID)
    vault.keyrings.replace(vault.keyring.with_new_version())
    assert vault.keyring.current_version == 2
    assert anna(vault) == sid
    assert vault.create_record(LOCAL, sid, note(), request_id=RECORD_ID) == first
    with pytest.raises(RequestIdReused):
        vault.create_record(LOCAL, sid, note("other"), request_id=RECORD_ID)
    remembered = vault.replay.lookup(RECORD_ID)
    assert remembered is not None and remembered.key_version == 1
    # A request made now is remembered under the new version.
    vault.create_record(LOCAL, sid, note("new"), request_id="after-rotation")
    newer = vault.replay.lookup("after-rotation")
    assert newer is not None and newer.key_version == 2
    # Under a version retired, a request is never found again.
    vault.keyrings.replace(vault.keyring.without([1]))
    assert vault.replay.lookup(RECORD_ID) is None
    assert vault.replay.lookup("after-rotation") == newer


def test_an_erasure_everywhere_keeps_its_request_id_only_as_a_hash(
    vault: Vault, data_dir: Path, engine: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = anna(vault)
    coordinator = build_services(vault).coordinator
    try:
        accepted = coordinator.request(LOCAL, sid, request_id=ERASE_ID)
        again = coordinator.request(LOCAL, sid, request_id=ERASE_ID)
        assert again.request_id == accepted.request_id
        other = vault.create_subject(
            LOCAL, [IdentityInput(IdentityKind.EMAIL, "other@example.se")], []
        ).subject_id
        with pytest.raises(RequestIdReused):
            coordinator.request(LOCAL, other, request_id=ERASE_ID)
    finally:
        coordinator.close()
    vault.maintain()
    remembered = vault.replay.lookup(ERASE_ID)
    assert remembered is not None and remembered.operation == "erase_everywhere"
    assert found(places(data_dir, engine, caplog.text), [ROLE, CREATE_ID, ERASE_ID]) == []
    assert remembered.subject_id == sid and remembered.result == accepted.request_id
