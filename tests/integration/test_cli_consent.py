"""consent-vault consent record, state, history and export against a real
server, as a privacy officer reads them at 80 columns and through a pipe:
what was recorded in words, the standing per purpose in a table, every event
oldest first across pages, the DPV consent records; bad input one line and a
non-zero exit, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.access import token_for
from tests.conftest import START
from vault.cli import consent as consent_cli
from vault.cli import main
from vault.cli.parser import _parser
from vault.core.actor import LOCAL, Role
from vault.core.audit.events import Operation
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent.model import Channel, ConsentInput, ConsentStatus, PolicyDraft
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.reports.consent_terminal import CHANNELS
from vault.server.app import RunningServer
from vault_client import consent as client_consent


@pytest.fixture
def run(server: RunningServer, token: str, capsys: pytest.CaptureFixture[str], monkeypatch):  # type: ignore[no-untyped-def]
    """The CLI against the server, at 80 columns, as a privacy officer."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", "consent", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def piped(server: RunningServer, token: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it into a pipe, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", "--server", f"127.0.0.1:{server.port}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "CONSENT_VAULT_TOKEN": token},
    )


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


def person(vault: Vault, email: str = "anna@example.se") -> str:
    subject = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, email)], [])
    return f"subjects/{subject.subject_id}"


def publish(vault: Vault, version: str, *material: str) -> None:
    vault.policies.publish(
        LOCAL,
        PolicyDraft(
            version,
            START.date(),
            text=f"the policy, version {version}",
            changed_purposes=material,
            material_purposes=material,
        ),
    )


def given(vault: Vault, name: str, *purposes: str) -> None:
    vault.consents.record(
        LOCAL,
        name.removeprefix("subjects/"),
        ConsentInput(purposes, ConsentStatus.GIVEN, Channel.WEB_FORM, evidence="form 1"),
    )


def events_of(vault: Vault, name: str) -> int:
    page = vault.consent_history(LOCAL, name.removeprefix("subjects/"), "", 1000, "")
    return len(page.events)


# ---------------------------------------------------------------- record
def test_recording_says_what_was_recorded_in_words(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    publish(server.vault, "2026-01")
    anna = person(server.vault)
    code, out, err = run(
        "record",
        anna,
        "--purpose",
        "marketing_email",
        "--purpose",
        "marketing_sms",
        "--status",
        "given",
        "--channel",
        "web form",
        "--evidence",
        "submission 4711 of the newsletter sign-up form on the school's web site",
        "--time",
        "2026-11-24T08:30",
    )
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0] == anna
    assert lines[1].startswith("  marketing_email: given on 2026-11-24 08:30 UTC")
    said = " ".join(out.split())
    assert (
        "marketing_sms: given on 2026-11-24 08:30 UTC through a web form, under policy 2026-01; "
        "evidence: submission 4711 of the newsletter" in said
    )
    # Each purpose's sentence wraps under it, indented further.
    assert [line[:4] for line in lines[1:]].count("  ma") == 2
    assert all(line.startswith("    ") for line in lines[1:] if not line.startswith("  ma"))

    code, out, err = run(
        "record", anna, "--purpose", "customer_surveys", "--status", "refused",
        "--channel", "Paper-Form", "--json",
    )  # fmt: skip
    assert code == 0, err
    recorded = json.loads(out)
    [event] = recorded["events"]
    assert recorded["erasure_requests"] == []  # nothing stood: nothing to erase
    assert event["purpose"] == "customer_surveys" and event["status"] == "refused"
    assert event["channel"] == "paper_form" and event["policy_version"] == "2026-01"
    assert event["time"] == START.isoformat() and event["name"].startswith(f"{anna}/consentEvents/")


def test_a_withdrawal_with_no_purpose_withdraws_every_consent_that_stands(  # type: ignore[no-untyped-def]
    run, server: RunningServer
) -> None:
    anna = person(server.vault)
    given(server.vault, anna, "marketing_email", "marketing_post", "model_bank")
    code, out, err = run("record", anna, "--status", "withdrawn", "--channel", "e-mail")
    assert code == 0, err
    said, _, erasing = out.partition("What was held")
    assert [
        line.split(":")[0].strip()
        for line in said.splitlines()[1:]
        if line.strip() and line[2] != " "
    ] == [
        "marketing_email",
        "marketing_post",
        "model_bank",
    ]
    assert out.count("withdrawn on") == 3 and "by e-mail" in " ".join(out.split())
    # Each purpose's erasure request, whole on a line of its own, to follow.
    requests = [line.strip() for line in erasing.splitlines() if "erasureRequests/" in line]
    assert len(requests) == 3 and all(r.startswith("erasureRequests/") for r in requests)
    # Said as the answer knows it: being erased, nothing claimed done, and no
    # other system named where none holds anything (this server has none).
    words = " ".join(erasing.split())
    assert "being erased, the vault's part first" in words
    assert "consent-vault requests show NAME" in words
    assert "already" not in words and "other systems" not in words
    assert all(len(line) <= 80 for line in out.splitlines())

    # Nothing left to withdraw: one line from the server, exit 1.
    code, out, err = run("record", anna, "--status", "withdrawn", "--channel", "e-mail")
    assert code == 1 and not out
    assert err.count("\n") == 1 and err.startswith("error: --purpose") and "reason:" in err


def test_consent_other_than_a_withdrawal_names_its_purposes(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    anna = person(server.vault)
    code, out, err = run("record", anna, "--status", "given", "--channel", "phone")
    assert code == 2 and not out
    assert err.startswith("error: --purpose:") and err.count("\n") == 1
    # What the person did, in a sentence that reads, for each status that needs a purpose.
    for status, did in (("given", "gave"), ("Refused", "refused"), ("renewed", "renewed")):
        code, out, err = run("record", anna, "--status", status, "--channel", "phone")
        assert (code, out) == (2, "")
        assert err == (
            f"error: --purpose: name the purposes the person {did} consent for (repeatable)\n"
        )
    assert consent_cli.DID["withdrawn"] == "withdrew"
    assert set(consent_cli.DID) == set(consent_cli.STATUSES)


@pytest.mark.parametrize(
    ("options", "starts"),
    [
        (["--purpose", "marketing_email", "--status", "maybe"], "error: --status: 'maybe' is not"),
        (["--purpose", "marketing_email", "--status", "given", "--channel", "pigeon"],
         "error: --channel: 'pigeon' is not one of"),
        (["--purpose", "marketing_email", "--status", "given", "--time", "yesterday"],
         "error: --time: 'yesterday' is not a date or time"),
        (["--purpose", "marketing_email", "--status", "given", "--expires", "2026-13-01"],
         "error: --expires: '2026-13-01' is not a date or time"),
        # The server's refusals, naming the option that gave the field.
        (["--purpose", "astrology", "--status", "given"], "error: --purpose: astrology is not"),
        (["--purpose", "course_delivery", "--status", "given"], "error: --purpose"),
        (["--purpose", "marketing_email", "--status", "given", "--policy-version", "1999"],
         "error: --policy-version"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_a_non_zero_exit(  # type: ignore[no-untyped-def]
    run, server: RunningServer, options: list[str], starts: str
) -> None:
    anna = person(server.vault)
    if "--channel" not in options:
        options = [*options, "--channel", "web form"]
    code, out, err = run("record", anna, *options)
    assert code != 0 and not out
    assert err.startswith(starts), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert events_of(server.vault, anna) == 0


def test_every_channel_is_taken_in_the_words_the_tables_print(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    # One table of words: one for each channel the client sends, each the
    # core's name for that channel, whatever its case.
    assert set(CHANNELS) == set(client_consent.CHANNELS)
    for code, (word, _) in CHANNELS.items():
        assert Channel[code.upper()].value == word.lower()
    anna = person(server.vault)
    for code, (word, _) in CHANNELS.items():
        status, out, err = run(
            "record", anna, "--purpose", "marketing_email", "--status", "given",
            "--channel", word.upper(), "--json",
        )  # fmt: skip
        assert status == 0, err
        assert [event["channel"] for event in json.loads(out)["events"]] == [code]
    status, out, err = run("history", anna)
    assert status == 0, err
    rows = [line for line in out.splitlines()[2:] if not line.startswith(" ")]
    assert [row.split("  ")[-1] for row in rows] == [word for word, _ in CHANNELS.values()]
    # A word it does not take is answered with the words it does.
    status, out, err = run(
        "record", anna, "--purpose", "marketing_email", "--status", "given", "--channel", "fax"
    )
    assert status == 2 and not out
    assert err == (
        "error: --channel: 'fax' is not one of "
        '"web form", e-mail, "in person", phone, "paper form", SMS, other\n'
    )


# ----------------------------------------------------------------- state
def test_the_state_is_a_table_in_words_at_80_columns(  # type: ignore[no-untyped-def]
    run, server: RunningServer, clock: FixedClock
) -> None:
    vault = server.vault
    publish(vault, "2026-01")
    anna = person(vault)
    given(vault, anna, "marketing_email", "marketing_sms")
    clock.advance(days=1)
    publish(vault, "2026-02", "marketing_email")

    code, out, err = run("state", anna)
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0] == anna
    assert lines[1].split() == ["purpose", "standing", "since", "policy", "channel"]
    rows = {line.split()[0]: line for line in lines[2:] if not line.startswith(" ")}
    assert set(rows) == {p.name for p in vault.purposes.consent_based()}
    # The standing in words, its column wrapped where it must be.
    email = lines.index(rows["marketing_email"])
    standing = " ".join(
        line[len("marketing_email") :].split("2026-11-24")[0].strip()
        for line in lines[email : email + 2]
    )
    assert "re-consent needed (policy 2026-02 changed it)" in " ".join(standing.split())
    assert rows["marketing_sms"].split()[1:] == ["given", "2026-11-24", "2026-01", "web", "form"]
    assert rows["model_bank"].split()[1:] == ["not", "asked", "-", "-", "-"]

    code, out, _ = run("state", anna, "--json")
    states = {state["purpose"]: state for state in json.loads(out)}
    assert states["marketing_email"]["standing"] == "reconsent_needed"
    assert states["marketing_email"]["changed_by_version"] == "2026-02"
    assert states["marketing_sms"]["latest"]["evidence"] == "form 1"
    assert states["model_bank"]["latest"] is None


def test_through_a_pipe_there_are_no_colours(server: RunningServer, token: str) -> None:
    anna = person(server.vault)
    given(server.vault, anna, "marketing_post")
    for command in (["consent", "state", anna], ["consent", "history", anna]):
        result = piped(server, token, *command)
        assert result.returncode == 0, result.stderr
        assert "\x1b" not in result.stdout and "marketing_post" in result.stdout
        assert fits(result.stdout)
    result = piped(server, token, "consent", "state", "subjects/" + "0" * 32)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr


def test_an_integrator_whose_system_has_no_consent_purposes_is_told_so(  # type: ignore[no-untyped-def]
    run, server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    anna = person(server.vault)
    given(server.vault, anna, "marketing_email")
    # The learning platform processes for no purpose resting on consent; others do.
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token_for(server.vault, Role.INTEGRATOR, "lms"))
    code, out, err = run("state", anna)
    assert code == 0, err
    assert out == f"{anna}\nnone of the purposes this token may ask about rest on consent\n"
    code, out, err = run("state", anna, "--json")
    assert (code, json.loads(out)) == (0, [])


def test_an_unknown_subject_is_one_line(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("state", "subjects/" + "0" * 32)
    assert code == 1 and not out
    assert err.startswith("error: ") and err.count("\n") == 1 and "NOT_FOUND" in err


# --------------------------------------------------------------- history
def test_the_history_lists_every_event_oldest_first_across_pages(  # type: ignore[no-untyped-def]
    run, server: RunningServer, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = server.vault
    anna = person(vault)
    for status in ("given", "withdrawn", "given"):
        code, _, err = run(
            "record", anna, "--purpose", "marketing_email", "--purpose", "customer_surveys",
            "--status", status, "--channel", "in person",
            "--evidence", f"said at the reception desk ({status})",
        )  # fmt: skip
        assert code == 0, err
        clock.advance(hours=1)
    # Two events a page: the command follows the page tokens to the end.
    monkeypatch.setattr(consent_cli, "HISTORY_PAGE", 2)

    code, out, err = run("history", anna)
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0] == anna
    assert lines[1].split() == ["time", "(UTC)", "purpose", "status", "policy", "channel"]
    events = [line.split() for line in lines[2:] if not line.startswith(" ")]
    # In the order recorded: the purposes of one call in the order asked.
    assert [(e[1], e[2], e[3]) for e in events] == [
        ("09:00", "marketing_email", "given"),
        ("09:00", "customer_surveys", "given"),
        ("10:00", "marketing_email", "withdrawn"),
        ("10:00", "customer_surveys", "withdrawn"),
        ("11:00", "marketing_email", "given"),
        ("11:00", "customer_surveys", "given"),
    ]
    # Under each event: who recorded it, and its evidence.
    assert out.count("  recorded by ") == 6
    assert "evidence: said at the reception desk (withdrawn)" in " ".join(out.split())

    code, out, err = run("history", anna, "--purpose", "customer_surveys", "--json")
    assert code == 0, err
    history = json.loads(out)
    assert [e["status"] for e in history] == ["given", "withdrawn", "given"]
    assert {e["purpose"] for e in history} == {"customer_surveys"}
    assert events_of(vault, anna) == 6


# ---------------------------------------------------------------- export
def test_the_export_is_the_dpv_document_on_stdout_or_in_a_file(  # type: ignore[no-untyped-def]
    run, server: RunningServer, tmp_path: Path
) -> None:
    anna = person(server.vault)
    given(server.vault, anna, "marketing_email", "model_bank")

    code, out, err = run("export", anna)
    assert code == 0, err
    document = json.loads(out)
    assert "@context" in document
    assert "2 consent records" in err

    target = tmp_path / "anna-consent.jsonld"
    code, out, err = run("export", anna, "-o", str(target))
    assert code == 0, err
    assert json.loads(target.read_text()) == document
    assert out.strip() == f"2 consent records (DPV, JSON-LD) written to {target}"

    code, out, err = run("export", anna, "-o", str(tmp_path / "no-such-folder" / "x.jsonld"))
    assert code == 1 and not out and err.count("\n") == 1

    # Evidence text: the file is the person's alone to read, like the subject's export.
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    target.chmod(0o644)
    assert run("export", anna, "-o", str(target))[0] == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["anna-consent.jsonld"]

    # `-o -` is stdout, as with no -o.
    code, out, err = run("export", anna, "-o", "-")
    assert code == 0 and json.loads(out) == document and "2 consent records" in err
    assert not (Path.cwd() / "-").exists()


@pytest.mark.parametrize(
    ("where", "why"),
    [
        (".", "is a directory, not a file name"),
        ("missing-dir/x.jsonld", "No such file or directory"),
        ("a-file/x.jsonld", "Not a directory"),
        ("a-pipe", "exists and is not a regular file; name a new file or a regular one"),
        pytest.param(
            "read-only/x.jsonld",
            "Permission denied",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere"),
        ),
    ],
)
def test_an_export_to_a_bad_place_is_the_subject_exports_one_line(  # type: ignore[no-untyped-def]
    run, server: RunningServer, tmp_path: Path, where: str, why: str
) -> None:
    anna = person(server.vault)
    given(server.vault, anna, "marketing_email")
    place = tmp_path / "exports"
    (place / "read-only").mkdir(parents=True)
    (place / "a-file").write_text("not a folder")
    os.mkfifo(place / "a-pipe")
    (place / "read-only").chmod(0o500)
    try:
        code, out, err = run("export", anna, "-o", str(place / where))
    finally:
        (place / "read-only").chmod(0o700)
    # The path named, never a temporary file's name nor an errno.
    assert (code, out) == (1, "")
    assert err == f"error: cannot write the export to {place / where}: {why}\n"
    assert sorted(p.name for p in place.iterdir()) == ["a-file", "a-pipe", "read-only"]
    assert list((place / "read-only").iterdir()) == []
    # Nothing was asked of the vault for a file that could not be written.
    asked = AuditQuery(operation=Operation.EXPORT_CONSENT_RECORDS.value, limit=10)
    assert server.vault.records.audit.query(asked) == []


def test_the_readme_says_which_consent_commands_take_json() -> None:
    # "`--json` on each ... but `consent export`": each command shown takes
    # --json unless the sentence says it does not.
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    said, block = readme.split("Purposes, consent and policy versions (", 1)[1].split("```sh\n", 1)
    commands = [
        line.split()[1:3] for line in block.split("```")[0].splitlines() if line.startswith("c")
    ]
    assert ["consent", "export"] in commands and ["purposes", "check"] in commands
    for command in commands:
        excepted = f"but `{' '.join(command)}`" in " ".join(said.split())
        assert ("--json" not in options_of(*command)) == excepted, command


def options_of(*command: str) -> set[str]:
    parser = _parser()
    for word in command:
        [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        parser = commands.choices[word]
    return {option for action in parser._actions for option in action.option_strings}
