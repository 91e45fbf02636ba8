"""The main job as the README gives it: `consent-vault serve --demo`, with the
default data directory, started from wherever the user stands."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
import zipfile
from pathlib import Path

import pytest

from tests.processes import ServerProcess
from vault import bootstrap, demo, demo_tokens
from vault.core.actor import LOCAL, Role
from vault_client import (
    Identity,
    NotFoundError,
    PermissionDeniedError,
    SubjectErasedError,
    VaultClient,
)
from vault_standins.people import DEMO_PEOPLE

BO = next(p for p in DEMO_PEOPLE if p.key == "bo")


@pytest.fixture
def demo_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    # No --data-dir: the default (./vault-data) is relative to the working
    # directory, the way `make run` uses it.
    server = ServerProcess(None, extra_args=("--demo",), cwd=tmp_path)
    try:
        yield server
    finally:
        server.close()


def test_the_demo_connects_every_system_from_a_relative_data_directory(
    demo_server: ServerProcess, tmp_path: Path
) -> None:
    assert (tmp_path / "vault-data" / "records.db").exists()
    with VaultClient(demo_server.address, token=demo_server.token) as vault:
        connectors = vault.list_connectors(check_health=True)
        assert {c.name for c in connectors} == {"lms", "salon", "accounting", "facebook_group"}
        assert [(c.name, c.health_detail) for c in connectors if not c.healthy] == []

        anna = vault.find_subject("email", "anna.andersson@example.se")
        archive = io.BytesIO()
        summary = vault.export_subject(anna.name, archive)
    # Anna is in every system but the Facebook group, and her identities in
    # the vault agree with what each system holds (nothing withheld).
    facebook = summary.systems.pop("facebook_group")
    assert summary.systems == {
        "vault": "done",
        "lms": "done",
        "salon": "done",
        "accounting": "done",
    }
    # The kinds it was searched by, in words (which kinds is the matching's business).
    assert facebook.startswith("no match (searched by e-mail")
    assert "email" not in facebook and "external_id" not in facebook
    exported = json.loads(zipfile.ZipFile(archive).read("export.json"))
    assert exported["records"], "Anna's vault records are in her export"


def _stop(server: ServerProcess) -> None:
    server.process.terminate()
    assert server.wait() == 0
    server.close()


def test_a_demo_person_erased_stays_erased_when_the_demo_starts_again(tmp_path: Path) -> None:
    data = tmp_path / "vault-data"
    first = ServerProcess(data, extra_args=("--demo",))
    try:
        with VaultClient(first.address, token=first.token) as vault:
            bo = vault.find_subject("email", BO.email)
            request = vault.erase_subject(bo.name)
            assert request.done
    finally:
        _stop(first)

    again = ServerProcess(data, extra_args=("--demo",))
    try:
        said = "".join(again.output)
        assert "Bo Berg" in said and str(data) in said
        with VaultClient(again.address, token=again.token) as vault:
            with pytest.raises(NotFoundError):
                vault.find_subject("email", BO.email)
            with pytest.raises(SubjectErasedError):
                vault.get_subject(bo.name)
            # The others are there as before.
            vault.find_subject("email", "anna.andersson@example.se")
            # No system was given Bo's data again: each has nothing for him.
            archive = io.BytesIO()
            fresh = vault.create_subject(
                [Identity("email", BO.email), Identity("phone", BO.phone)], ["salon_customer"]
            )
            summary = vault.export_subject(fresh.name, archive)
            assert {s for s in summary.systems.values() if not s.startswith("no match")} == {"done"}
            exported = json.loads(zipfile.ZipFile(archive).read("export.json"))
    finally:
        _stop(again)
    held = {
        system: part
        for system, part in exported["systems"].items()
        if system != "vault" and part.get("items")
    }
    assert held == {}
    with sqlite3.connect(data / "demo-systems" / "salon.db") as salon:
        assert salon.execute(
            "SELECT count(*) FROM customers WHERE email = ?", (BO.email,)
        ).fetchone() == (0,)


def test_the_note_of_seeded_people_outlives_a_lost_record_store(tmp_path: Path) -> None:
    """A fresh record store beside an old note: the vault knows none of the
    noted subjects, so every demo person is seeded afresh."""
    data = tmp_path / "vault-data"
    vault = bootstrap.open_vault(data)
    try:
        first = demo.seed_remembering(vault, data)
        assert len(first.added) == len(demo.PEOPLE) and first.left_out == []
        anna = vault.find_subject(LOCAL, demo.PEOPLE[0].identities[0])
        vault.erase_subject(LOCAL, anna.subject_id)
        second = demo.seed_remembering(vault, data)
        assert second.left_out_keys == {"anna"} and second.added == []
    finally:
        bootstrap.close_vault(vault)
    for name in ("records.db", "records.db-wal", "records.db-shm"):
        (data / name).unlink(missing_ok=True)
    vault = bootstrap.open_vault(data)
    try:
        third = demo.seed_remembering(vault, data)
        assert third.left_out == [] and len(third.added) == len(demo.PEOPLE)
    finally:
        bootstrap.close_vault(vault)


def test_every_stand_in_person_is_a_demo_person_the_vault_can_leave_out() -> None:
    assert {p.key for p in DEMO_PEOPLE} <= {p.key for p in demo.PEOPLE}


# ------------------------------------------------------- the demo's tokens
def _token_files(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text().strip() for path in sorted(folder.iterdir())}


def test_the_demo_keeps_the_tokens_that_still_work_and_replaces_the_others(
    tmp_path: Path,
) -> None:
    data = tmp_path / "vault-data"
    vault = bootstrap.open_vault(data)
    try:
        first = demo_tokens.keep_tokens(vault, data)
        folder = data / demo_tokens.TOKENS_DIR
        files = _token_files(folder)
        assert set(files) == {
            "privacy_officer.token",
            "admin.token",
            "auditor.token",
            "integrator-lms.token",
        }
        assert all(t.issued for t in first)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
        roles = {
            f: (vault.tokens.verify(s).role, vault.tokens.verify(s).system)
            for f, s in files.items()
        }
        assert roles["integrator-lms.token"] == (Role.INTEGRATOR, "lms")
        assert roles["privacy_officer.token"] == (Role.PRIVACY_OFFICER, "")

        # Revoked, damaged, another role's: each is issued afresh; the rest stay.
        auditor = vault.tokens.verify(files["auditor.token"])
        vault.tokens.revoke(LOCAL, auditor.resource_name)
        (folder / "admin.token").write_text("not a token\n")
        (folder / "privacy_officer.token").write_text(files["integrator-lms.token"])
        (folder / "integrator-lms.token").chmod(0o644)
        folder.chmod(0o755)
        second = demo_tokens.keep_tokens(vault, data)
        again = _token_files(folder)
        issued = {t.path.name for t in second if t.issued}
        assert issued == {"auditor.token", "admin.token", "privacy_officer.token"}
        assert again["integrator-lms.token"] == files["integrator-lms.token"]
        assert vault.tokens.verify(again["privacy_officer.token"]).role is Role.PRIVACY_OFFICER
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
        assert not list(folder.glob("*.part"))
    finally:
        bootstrap.close_vault(vault)


def test_the_demos_tokens_are_printed_and_each_may_do_what_its_role_may(tmp_path: Path) -> None:
    data = tmp_path / "vault-data"
    folder = data / "tokens"
    server = ServerProcess(data, extra_args=("--demo",))
    try:
        said = "".join(server.output)
        for name in ("privacy_officer", "admin", "auditor", "integrator-lms"):
            assert f"{folder / name}.token" in said
        with VaultClient(server.address, token_file=folder / "integrator-lms.token") as lms:
            anna = lms.find_subject("email", "anna.andersson@example.se")
            # The demo's learning platform is configured for its purposes.
            lms.create_record(
                anna.name,
                category="student.enrolment",
                purpose="course_delivery",
                legal_basis="contract",
                source_system="lms",
                fields={"course": "Klippning 2"},
            )
        with VaultClient(server.address, token_file=folder / "admin.token") as admin:
            assert {(t.role, t.system) for t in admin.list_tokens()} >= {
                ("privacy_officer", ""),
                ("admin", ""),
                ("auditor", ""),
                ("integrator", "lms"),
            }
            with pytest.raises(PermissionDeniedError):
                admin.find_subject("email", "anna.andersson@example.se")
        with VaultClient(server.address, token_file=folder / "auditor.token") as auditor:
            auditor.list_erasure_requests()
    finally:
        _stop(server)
