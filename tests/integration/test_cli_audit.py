"""consent-vault audit: list (a table that reads at 80 columns, JSON Lines),
head and public-key against a real server, and verify on the data directory
with no server, through a pipe as an auditor runs it: exit 0 when nothing
changed, 1 with a line per change, never a traceback."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import START
from vault import bootstrap
from vault.cli import main
from vault.core.actor import LOCAL, Actor, Role
from vault.core.audit.events import Operation
from vault.core.audit.heads import SignedTreeHead, public_key_from_pem, verify_head
from vault.core.clock import FixedClock
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.server.app import RunningServer

# An actor as long as a token's label and name make one, to wrap in the table.
SYNC = Actor("nightly register sync of the school (tokens/abcdefghijkl)", Role.INTEGRATOR, "lms")
OFFICER = Actor("dpo (tokens/mnopqrstuvwx)", Role.PRIVACY_OFFICER)


def told(vault: Vault, count: int, subject_id: str = "", **how: object) -> None:
    actor = how.pop("actor", OFFICER)
    operation = how.pop("operation", Operation.GET_RECORD)
    for _ in range(count):
        vault.audit.commit(vault.audit.event(actor, operation, subject_id, **how))  # type: ignore[arg-type]


@pytest.fixture
def run(
    server: RunningServer,
    token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):  # type: ignore[no-untyped-def]
    """The CLI against the server, at 80 columns, as a privacy officer."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", "audit", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def piped(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI as a user runs it into a pipe, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", **(environ or {})},
    )


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


# ------------------------------------------------------------------ list
def test_the_table_reads_at_80_columns_and_json_has_every_field(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    vault = server.vault
    anna = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "a@example.se")], [])
    told(vault, 2, anna.subject_id, actor=SYNC, sensitive=True, result="PURPOSE_NOT_ALLOWED")
    told(vault, 1, operation=Operation.GET_CONSISTENCY_PROOF)
    pseudonym = vault.audit_log.subject_pseudonym(anna.subject_id)

    code, out, err = run("list", "--actor", SYNC.who)
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0].split() == ["time", "(UTC)", "operation", "subject", "result"]
    # An event a line, and who did it under it, their name whole.
    assert lines[1].split() == [
        "2026-11-24",
        "09:00:00",
        "get",
        "record",
        pseudonym[:8],
        "PURPOSE_NOT_ALLOWED",
    ]
    assert lines[2] == f"  by {SYNC.who}; sensitive"
    assert len(lines) == 5 and pseudonym not in out

    code, out, _ = run("list", "--actor", SYNC.who, "--json")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert len(events) == 2
    assert events[0] == {
        "index": events[0]["index"],
        "time": START.isoformat(),
        "actor": SYNC.who,
        "role": "integrator",
        "system": "lms",
        "operation": "get record",
        "subject_pseudonym": pseudonym,
        "purpose": "",
        "sensitive": True,
        "result": "PURPOSE_NOT_ALLOWED",
        "detail": "",
    }


def test_the_filters_and_the_limit(run, server: RunningServer, clock: FixedClock) -> None:  # type: ignore[no-untyped-def]
    vault = server.vault
    anna = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "a@example.se")], [])
    told(vault, 3, anna.subject_id)
    clock.advance(hours=2)
    told(vault, 2, actor=SYNC, sensitive=True, operation=Operation.CREATE_RECORD)

    def listed(*filters: str) -> list[dict]:
        code, out, err = run("list", "--json", "--limit", "0", *filters)
        assert code == 0, err
        return [json.loads(line) for line in out.splitlines()]

    assert len(listed("--operation", "create record")) == 2
    about_anna = listed("--subject", f"subjects/{anna.subject_id}")
    assert len([e for e in about_anna if e["actor"] == OFFICER.who]) == 3
    assert {e["actor"] for e in listed("--sensitive")} == {SYNC.who}
    assert SYNC.who not in {e["actor"] for e in listed("--not-sensitive")}
    since = (START + dt.timedelta(hours=1)).isoformat()
    assert {e["actor"] for e in listed("--since", since, "--until", "2026-11-25")} >= {SYNC.who}
    assert OFFICER.who not in {e["actor"] for e in listed("--since", since)}
    # A time without an offset is UTC.
    assert len(listed("--actor", OFFICER.who, "--until", "2026-11-24T09:00:01")) == 3

    code, out, err = run("list", "--actor", OFFICER.who, "--limit", "2")
    assert code == 0
    assert out.count("get record") == 2
    assert "more match" in err and "--limit 0" in err


def test_a_listing_it_cannot_make_is_one_line_naming_the_option(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("list", "--operation", "read everything")
    assert code == 1 and err.startswith("error: --operation: ") and "INVALID_FIELD" in err
    assert len(err.strip().splitlines()) == 1

    vault = server.vault
    bo = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "bo@example.se")], [])
    vault.erase_subject(LOCAL, bo.subject_id)
    code, _, err = run("list", "--subject", f"subjects/{bo.subject_id}")
    assert code == 1 and "SUBJECT_ERASED" in err and f"subjects/{bo.subject_id}" in err

    with pytest.raises(SystemExit) as exited:
        run("list", "--since", "last tuesday")
    assert exited.value.code == 2


# ------------------------------------------------------ head, public key
def test_head_and_public_key_verify_each_other(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    told(server.vault, 4)
    server.vault.sequencer.run_until_done()
    code, out, err = run("head")
    assert code == 0, err
    assert fits(out), out
    labels = [line[:11].strip() for line in out.splitlines()]
    assert labels == ["size", "root", "time", "signature", ""]

    code, out, _ = run("head", "--json")
    head = json.loads(out)
    code, pem, _ = run("public-key")
    assert code == 0 and pem.startswith("-----BEGIN PUBLIC KEY-----")
    key = public_key_from_pem(pem)
    assert key == bytes.fromhex(head["public_key"]) == server.vault.audit_log.public_key()
    signed = SignedTreeHead(
        head["size"],
        bytes.fromhex(head["root_hash"]),
        dt.datetime.fromisoformat(head["time"]),
        bytes.fromhex(head["signature"]),
    )
    assert verify_head(key, signed)
    code, out, _ = run("head", "--size", str(signed.size))
    assert code == 0 and f"{signed.size:,} events" in out

    code, _, err = run("head", "--size", "999999999")
    assert code == 1 and "AUDIT_ENTRY_NOT_FOUND" in err


def test_list_through_a_pipe(server: RunningServer, token: str) -> None:
    told(server.vault, 3, actor=SYNC)
    done = piped(
        "--server",
        f"127.0.0.1:{server.port}",
        "audit",
        "list",
        "--actor",
        SYNC.who,
        environ={"CONSENT_VAULT_TOKEN": token},
    )
    assert done.returncode == 0, done.stderr
    assert fits(done.stdout) and "Traceback" not in done.stderr
    assert done.stdout.count("get record") == 3


# ---------------------------------------------------------------- verify
@pytest.fixture
def place(tmp_path: Path, engine: str | None) -> list[str]:
    """The options that name a vault no server has open."""
    return ["--data-dir", str(tmp_path / "data"), *(["--database", engine] if engine else [])]


def offline_vault(tmp_path: Path, engine: str | None, events: int) -> None:
    vault = bootstrap.open_vault(tmp_path / "data", database=engine)
    try:
        told(vault, events // 2)
        vault.sequencer.run_until_done()
        told(vault, events - events // 2)  # left waiting, for verify to fold in
    finally:
        bootstrap.close_vault(vault)


def test_verify_finds_no_change_in_a_log_no_one_touched(
    tmp_path: Path, engine: str | None, place: list[str]
) -> None:
    offline_vault(tmp_path, engine, 10)
    done = piped("audit", "verify", *place)
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    assert line.startswith("verified ") and line.endswith(": no change found")
    assert "signed tree head" in line and "Traceback" not in done.stderr
    assert "waiting event" in done.stderr  # the half left waiting was folded in first


@pytest.mark.sqlite_only("edits the SQLite file behind the vault's back")
def test_verify_names_each_change_and_exits_1(
    tmp_path: Path, engine: str | None, place: list[str]
) -> None:
    offline_vault(tmp_path, engine, 10)
    piped("audit", "verify", *place)  # sequences the rest
    with sqlite3.connect(tmp_path / "data" / "records.db") as db:
        db.execute(
            "UPDATE audit_events SET entry = CAST(replace(CAST(entry AS TEXT), "
            "'get record', 'get nothing') AS BLOB) WHERE leaf_index = 3"
        )
        db.execute("DELETE FROM audit_events WHERE leaf_index = 7")
    db.close()
    done = piped("audit", "verify", *place)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("event 3 was edited") for line in lines), lines
    assert any(line.startswith("event 7 was removed") for line in lines), lines
    assert fits(done.stderr) and "found in" in done.stderr


def test_verify_of_no_vault_says_so_in_one_line(tmp_path: Path) -> None:
    done = piped("audit", "verify", "--data-dir", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
