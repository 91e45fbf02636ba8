"""consent-vault consent restrict, object, lift and override against a real
server, as a privacy officer reads them at 80 columns: what was done in
words under the limit's whole name (which the next command takes), the
limits under the consent state, JSON for scripts, and every refusal one line
and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vault.cli import main
from vault.core.actor import LOCAL
from vault.core.consent.model import LimitKind
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.server.app import RunningServer


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


def fits(text: str) -> bool:
    return all(len(line) <= 80 for line in text.splitlines())


def said(text: str) -> str:
    """The output's words, its wrapping undone."""
    return " ".join(text.split())


def person(vault: Vault, email: str = "anna@example.se") -> str:
    subject = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, email)], [])
    return f"subjects/{subject.subject_id}"


def test_each_command_says_what_it_did_under_the_limits_whole_name(  # type: ignore[no-untyped-def]
    run, server: RunningServer
) -> None:
    anna = person(server.vault)
    code, out, err = run(
        "restrict", anna, "--reason", "the person contests the accuracy of their address"
    )
    assert code == 0, err
    assert fits(out), out
    restriction = out.splitlines()[0]
    assert restriction.startswith(f"{anna}/restrictions/") and " " not in restriction
    assert out.splitlines()[1] == "  restriction of every purpose recorded"
    assert "reason: the person contests the accuracy of their address" in said(out)
    assert "refused (RESTRICTED) until it is lifted" in said(out)

    code, out, err = run(
        "object", anna, "--purpose", "statistics", "--purpose", "internship_followup",
        "--reason", "letter of 3 December",
    )  # fmt: skip
    assert code == 0, err
    assert fits(out), out
    objection = out.splitlines()[0]
    assert objection.startswith(f"{anna}/objections/")
    assert "objection to statistics, internship_followup recorded" in out
    assert "refused (OBJECTED)" in said(out)

    code, out, err = run("lift", restriction, "--reason", "the address was corrected")
    assert code == 0, err
    assert out.splitlines()[:2] == [restriction, "  restriction of every purpose lifted"]
    assert "reason: the address was corrected" in said(out)
    assert "Now it stops nothing; it stays in the person's history." in said(out)

    code, out, err = run(
        "override", objection, "--reason", "the national agency requires the statistics"
    )
    assert code == 0, err
    assert fits(out), out
    assert out.splitlines()[0] == objection
    assert "overridden by compelling grounds" in out
    assert "overriding grounds recorded on 2026-11-24 09:00 UTC by" in said(out)
    assert said(out).endswith(
        ": the national agency requires the statistics Now it stops nothing; it stays in "
        "the person's history."
    )


def test_lifting_an_objection_records_that_the_person_withdrew_it(  # type: ignore[no-untyped-def]
    run, server: RunningServer, capsys: pytest.CaptureFixture[str]
) -> None:
    anna = person(server.vault)
    subject = anna.removeprefix("subjects/")
    objection = server.vault.record_objection(LOCAL, subject, ["alumni_offers"], "no offers")
    restriction = server.vault.record_restriction(LOCAL, subject, ["statistics"], "contested")
    code, out, err = run("lift", objection.name, "--reason", "her letter of 5 December")
    assert code == 0, err
    assert fits(out), out
    assert out.splitlines()[:2] == [
        objection.name,
        "  objection to alumni_offers withdrawn by the person",
    ]
    assert "withdrawn by the person on 2026-11-24 09:00 UTC, recorded by" in said(out)
    assert "reason: her letter of 5 December" in said(out)
    run("lift", restriction.name, "--reason", "corrected")
    code, out, _ = run("state", anna)
    rest = said(out)
    assert "objection to alumni_offers: withdrawn by the person on 2026-11-24 09:00 UTC" in rest
    assert "restriction of statistics: lifted on 2026-11-24 09:00 UTC" in rest
    # The help says what lifting an objection means.
    with pytest.raises(SystemExit):
        main(["consent", "lift", "--help"])
    assert "the person withdrew their objection" in said(capsys.readouterr().out)


def test_the_consent_state_lists_the_limits_under_the_standing(  # type: ignore[no-untyped-def]
    run, server: RunningServer
) -> None:
    anna = person(server.vault)
    code, out, _ = run("state", anna)
    assert code == 0 and "restriction" not in out and "objection" not in out
    _, restricted, _ = run("restrict", anna, "--purpose", "statistics", "--reason", "contested")
    _, objected, _ = run("object", anna, "--purpose", "alumni_offers", "--reason", "no offers")
    run("lift", restricted.splitlines()[0], "--reason", "settled")
    code, out, err = run("state", anna)
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[1].split() == ["purpose", "standing", "since", "policy", "channel"]
    start = lines.index("1 restriction and 1 objection, 1 in effect")
    assert lines[start - 1] == ""
    # Each name whole on its own line, what it covers and how it stands beneath it.
    assert lines[start + 1] == f"  {restricted.splitlines()[0]}"
    assert lines[start + 2] == "    restriction of statistics: lifted on 2026-11-24 09:00 UTC"
    rest = said("\n".join(lines[start:]))
    assert "reason: contested" in rest and "reason: settled" in rest
    assert f"{objected.splitlines()[0]} objection to alumni_offers: in effect" in rest
    # --json stays the standing per purpose, as scripts read it.
    code, out, _ = run("state", anna, "--json")
    assert code == 0 and all("purpose" in state for state in json.loads(out))


def test_json_gives_the_limit_for_scripts(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    anna = person(server.vault)
    code, out, err = run(
        "object", anna, "--purpose", "statistics", "--reason", "by phone", "--json",
        "--request-id", "object-anna",
    )  # fmt: skip
    assert code == 0, err
    limit = json.loads(out)
    assert (limit["kind"], limit["purposes"], limit["reason"]) == (
        "objection",
        ["statistics"],
        "by phone",
    )
    assert limit["in_effect"] is True and limit["lift_time"] is None
    # The same request id again records nothing new.
    code, again, _ = run(
        "object", anna, "--purpose", "statistics", "--reason", "by phone", "--json",
        "--request-id", "object-anna",
    )  # fmt: skip
    assert code == 0 and json.loads(again) == limit
    assert len(server.vault.limits.of(anna.removeprefix("subjects/"))) == 1


@pytest.mark.parametrize(
    ("args", "exit_code", "starts", "reason"),
    [
        (["restrict", "{anna}"], 2, "error: --reason: say why processing is restricted", ""),
        (["restrict", "{anna}", "--reason", "  "], 2, "error: --reason:", ""),
        (["object", "{anna}", "--reason", "x"], 2, "error: --purpose: name the purposes", ""),
        (["lift", "{restriction}"], 2, "error: --reason: say why it is lifted", ""),
        (["override", "{objection}"], 2, "error: --reason: say why", ""),
        # The server's refusals, naming the option or argument that gave the field.
        (["object", "{anna}", "--purpose", "billing", "--reason", "x"], 1,
         "error: --purpose: billing rests on contract", "INVALID_FIELD"),
        (["object", "{anna}", "--purpose", "customer_surveys", "--reason", "x"], 1,
         "error: --purpose: customer_surveys rests on consent", "INVALID_FIELD"),
        (["restrict", "{anna}", "--purpose", "astrology", "--reason", "x"], 1,
         "error: --purpose: astrology is not", "INVALID_FIELD"),
        (["restrict", "{anna}", "--reason", "a\u202eb"], 1, "error: --reason:", "INVALID_FIELD"),
        (["lift", "{anna}/limits/1", "--reason", "x"], 1, "error: NAME: must be",
         "INVALID_FIELD"),
        (["override", "{restriction}", "--reason", "x"], 1,
         "error: NAME: must be an objection's name", "INVALID_FIELD"),
        (["lift", "{anna}/objections/0123456789abcdef", "--reason", "x"], 1,
         "error: {anna}/objections/0123456789abcdef does not exist",
         "PROCESSING_LIMIT_NOT_FOUND"),
        (["lift", "{lifted}", "--reason", "x"], 1, "error: {lifted} was lifted already",
         "ALREADY_LIFTED"),
        (["override", "{absolute}", "--reason", "x"], 1,
         "error: {absolute} objects to alumni_offers, which is direct marketing",
         "OBJECTION_ABSOLUTE"),
    ],
)  # fmt: skip
def test_every_refusal_is_one_line_and_a_non_zero_exit(  # type: ignore[no-untyped-def]
    run, server: RunningServer, args: list[str], exit_code: int, starts: str, reason: str
) -> None:
    vault = server.vault
    anna = person(vault)
    subject = anna.removeprefix("subjects/")
    names = {
        "anna": anna,
        "restriction": vault.record_restriction(LOCAL, subject, [], "contested").name,
        "objection": vault.record_objection(LOCAL, subject, ["statistics"], "letter").name,
        "absolute": vault.record_objection(LOCAL, subject, ["alumni_offers"], "no").name,
        "lifted": vault.record_restriction(LOCAL, subject, ["statistics"], "x").name,
    }
    lifted = names["lifted"].rsplit("/", 1)[1]
    vault.lift_processing_limit(LOCAL, subject, lifted, LimitKind.RESTRICTION, "done")
    before = vault.limits.of(subject)
    code, out, err = run(*(arg.format(**names) for arg in args))
    assert (code, out) == (exit_code, "")
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(starts.format(**names)), err
    assert f"(reason: {reason})" in err if reason else "(reason:" not in err
    assert vault.limits.of(subject) == before


def test_through_a_pipe_the_state_and_its_limits_have_no_colours(
    server: RunningServer, token: str
) -> None:
    anna = person(server.vault)
    server.vault.record_objection(LOCAL, anna.removeprefix("subjects/"), ["statistics"], "letter")
    result = subprocess.run(
        [sys.executable, "-m", "vault.cli", "--server", f"127.0.0.1:{server.port}",
         "consent", "state", anna],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", "CONSENT_VAULT_TOKEN": token},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and fits(result.stdout)
    assert "0 restrictions and 1 objection, 1 in effect" in result.stdout
