"""consent-vault purposes list against a real server (each purpose with its
legal basis in words, its description in English or Swedish, categories and
systems, at 80 columns and through a pipe), and purposes check on the
record database with no server: records written behind the vault's back
for a purpose not configured, or on a basis the purpose does not rest on,
are listed with their count and the reason (and with --records, each by its
name), nothing is changed, and the exit code says whether any were found."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_cli_consent import fits, piped
from tests.storage.records_contract import record_row
from vault.cli import main
from vault.cli import purposes as purposes_cli
from vault.core.actor import LOCAL
from vault.core.consent import usage
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis
from vault.core.vault import IdentityInput, Vault
from vault.server.app import RunningServer


# ------------------------------------------------------------------ list
@pytest.fixture
def listed(server: RunningServer, token: str, capsys: pytest.CaptureFixture[str], monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", "purposes", "list", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def sections(out: str) -> dict[str, list[str]]:
    """Each purpose's lines under its name, continuation lines joined to their fact."""
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        if line and not line.startswith(" "):
            found[line] = []
        elif line.startswith("   "):
            found[list(found)[-1]][-1] += " " + line.strip()
        elif line:
            found[list(found)[-1]].append(" ".join(line.split()))
    return found


def test_every_purpose_with_its_basis_in_words_at_80_columns(listed, server: RunningServer) -> None:  # type: ignore[no-untyped-def]
    code, out, err = listed()
    assert code == 0, err
    assert fits(out), out
    found = sections(out)
    assert list(found) == sorted(p.name for p in server.vault.purposes)
    assert found["bookkeeping"][0] == "legal basis legal obligation (GDPR art. 6(1)(c))"
    assert found["marketing_email"] == [
        "legal basis consent (GDPR art. 6(1)(a))",
        "description Marketing and newsletters by e-mail",
        "categories contact, marketing",
        "systems website, vault",
        "marketing direct marketing: an objection to it is absolute (art. 21(3))",
        "changes material: consent given before a change must be given again",
    ]
    assert "changes not material, unless a policy version says so" in found["customer_surveys"]
    assert "also serves grading, statistics" in found["course_delivery"]
    # Only a purpose resting on consent says what a change does to it.
    assert not any(fact.startswith("changes") for fact in found["course_delivery"])

    code, out, _ = listed("--language", "sv")
    assert code == 0 and fits(out)
    assert (
        "description Marknadsföring och nyhetsbrev per e-post" in sections(out)["marketing_email"]
    )

    code, out, _ = listed("--json")
    purposes = {p["name"]: p for p in json.loads(out)}
    assert purposes["marketing_email"]["legal_basis"] == "consent"
    assert purposes["marketing_email"]["description"]["sv"].startswith("Marknadsföring")


def test_the_language_is_a_tag_in_any_case_that_the_descriptions_have(listed) -> None:  # type: ignore[no-untyped-def]
    _, swedish, _ = listed("--language", "sv")
    for tag in ("SV", " Sv "):
        assert listed("--language", tag) == (0, swedish, "")
    assert listed("--language", "EN")[1] == listed()[1] != swedish

    # A language no purpose is described in: one line that says which there are, exit 2.
    for tag in ("fr", "svenska", ""):
        for more in ([], ["--json"]):
            code, out, err = listed("--language", tag, *more)
            assert (code, out) == (2, "")
            assert err == (
                f"error: --language: no purpose is described in {tag!r} "
                "(they are described in en, sv)\n"
            )


def test_the_list_through_a_pipe(server: RunningServer, token: str) -> None:
    result = piped(server, token, "purposes", "list")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and fits(result.stdout)
    assert "legal basis  consent (GDPR art. 6(1)(a))" in result.stdout


# ----------------------------------------------------------------- check
@pytest.fixture
def place(data_dir: Path, engine: str | None) -> list[str]:
    """The options that name the vault the `vault` fixture opened."""
    return ["--data-dir", str(data_dir), *(["--database", engine] if engine else [])]


@pytest.fixture
def check(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["purposes", "check", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def behind_its_back(vault: Vault, *rows: tuple[str, LegalBasis, str]) -> str:
    """Records of a new subject written with the store itself, as an earlier
    release (or a hand) may have written them: no purpose is checked. The
    subject's name; the records' ids are old0, old1, ... in the order given."""
    subject = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "old@example.se")], [])
    with vault.records.write() as tx:
        tx.records.insert_records(
            [
                dataclasses.replace(
                    record_row(f"old{n}", subject.subject_id),
                    purpose=purpose,
                    legal_basis=basis,
                    source_system=system,
                )
                for n, (purpose, basis, system) in enumerate(rows)
            ]
        )
    return f"subjects/{subject.subject_id}"


def test_a_clean_database_exits_0(check, vault: Vault, place: list[str]) -> None:  # type: ignore[no-untyped-def]
    code, out, err = check(*place)
    assert code == 0, err
    # What was found, found or not, on stderr, wrapped at words to 80 columns.
    assert not out
    assert fits(err) and err.count("\n") == 2, err
    assert " ".join(err.split()) == (
        "0 records checked against the purposes of the shipped school_purposes.toml: "
        "every one's purpose is configured, on its legal basis"
    )
    behind_its_back(
        vault,
        ("course_delivery", LegalBasis.CONTRACT, "lms"),
        ("bookkeeping", LegalBasis.LEGAL_OBLIGATION, "accounting"),
    )
    code, out, err = check(*place)
    assert code == 0 and not out
    assert err.startswith("2 records checked")
    code, out, err = check(*place, "--json")
    assert code == 0 and json.loads(out) == [] and err.startswith("2 records checked")


def test_records_for_a_purpose_not_configured_or_on_another_basis_are_listed_and_exit_1(  # type: ignore[no-untyped-def]
    check, vault: Vault, place: list[str]
) -> None:
    behind_its_back(
        vault,
        ("course_delivery", LegalBasis.CONTRACT, "lms"),
        ("newsletter_2019", LegalBasis.CONSENT, "crm"),
        ("newsletter_2019", LegalBasis.CONSENT, "crm"),
        ("grading", LegalBasis.PUBLIC_TASK, "lms"),
    )
    before = vault.records.records.purpose_usage()

    code, out, err = check(*place)
    assert code == 1
    assert fits(out), out
    lines = out.splitlines()
    assert lines[0].split() == ["purpose", "legal", "basis", "system", "records"]
    assert lines[1].split() == ["grading", "public", "task", "lms", "1"]
    assert lines[2].startswith("  grading rests on legal obligation")
    said = " ".join(out.split())
    assert (
        "grading rests on legal obligation (GDPR art. 6(1)(c)), not public task "
        "(GDPR art. 6(1)(e))" in said
    )
    assert "newsletter_2019 consent crm 2 newsletter_2019 is not a configured purpose" in said
    assert "course_delivery" not in out
    # The records are counted, not named, unless --records asks.
    assert "subjects/" not in out
    assert fits(err) and err.count("\n") == 2, err
    assert " ".join(err.split()) == (
        "3 records of 4 not allowed by the purposes of the shipped "
        "school_purposes.toml; nothing was changed: configure the purpose, or rectify or "
        "erase the records"
    )
    # Nothing was changed.
    assert vault.records.records.purpose_usage() == before

    code, out, err = check(*place, "--json")
    assert code == 1
    assert json.loads(out) == [
        {
            "purpose": "grading",
            "legal_basis": "public_task",
            "source_system": "lms",
            "records": 1,
            "problem": "legal_basis_contradicts",
            "reason": "grading rests on legal obligation (GDPR art. 6(1)(c)), "
            "not public task (GDPR art. 6(1)(e))",
        },
        {
            "purpose": "newsletter_2019",
            "legal_basis": "consent",
            "source_system": "crm",
            "records": 2,
            "problem": "purpose_not_configured",
            "reason": "newsletter_2019 is not a configured purpose",
        },
    ]


def test_with_records_each_record_is_named_under_its_use(  # type: ignore[no-untyped-def]
    check, vault: Vault, place: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    subject = behind_its_back(
        vault,
        ("newsletter_2019", LegalBasis.CONSENT, "crm"),
        ("course_delivery", LegalBasis.CONTRACT, "lms"),
        ("grading", LegalBasis.PUBLIC_TASK, "lms"),
        ("newsletter_2019", LegalBasis.CONSENT, "crm"),
    )
    before = vault.records.records.purpose_usage()
    _, plain, plain_err = check(*place)

    code, out, err = check(*place, "--records")
    assert code == 1
    assert err == plain_err
    lines = out.splitlines()
    names = [line for line in lines if line.startswith("  subjects/")]
    # Every name whole on a line of its own, by record id, beneath its use's
    # line and reason; the rest are the plain check's lines, in their order.
    assert names == [f"  {subject}/records/{r}" for r in ("old2", "old0", "old3")]
    assert [line for line in lines if line not in names] == plain.splitlines()
    assert lines[lines.index(names[0]) + 1].startswith("newsletter_2019 ")
    assert lines[lines.index(names[0]) - 1].endswith("art. 6(1)(e))")  # the reason's end
    assert lines[-2:] == names[1:]
    assert lines[-3] == "  newsletter_2019 is not a configured purpose"
    assert f"{subject}/records/old1" not in out
    assert vault.records.records.purpose_usage() == before

    # Read a page at a time: a page of one, or of exactly a use's records, names the same.
    for page in (1, 2):
        monkeypatch.setattr(usage, "RECORDS_PAGE", page)
        assert check(*place, "--records") == (1, out, err)

    # Streamed: each page's names are printed before the next page is read.
    said: list[str] = []
    records_of = usage.records_of

    class Reads:
        """The store's reads, noting each page of names asked for."""

        def __init__(self, reads: usage.PurposeUsageReads) -> None:
            self.reads = reads

        def purpose_usage(self) -> list[tuple[str, LegalBasis, str, int]]:
            return self.reads.purpose_usage()

        def records_using(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
            said.append("read")
            return self.reads.records_using(*args, **kwargs)

    monkeypatch.setattr(usage, "records_of", lambda reads, use: records_of(Reads(reads), use))
    monkeypatch.setattr(purposes_cli, "_line", lambda text: said.append(text.strip()))
    monkeypatch.setattr(usage, "RECORDS_PAGE", 1)
    assert check(*place, "--records")[0] == 1
    old0, old2, old3 = (f"{subject}/records/{r}" for r in ("old0", "old2", "old3"))
    # (The reasons go through the reports' own printing, not seen here.)
    assert said[2:] == ["read", old2, "read", said[5], "read", old0, "read", old3, "read"]
    assert said[1].startswith("grading ") and said[5].startswith("newsletter_2019 ")

    code, out, _ = check(*place, "--records", "--json")
    assert code == 1
    uses = json.loads(out)
    # `records` stays the count; the names are beside it.
    assert [(use["purpose"], use["records"], use["record_names"]) for use in uses] == [
        ("grading", 1, [f"{subject}/records/old2"]),
        ("newsletter_2019", 2, [f"{subject}/records/old0", f"{subject}/records/old3"]),
    ]
    code, out, _ = check(*place, "--json")
    assert code == 1 and not any("record_names" in use for use in json.loads(out))


def test_the_purposes_of_the_servers_configuration(  # type: ignore[no-untyped-def]
    check, vault: Vault, place: list[str], tmp_path: Path
) -> None:
    behind_its_back(vault, ("newsletter_2019", LegalBasis.CONSENT, "crm"))
    (tmp_path / "purposes.toml").write_text(
        "[purposes.newsletter_2019]\n"
        'description.en = "The newsletter of 2019"\n'
        'legal_basis = "consent"\n'
        'categories = ["contact"]\n'
        'systems = ["crm"]\n'
    )
    config = tmp_path / "vault.toml"
    config.write_text('[purposes]\nfile = "purposes.toml"\n')
    code, out, err = check(*place, "--config", str(config))
    assert code == 0, err
    assert " ".join(err.split()).startswith(
        f"1 record checked against the purposes of {tmp_path / 'purposes.toml'}"
    )

    config.write_text('[purposes]\nfile = "missing.toml"\n')
    code, out, err = check(*place, "--config", str(config))
    assert code == 2 and not out and err.startswith("error: [purposes] file: ")
    assert err.count("\n") == 1


def test_no_vault_there_is_one_line_and_nothing_is_made(check, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "nothing-here"
    code, out, err = check("--data-dir", str(empty))
    assert code == 2 and not out
    assert err.startswith("error: no vault there") and err.count("\n") == 1
    assert not empty.exists()


@pytest.mark.sqlite_only("runs the command in a process of its own on the data directory")
def test_check_through_a_pipe(vault: Vault, data_dir: Path) -> None:
    behind_its_back(vault, ("newsletter_2019", LegalBasis.CONSENT, "crm"))
    result = subprocess.run(
        [sys.executable, "-m", "vault.cli", "purposes", "check", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert result.returncode == 1, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "newsletter_2019 is not a configured purpose" in result.stdout
    # The summary alone on stderr, wrapped at 80 columns as the list is.
    assert fits(result.stderr) and result.stderr.count("\n") == 2, result.stderr
    assert " ".join(result.stderr.split()).startswith("1 record of 1 not allowed")
    assert "Traceback" not in result.stderr
