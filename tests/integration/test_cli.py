"""The consent-vault command against a real server."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest

from vault import demo
from vault.cli import main
from vault.core.vault import Vault
from vault.server.app import RunningServer


@pytest.fixture
def run(server: RunningServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--server", f"127.0.0.1:{server.port}", *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return invoke


def test_register_store_export_and_erase(run, tmp_path: Path) -> None:
    code, out, _ = run(
        "subject",
        "create",
        "--pnr",
        "811218-9876",
        "--email",
        "Anna@Example.se",
        "--role",
        "student",
    )
    assert code == 0 and "198112189876" in out
    name = re.search(r"subjects/[0-9a-f]+", out)[0]  # type: ignore[index]

    code, out, _ = run("subject", "find", "--email", "ANNA@example.se")
    assert code == 0 and name in out

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG-test")
    code, out, err = run(
        "record",
        "put",
        name,
        "--category",
        "media",
        "--purpose",
        "distance_assignment",
        "--basis",
        "contract",
        "--source",
        "lms",
        "--field",
        "assignment=3",
        "--file",
        str(photo),
        "--media-type",
        "image/png",
    )
    assert code == 0, err
    record_name = out.strip()
    code, out, _ = run("record", "get", record_name)
    assert code == 0 and json.loads(out)["fields"] == {"assignment": "3"}
    code, out, _ = run("record", "list", name)
    assert code == 0 and "media" in out

    archive = tmp_path / "anna.zip"
    code, out, _ = run("export", name, "-o", str(archive))
    assert code == 0 and "1 vault records" in out
    with zipfile.ZipFile(archive) as opened:
        assert b"\x89PNG-test" in [
            opened.read(n) for n in opened.namelist() if n.startswith("content/")
        ]

    code, out, err = run("erase", name)  # stdin is not a terminal: refuses without --yes
    assert code == 2 and "--yes" in err
    code, out, _ = run("erase", name, "--yes")
    assert code == 0 and "completed" in out and "removed" in out
    code, out, err = run("subject", "show", name)
    assert code == 1 and "SUBJECT_ERASED" in err


def test_client_mistakes_are_one_clear_line(run) -> None:
    code, _, err = run("subject", "create", "--email", "not-an-email")
    assert code == 1 and "identities[0].value" in err and "INVALID_ARGUMENT" in err
    code, _, err = run("subject", "show", "nonsense")
    assert code == 1 and "subjects/{subject}" in err
    assert "Traceback" not in err


def test_demo_seed_is_idempotent(vault: Vault) -> None:
    assert demo.seed(vault) == len(demo.PEOPLE)
    assert demo.seed(vault) == 0
    protected = [p for p in demo.PEOPLE if p[2]]
    assert protected, "the demo has a person with a protected identity"
    events = list(vault.export_subject(vault.find_subject(demo.PEOPLE[0][0][0]).subject_id))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    assert len(json.loads(archive.read("export.json"))["records"]) == len(demo.PEOPLE[0][3])
