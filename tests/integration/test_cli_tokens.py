"""consent-vault tokens create, list and revoke on the data directory (or a
database URL), with no server: the secret printed once on a line of its own,
never listed, a token revoked for good; every refusal one line with its reason."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from vault import bootstrap
from vault.cli import main
from vault.core.actor import LOCAL, Role
from vault.core.clock import FixedClock
from vault.core.errors import TokenRevoked
from vault.core.tokens import Token

SECRET = re.compile(r"cvt_[a-z2-7]{12}_[A-Za-z0-9_-]{43}")
NAME = re.compile(r"tokens/[a-z2-7]{12}")


@pytest.fixture
def place(tmp_path: Path, engine: str | None) -> list[str]:
    """The options that name the vault: its data directory, and a PostgreSQL
    database for the records and keys when the engine is one."""
    return ["--data-dir", str(tmp_path / "data"), *(["--database", engine] if engine else [])]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["tokens", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def verified(tmp_path: Path, engine: str | None, secret: str) -> Token:
    vault = bootstrap.open_vault(tmp_path / "data", database=engine)
    try:
        token = vault.tokens.verify(secret)
        vault.tokens.note_uses()  # as a server does after the call, off its loop
        return token
    finally:
        bootstrap.close_vault(vault)


def test_a_token_made_before_any_server_verifies_until_it_is_revoked(  # type: ignore[no-untyped-def]
    run, place: list[str], tmp_path: Path, engine: str | None
) -> None:
    code, out, err = run("create", "--role", "admin", "--name", "first admin", *place)
    assert code == 0, err
    lines = out.splitlines()
    secret = lines[-1]
    assert SECRET.fullmatch(secret)
    name = NAME.search(lines[0])[0]  # type: ignore[index]
    assert lines[0] == f'{name}: admin, "first admin", never expires'
    assert "shown only now" in err and len(err.strip().splitlines()) == 1
    assert secret not in err
    token = verified(tmp_path, engine, secret)
    assert (token.resource_name, token.role, token.name) == (name, Role.ADMIN, "first admin")

    code, out, _ = run("list", *place)
    assert code == 0
    assert out.splitlines()[0] == f"{name}  active"
    assert "  label      first admin" in out and "  role       admin" in out
    assert "cvt_" not in out

    code, out, err = run("revoke", name, *place)
    assert code == 0, err
    assert out.startswith(f"{name}: revoked on ")
    with pytest.raises(TokenRevoked):
        verified(tmp_path, engine, secret)
    # Revoked: listed only with --all, with the day.
    code, out, _ = run("list", *place)
    assert code == 0 and out.splitlines() == [
        "no tokens",
        "(1 revoked or expired token not shown: --all lists it)",
    ]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    code, out, _ = run("list", "--all", *place)
    assert out.splitlines()[0] in (
        f"{name}  revoked on {today}",
        f"{name}  revoked on {_next_day(today)}",
    )
    # Again: answered the same, the first time kept.
    code, again, _ = run("revoke", name.removeprefix("tokens/"), "--json", *place)
    assert code == 0
    first = run("list", "--all", "--json", *place)[1]
    assert json.loads(again)["revoked_at"] == json.loads(first)[0]["revoked_at"]


def _next_day(day: str) -> str:
    return (dt.date.fromisoformat(day) + dt.timedelta(days=1)).isoformat()


def test_an_integrators_token_names_its_system_and_json_carries_the_secret_once(  # type: ignore[no-untyped-def]
    run, place: list[str], tmp_path: Path, engine: str | None
) -> None:
    code, out, err = run(
        "create", "--role", "integrator", "--system", "lms", "--expires", "90d", "--json", *place
    )
    assert code == 0, err
    made = json.loads(out)
    assert SECRET.fullmatch(made["secret"])
    assert made["role"] == "integrator" and made["system"] == "lms" and made["state"] == "active"
    created = dt.datetime.fromisoformat(made["created_at"])
    assert dt.datetime.fromisoformat(made["expires_at"]) - created == dt.timedelta(days=90)
    assert "shown only now" in err
    token = verified(tmp_path, engine, made["secret"])
    assert token.actor(frozenset({"teaching"})).system == "lms"

    # The hyphen form of a role is taken too.
    code, out, err = run("create", "--role", "privacy-officer", *place)
    assert code == 0, err
    assert out.splitlines()[0].endswith(": privacy officer, never expires")

    code, out, _ = run("list", "--json", *place)
    listed = json.loads(out)
    assert [t["role"] for t in listed] == ["privacy_officer", "integrator"]
    assert all("secret" not in t for t in listed) and "cvt_" not in out
    assert listed[1]["name"] == made["name"] and listed[1]["last_used_at"] is not None


def test_the_list_reads_at_80_columns_and_says_when_a_token_expired(  # type: ignore[no-untyped-def]
    run, place: list[str], tmp_path: Path, engine: str | None
) -> None:
    # Made through the core a year ago, so it has expired by now.
    long_ago = FixedClock(dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC))
    vault = bootstrap.open_vault(tmp_path / "data", clock=long_ago, database=engine)
    try:
        expired = vault.tokens.create(
            LOCAL, Role.AUDITOR, expires_in=dt.timedelta(days=30), name="x" * 120
        )
        vault.tokens.verify(expired.secret)
        vault.tokens.note_uses()
    finally:
        bootstrap.close_vault(vault)
    run("create", "--role", "integrator", "--system", "salon", *place)
    code, out, _ = run("list", "--all", *place)
    assert code == 0
    lines = out.splitlines()
    assert lines[6] == f"{expired.token.resource_name}  expired on 2025-03-31"
    assert lines[7:] == [
        "  label      " + "x" * 120,  # a label is never cut; every other line fits
        "  role       auditor",
        "  created    2025-03-01 12:00 UTC",
        "  expires    2025-03-31 12:00 UTC",
        "  last used  2025-03-01 12:00 UTC",
    ]
    assert lines[2] == "  role       integrator for salon"
    assert all(len(line) <= 80 for line in lines if "x" * 80 not in line)
    code, out, _ = run("list", *place)
    assert expired.token.resource_name not in out
    assert out.splitlines()[-1] == "(1 revoked or expired token not shown: --all lists it)"


def test_an_integrator_of_a_system_with_no_purposes_is_warned_its_records_will_be_refused(  # type: ignore[no-untyped-def]
    run, place: list[str], tmp_path: Path
) -> None:
    said = "no [systems.nosuchsystem] purposes are set"
    code, out, err = run("create", "--role", "integrator", "--system", "nosuchsystem", *place)
    assert code == 0 and SECRET.fullmatch(out.splitlines()[-1]), err
    warning = next(line for line in err.splitlines() if said in line)
    assert warning.startswith("warning: no configured purpose names nosuchsystem among its systems")
    assert "refuses every record this token writes" in warning and "--config" in warning
    # The systems the school's purposes name have purposes; so has a system the
    # configuration gives some, and one its [purposes] file names.
    config = tmp_path / "vault.toml"
    config.write_text(
        '[purposes]\nfile = "purposes.toml"\n[systems.nosuchsystem]\npurposes = ["newsletter"]\n'
    )
    (tmp_path / "purposes.toml").write_text(
        '[purposes.newsletter]\ndescription.en = "The newsletter"\nlegal_basis = "consent"\n'
        'categories = ["contact"]\nsystems = ["crm"]\n'
    )
    for system, more in (
        ("lms", ()),
        ("nosuchsystem", ("--config", str(config))),
        ("crm", ("--config", str(config))),
    ):
        code, _, err = run("create", "--role", "integrator", "--system", system, *more, *place)
        assert code == 0 and "purposes" not in err, err
    # The school's systems are not the configured file's.
    for system in ("other", "lms"):
        code, _, err = run(
            "create", "--role", "integrator", "--system", system, "--config", str(config), *place
        )
        assert code == 0 and f"no [systems.{system}] purposes are set in {config}" in err
    # A purposes file that does not read is one line, naming it, and no token is made.
    (tmp_path / "purposes.toml").write_text("[purposes.newsletter]\nlegal_basis = 1\n")
    code, out, err = run(
        "create", "--role", "integrator", "--system", "crm", "--config", str(config), *place
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "[purposes] file: " in err and "purposes.newsletter" in err
    # A configuration that does not read is one line, and no token is made.
    config.write_text("[systems.nosuchsystem\n")
    code, out, err = run(
        "create", "--role", "integrator", "--system", "x", "--config", str(config), *place
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--role", "integrator"), "--system: an integrator's token names its source system"),
        (("--role", "admin", "--system", "lms"), "--system: only an integrator's token"),
        (("--role", "integrator", "--system", "LMS"), "--system: an integrator's token names"),
        (("--role", "auditor", "--expires", "90"), "--expires: '90': write a whole number"),
        (("--role", "auditor", "--expires", "0d"), "--expires: must be more than 0"),
        (("--role", "auditor", "--name", "two\nlines"), "--name: must be printable"),
    ],
)
def test_a_token_that_breaks_a_rule_is_refused_in_one_line_with_its_reason(  # type: ignore[no-untyped-def]
    run, place: list[str], args: tuple[str, ...], said: str
) -> None:
    code, out, err = run("create", *args, *place)
    assert code in (1, 2) and out == ""
    assert said in err and "(reason: INVALID_FIELD)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_role_no_token_grants_is_refused_by_the_parser(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exited:
        run("create", "--role", "operator", "--data-dir", str(tmp_path / "data"))
    assert exited.value.code == 2
    assert not (tmp_path / "data").exists()


def test_revoking_a_token_that_is_not_there_or_not_a_name_is_one_line(  # type: ignore[no-untyped-def]
    run, place: list[str]
) -> None:
    run("create", "--role", "auditor", *place)
    code, _, err = run("revoke", "tokens/aaaaaaaaaaaa", *place)
    assert code == 1 and err.strip() == (
        "error: no token tokens/aaaaaaaaaaaa (reason: TOKEN_NOT_FOUND)"
    )
    # Of the right form but no token's id: no such token, not a wrong form.
    code, _, err = run("revoke", "tokens/nosuch", *place)
    assert code == 1 and err.strip() == "error: no token tokens/nosuch (reason: TOKEN_NOT_FOUND)"
    code, _, err = run("revoke", "subjects/abc", *place)
    assert code == 1 and err.startswith("error: NAME: must be tokens/ID")
    assert "(reason: INVALID_FIELD)" in err and len(err.strip().splitlines()) == 1


def test_listing_or_revoking_where_there_is_no_vault_makes_none(  # type: ignore[no-untyped-def]
    run, tmp_path: Path
) -> None:
    nowhere = tmp_path / "typo"
    for args in (("list",), ("revoke", "tokens/aaaaaaaaaaaa")):
        code, _, err = run(*args, "--data-dir", str(nowhere))
        assert code == 2 and err.startswith("error: no vault there")
        assert len(err.strip().splitlines()) == 1
    assert not nowhere.exists()


def test_the_secret_is_the_last_line_through_a_pipe_and_no_server_is_asked(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "vault.cli", "tokens", "create", "--role", "admin"],
        capture_output=True,
        text=True,
        timeout=120,
        # A server address that would be refused: these commands call none.
        env={**os.environ, "CONSENT_VAULT_DATA": str(data), "CONSENT_VAULT_SERVER": "http://x/"},
    )
    assert done.returncode == 0, done.stderr
    secret = done.stdout.splitlines()[-1]
    assert SECRET.fullmatch(secret) and done.stdout.endswith(secret + "\n")
    assert "Traceback" not in done.stderr
    assert verified(tmp_path, None, secret).role is Role.ADMIN


def test_an_integrators_token_may_carry_the_purpose_its_reads_are_for(  # type: ignore[no-untyped-def]
    run, place: list[str], tmp_path: Path, engine: str | None
) -> None:
    code, out, err = run(
        "create",
        "--role",
        "integrator",
        "--system",
        "lms",
        "--default-purpose",
        "course_delivery",
        *place,
    )
    assert code == 0, err
    assert "integrator for lms, reading for course_delivery by default" in out
    secret = out.strip().splitlines()[-1]
    assert verified(tmp_path, engine, secret).default_purpose == "course_delivery"
    code, out, _ = run("list", "--json", *place)
    assert json.loads(out)[0]["default_purpose"] == "course_delivery"
    # An unknown purpose, or one on a token that is no integrator's, is one line.
    for wrong in (
        ["--role", "integrator", "--system", "lms", "--default-purpose", "no_such_purpose"],
        ["--role", "auditor", "--default-purpose", "course_delivery"],
    ):
        code, out, err = run("create", *wrong, *place)
        assert code != 0 and out == ""
        assert "--default-purpose" in err and len(err.strip().splitlines()) == 1


def test_a_default_purpose_the_system_cannot_read_for_is_warned_of(  # type: ignore[no-untyped-def]
    run, place: list[str]
) -> None:
    code, out, err = run(
        "create",
        "--role",
        "integrator",
        "--system",
        "lms",
        "--default-purpose",
        "marketing_email",
        *place,
    )
    assert code == 0 and out.strip().splitlines()[-1].startswith("cvt_")
    warning = " ".join(err.split())
    assert "lms is not configured for marketing_email" in warning
    assert "PURPOSE_NOT_ALLOWED" in warning and "course_delivery" in warning
