"""consent-vault import against a real server: people from a JSON Lines file,
in batches each stored all or nothing, bad lines named by number."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from vault.cli import imports, main
from vault.server.app import RunningServer
from vault_client import VaultClient


@pytest.fixture
def run(
    server: RunningServer,
    token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)  # a privacy officer's

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


@pytest.fixture
def client(server: RunningServer, token: str):
    with VaultClient(f"127.0.0.1:{server.port}", token=token) as opened:
        yield opened


def line(n: int, category: str = "contact") -> str:
    return json.dumps(
        {
            "identities": [
                {"kind": "email", "value": f"Line{n}@example.se"},
                {"kind": "external_id", "system": "lms", "value": f"l{n}"},
            ],
            "roles": ["student"],
            "protected": n == 2,
            "records": [
                {
                    "category": category,
                    "purpose": "course_delivery",
                    "legal_basis": "contract",
                    "source_system": "lms",
                    "fields": {"city": "Malmö", "n": n},
                },
                {
                    "category": "student.grading",
                    "purpose": "grading",
                    "legal_basis": "legal_obligation",
                    "source_system": "lms",
                },
            ],
        },
        ensure_ascii=False,
    )


def held(client: VaultClient, n: int) -> bool:
    try:
        client.find_subject("external_id", f"l{n}", "lms")
    except Exception:
        return False
    return True


def test_a_file_of_people_is_imported_with_their_records(
    run, client: VaultClient, tmp_path: Path
) -> None:
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join([line(n) for n in range(1, 4)] + ["", line(4)]) + "\n")
    code, out, err = run("import", str(people), "--batch", "2")
    # Through a pipe: no bar, one summary line.
    assert (code, err) == (0, "")
    assert out == f"imported 4 people with 8 records from {people}\n"
    anna = client.find_subject("email", "LINE2@example.se")
    assert anna.roles == ["student"] and anna.protected_identity
    assert [r.fields for r in client.list_records(anna.name, "contact")] == [
        {"city": "Malmö", "n": 2.0}
    ]

    again = tmp_path / "more.jsonl"
    again.write_text(line(5) + "\n")
    code, out, _ = run("import", str(again), "--json")
    names = json.loads(out)["subjects"]
    assert code == 0 and names == [client.find_subject("external_id", "l5", "lms").name]


def test_a_bad_line_is_named_and_nothing_of_its_batch_is_stored(
    run, client: VaultClient, tmp_path: Path
) -> None:
    lines = [line(n) for n in range(1, 10)]
    lines[6] = line(7, category="Not A Category")  # line 8 of the file, after a blank one
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join([*lines[:3], "", *lines[3:]]) + "\n")
    code, out, err = run("import", str(people), "--batch", "3")
    assert code == 1 and out == ""
    assert err.startswith("error: line 8: records[0].category: must be ")
    assert "(reason: INVALID_FIELD)" in err
    assert "nothing of its batch (lines 8-10) was stored; lines 1-7 were (6 people)." in err
    assert [held(client, n) for n in range(1, 10)] == [True] * 6 + [False] * 3
    request_id = re.search(r"--request-id (\S+):", err)[1]  # type: ignore[index]

    # Fixed, and run again with the id it printed: the rest is stored, and
    # the batches stored the first time are not stored twice.
    lines[6] = line(7)
    people.write_text("\n".join([*lines[:3], "", *lines[3:]]) + "\n")
    code, out, err = run("import", str(people), "--batch", "3", "--request-id", request_id)
    assert (code, err) == (0, "")
    assert out.startswith("imported 9 people with 18 records")
    assert all(held(client, n) for n in range(1, 10))

    # Without it, the people stored already are refused as CreateSubject refuses them.
    code, _, err = run("import", str(people), "--batch", "3")
    assert code == 1 and err.startswith("error: line 1: identities[0]: already belongs")
    assert "IDENTITY_IN_USE" in err


def test_lines_that_are_not_people_are_listed_and_nothing_is_sent(
    run, client: VaultClient, tmp_path: Path
) -> None:
    people = tmp_path / "people.jsonl"
    unknown_kind = line(3).replace('"email"', '"mail"')
    people.write_text("\n".join([line(1), '{"identities": [', unknown_kind, "[]", line(5)]) + "\n")
    code, out, err = run("import", str(people))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: line 2: not JSON (Expecting value at column 17)",
        "error: line 3: identities[0].kind: must be one of personnummer, email, phone, external_id",
        "error: line 4: the line: must be a JSON object",
        f"nothing was imported from {people}",
    ]
    assert not held(client, 1) and not held(client, 5)


def test_the_help_says_the_files_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["import", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert '"identities": [{"kind": "personnummer"' in text and "--request-id" in text
    assert max(len(row) for row in text.splitlines()) <= 80


def test_in_a_terminal_the_bar_fits_80_columns_and_goes(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    monkeypatch.setattr(imports, "errors", Console(file=screen, force_terminal=True, width=80))
    people = tmp_path / "people.jsonl"
    people.write_text("\n".join(line(n) for n in range(1, 7)) + "\n")
    code, out, _ = run("import", str(people), "--batch", "2")
    assert code == 0 and out.startswith("imported 6 people")
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    frames = [frame for frame in re.split(r"[\r\n]", drawn) if frame.strip()]
    assert frames and all("importing" in frame for frame in frames)
    assert any("6/6" in frame for frame in frames)
    assert max(len(frame) for frame in frames) <= 80
