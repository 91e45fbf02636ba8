"""The README's own example registers someone new: no identity it uses is held
by a demo person, in the vault's demo or in any stand-in system. Otherwise
exporting or erasing the example's person would reach that person's data.
And the examples of "Try it" run as written against the demo, its token
included."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from vault import demo
from vault.connectors.base import normal_form
from vault.core.identities import Identity, IdentityKind
from vault.settings import DATA_DIR_ENV
from vault_client.credentials import TLS_CA_ENV, TOKEN_ENV, TOKEN_FILE_ENV
from vault_standins.people import DEMO_PEOPLE

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
KINDS = {
    "pnr": IdentityKind.PERSONNUMMER,
    "personnummer": IdentityKind.PERSONNUMMER,
    "email": IdentityKind.EMAIL,
    "phone": IdentityKind.PHONE,
}


def _example_identities() -> list[tuple[IdentityKind, str]]:
    """Every identity the README registers: `subject create` options, and the
    Python client's `create_subject([Identity(...)])`."""
    found = []
    for line in README.splitlines():
        if "subject create" in line:
            found += [(KINDS[k], v) for k, v in re.findall(r"--(pnr|email|phone) (\S+)", line)]
        if "create_subject(" in line:
            found += [
                (KINDS[k], v)
                for k, v in re.findall(r'Identity\("(personnummer|email|phone)", "([^"]+)"\)', line)
            ]
    return found


def _held_by_demo_people() -> set[Identity]:
    held = set()
    for person in DEMO_PEOPLE:
        for kind, value in (
            (IdentityKind.PERSONNUMMER, person.personnummer),
            (IdentityKind.EMAIL, person.email),
            (IdentityKind.PHONE, person.phone),
        ):
            held.add(normal_form(kind, value))
    for vault_person in demo.PEOPLE:
        for identity in vault_person.identities:
            held.add(normal_form(identity.kind, identity.value, identity.system))
    held.discard(None)
    return held  # type: ignore[return-value]


def test_the_readme_registers_someone_with_valid_identities() -> None:
    example = _example_identities()
    assert {kind for kind, _ in example} >= {IdentityKind.PERSONNUMMER, IdentityKind.EMAIL}
    invalid = [value for kind, value in example if normal_form(kind, value) is None]
    assert invalid == []


def test_the_readme_example_is_no_demo_person() -> None:
    held = _held_by_demo_people()
    assert len(held) > 10, "the demo people's identities were read"
    clashes = [value for kind, value in _example_identities() if normal_form(kind, value) in held]
    assert clashes == []


# ------------------------------------------- the examples, run as written
def _code_blocks(section: str) -> list[tuple[str, str]]:
    """The fenced blocks of the README's `## section`, as (language, text)."""
    body = README.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", body, flags=re.DOTALL)


def _commands(block: str) -> list[str]:
    """The block's commands, each line continued with `\\` joined to it."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_every_example_call_to_the_vault_carries_the_demos_token() -> None:
    calls = [
        line
        for language, block in _code_blocks("Try it")
        if language == "sh"
        for line in _commands(block)
        if line.startswith(("grpcurl", "buf curl")) and "vault.v1." in line
    ]
    assert len(calls) >= 2, "the README's grpcurl and buf curl examples were read"
    header = '-H "authorization: Bearer $(cat vault-data/tokens/privacy_officer.token)"'
    assert [line for line in calls if header not in line] == []


@pytest.mark.slow
def test_the_try_it_examples_run_as_written_against_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make run`'s demo, then the README's commands from where it runs, with
    nothing but the server's address changed: the CLI takes the demo's token."""
    from tests.processes import ServerProcess
    from vault.cli import main

    for name in (TOKEN_ENV, TOKEN_FILE_ENV, TLS_CA_ENV, DATA_DIR_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    server = ServerProcess(None, extra_args=("--demo",), cwd=tmp_path)
    monkeypatch.setenv("CONSENT_VAULT_SERVER", server.address)
    blocks = _code_blocks("Try it")
    try:
        # The first block: register Eva, give her a record, export and erase her.
        eva = ""
        for line in _commands(blocks[0][1]):
            if line.startswith(". "):  # activating the venv: this test runs in it
                continue
            words = [eva if w == "subjects/<id>" else w for w in shlex.split(line, comments=True)]
            code = main(words[1:])
            out, err = capsys.readouterr()
            assert code == 0, (line, err)
            if "subject create" in line:
                eva = re.findall(r"subjects/[0-9a-f]+", out)[0]
        assert eva and (tmp_path / "eva.zip").exists()

        # The import: the block as a shell runs it, the CLI from this environment.
        importing = next(b for lang, b in blocks if lang == "sh" and "people.jsonl" in b)
        environ = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "-ec", importing], cwd=tmp_path, env=environ, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert "2 people" in done.stdout, done.stdout

        # buf curl, with the header as written.
        [curl] = [c for _, b in blocks for c in _commands(b) if c.startswith("buf curl")]
        done = subprocess.run(
            ["bash", "-ec", curl.replace("127.0.0.1:50051", server.address)],
            cwd=tmp_path,
            env=environ,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["subject"]["name"].startswith("subjects/")

        # The Python example: Eva again (she was erased above), with the demo's token file.
        [python] = [b for lang, b in blocks if lang == "python"]
        exec(compile(python.replace("127.0.0.1:50051", server.address), "README.md", "exec"), {})
        assert "erased everywhere: completed" in capsys.readouterr().out
    finally:
        server.close()
