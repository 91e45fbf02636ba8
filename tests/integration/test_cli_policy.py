"""consent-vault policy publish, list and affected against a real server, as
a privacy officer reads them at 80 columns and through a pipe: the version
and the purposes it changed materially, the versions, and the people who
must consent again, streamed, with their count last on stderr; bad input one
line and a non-zero exit, never a traceback."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.integration.test_cli_consent import fits, given, person, piped, publish
from vault.cli import main
from vault.core.actor import LOCAL
from vault.core.clock import FixedClock
from vault.server.app import RunningServer


@pytest.fixture
def run(server: RunningServer, token: str, capsys: pytest.CaptureFixture[str], monkeypatch):  # type: ignore[no-untyped-def]
    """The CLI against the server, at 80 columns, as a privacy officer."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", "policy", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


# --------------------------------------------------------------- publish
def test_publishing_prints_the_version_and_what_changed_materially(  # type: ignore[no-untyped-def]
    run, server: RunningServer, tmp_path: Path
) -> None:
    text = tmp_path / "policy-2026-02.txt"
    text.write_text("Integritetspolicy, version 2026-02.\n", encoding="utf-8")
    code, out, err = run(
        "publish", "2026-02", "--effective", "2026-12-01", "--text-file", str(text),
        "--changed", "marketing_email", "--changed", "customer_surveys",
        "--material", "marketing_sms",
        "--summary", "The newsletter is now sent by a partner, who sees your e-mail address "
        "and nothing else; surveys are shorter.",
    )  # fmt: skip
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0] == "policy 2026-02 published, effective from 2026-12-01"
    facts = {
        line.split()[0]: line for line in lines[1:] if line.startswith("  ") and line[2] != " "
    }
    # marketing_email is material by its configuration, marketing_sms named so;
    # customer_surveys' changes are not material by its configuration.
    assert facts["material"].split()[1:] == ["marketing_email,", "marketing_sms"]
    assert "not material  customer_surveys" in out
    digest = hashlib.sha256(text.read_bytes()).hexdigest()
    assert f"text SHA-256  {digest}" in out
    assert "policy affected" in " ".join(out.split())
    [published] = server.vault.policies.versions()
    assert published.text == text.read_text() and published.material_purposes == (
        "marketing_email",
        "marketing_sms",
    )

    code, out, err = run(
        "publish", "2026-03", "--effective", "2026-12-01",
        "--sha256", "ab" * 32, "--url", "https://skolan.example.se/integritet/2026-03", "--json",
    )  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["version"] == "2026-03" and answer["effective_date"] == "2026-12-01"
    assert answer["text_sha256"] == "ab" * 32 and answer["material_purposes"] == []


def test_publishing_the_same_request_again_publishes_once(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    options = ["--effective", "2026-12-01", "--sha256", "cd" * 32, "--url", "https://x.example/p"]
    for _ in range(2):
        code, _, err = run("publish", "2026-02", *options, "--request-id", "publish-2026-02")
        assert code == 0, err
    assert [v.version for v in server.vault.policies.versions()] == ["2026-02"]
    code, out, err = run("publish", "2026-02", *options)
    assert code == 1 and not out and err.count("\n") == 1 and "POLICY_VERSION_EXISTS" in err


@pytest.mark.parametrize(
    ("options", "starts"),
    [
        (["--effective", "1 December", "--sha256", "ab" * 32, "--url", "https://x.example/p"],
         "error: --effective: '1 December' is not a date"),
        (["--effective", "2026-02-30", "--sha256", "ab" * 32, "--url", "https://x.example/p"],
         "error: --effective: '2026-02-30' is not a date"),
        (["--effective", "2026-12-01", "--sha256", "ab" * 32], "error: --url: "),
        (["--effective", "2026-12-01"], "error: --text-file: "),
        (["--effective", "2026-12-01", "--text-file", "/no/such/file"],
         "error: --text-file: /no/such/file cannot be read"),
        # The server's refusals, naming the option that gave the field.
        (["--effective", "2026-12-01", "--sha256", "not hex", "--url", "https://x.example/p"],
         "error: --sha256"),
        (["--effective", "2026-12-01", "--sha256", "ab" * 32, "--url", "https://x.example/p",
          "--changed", "astrology"], "error: --changed"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_a_non_zero_exit(  # type: ignore[no-untyped-def]
    run, server: RunningServer, options: list[str], starts: str
) -> None:
    code, out, err = run("publish", "2026-02", *options)
    assert code != 0 and not out
    assert err.startswith(starts), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert server.vault.policies.versions() == []


# ------------------------------------------------------------------ list
def test_the_versions_in_the_order_published(run, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("list")
    assert code == 0 and out == "no policy versions published\n", err
    publish(server.vault, "2026-01")
    publish(server.vault, "2026-02", "marketing_email")
    code, out, err = run("list")
    assert code == 0, err
    assert fits(out)
    headings = [line for line in out.splitlines() if not line.startswith(" ")]
    assert headings == ["2026-01  effective from 2026-11-24", "2026-02  effective from 2026-11-24"]
    assert out.count("  material      ") == 2 and "marketing_email" in out
    code, out, _ = run("list", "--json")
    assert [v["version"] for v in json.loads(out)] == ["2026-01", "2026-02"]


# -------------------------------------------------------------- affected
def test_the_people_who_must_consent_again_with_their_count_last(  # type: ignore[no-untyped-def]
    run, server: RunningServer, clock: FixedClock
) -> None:
    vault = server.vault
    code, out, err = run("affected")
    assert code == 0 and not out and err == "nobody must consent again\n"

    publish(vault, "2026-01")
    anna, bo, cia = (person(vault, f"{who}@example.se") for who in ("anna", "bo", "cia"))
    given(vault, anna, "marketing_email", "marketing_sms")
    given(vault, bo, "marketing_email", "model_bank")
    given(vault, cia, "model_bank")
    clock.advance(days=1)
    publish(vault, "2026-02", "marketing_email", "marketing_sms")

    code, out, err = run("affected")
    assert code == 0, err
    assert fits(out), out
    lines = out.splitlines()
    firsts = [line.split() for line in lines if not line.startswith(" ")]
    assert sorted(firsts) == sorted(
        [[anna, "marketing_email"], [anna, "marketing_sms"], [bo, "marketing_email"]]
    )
    assert lines[1] == (
        "  consented 2026-11-24 under policy 2026-01; policy 2026-02 changed the purpose"
    )
    assert err == "2 people must consent again (3 consents)\n"

    code, out, err = run("affected", "--purpose", "marketing_sms", "--json")
    assert code == 0, err
    [row] = [json.loads(line) for line in out.splitlines()]
    assert row == {
        "subject": anna,
        "purpose": "marketing_sms",
        "given_under_version": "2026-01",
        "changed_by_version": "2026-02",
        "consent_time": "2026-11-24T09:00:00+00:00",
    }
    assert err == "1 person must consent again\n"

    code, out, err = run("affected", "--purpose", "astrology")
    assert code == 1 and not out
    assert err.startswith("error: --purpose") and err.count("\n") == 1


def test_affected_through_a_pipe(server: RunningServer, token: str) -> None:
    vault = server.vault
    publish(vault, "2026-01")
    for n in range(30):
        given(vault, person(vault, f"p{n}@example.se"), "marketing_post")
    publish(vault, "2026-02", "marketing_post")
    result = piped(server, token, "policy", "affected")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert result.stdout.count("subjects/") == 30 and fits(result.stdout)
    assert result.stderr == "30 people must consent again\n"
    assert len(list(vault.stream_reconsent_needed(LOCAL, ""))) == 30
