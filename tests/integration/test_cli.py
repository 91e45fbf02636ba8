"""The consent-vault command against a real server."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import socket
import subprocess
import sys
import zipfile
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from vault import demo
from vault.cli import main
from vault.core.actor import LOCAL
from vault.core.vault import Vault
from vault.keyring import Keyring, write_keyring
from vault.reports.archive import export_archive
from vault.server.app import RunningServer


@pytest.fixture
def run(
    server: RunningServer,
    token: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("COLUMNS", "200")
    # A privacy officer's, as a user of the CLI would give it.
    monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)

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
    # An error names what the user gave whole, not the bare id of its end.
    missing = f"{name}/records/{'0' * 32}"
    code, _, err = run("record", "get", missing)
    assert code == 1 and f"record {missing} does not exist" in err, err
    code, _, err = run("requests", "show", f"erasureRequests/{'0' * 32}")
    assert code == 1 and f"erasure request erasureRequests/{'0' * 32} does not" in err, err
    code, out, _ = run("record", "list", name)
    assert code == 0 and "media" in out

    archive = tmp_path / "anna.zip"
    code, out, _ = run("export", name, "-o", str(archive))
    assert code == 0 and "1 vault record," in out
    with zipfile.ZipFile(archive) as opened:
        assert b"\x89PNG-test" in [
            opened.read(n) for n in opened.namelist() if n.startswith("content/")
        ]

    code, out, err = run("erase", name)  # stdin is not a terminal: refuses without --yes
    assert code == 2 and "--yes" in err
    code, out, _ = run("erase", name, "--yes", "--no-wait")
    request = out.splitlines()[0]
    assert code == 0 and request.startswith("erasureRequests/")
    assert out.splitlines()[-1] == (
        f"It goes on at the server; follow it with `consent-vault requests show {request}`"
    )
    code, out, _ = run("erase", name, "--yes")
    assert code == 0 and "completed" in out and "removed" in out
    assert "follow it with" not in out
    code, out, err = run("subject", "show", name)
    assert code == 1 and "SUBJECT_ERASED" in err


def test_client_mistakes_are_one_clear_line(run) -> None:
    code, _, err = run("subject", "create", "--email", "not-an-email")
    # The option the user typed, not the API's field; the stable reason kept.
    assert code == 1 and err.startswith("error: --email: ") and "identities[0]" not in err
    assert "(reason: INVALID_FIELD)" in err
    code, _, err = run("subject", "show", "nonsense")
    assert code == 1 and "subjects/{subject}" in err
    assert "Traceback" not in err


def test_demo_seed_is_idempotent(vault: Vault) -> None:
    assert demo.seed(vault) == len(demo.PEOPLE)
    assert demo.seed(vault) == 0
    protected = [p for p in demo.PEOPLE if p[2]]
    assert protected, "the demo has a person with a protected identity"
    export = vault.export_subject(LOCAL, vault.find_subject(LOCAL, demo.PEOPLE[0][0][0]).subject_id)
    events = list(export_archive(export))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    assert len(json.loads(archive.read("export.json"))["records"]) == len(demo.PEOPLE[0][3])


# ------------------------------------------------ what a person copies
@pytest.fixture
def narrow(run, monkeypatch: pytest.MonkeyPatch):
    """The CLI at 80 columns, its output captured: as in a small terminal or a pipe."""
    monkeypatch.setenv("COLUMNS", "80")
    return run


def _subject_with_a_record(run) -> tuple[str, str]:
    code, out, err = run("subject", "create", "--email", "whole@example.se")
    assert code == 0, err
    name = out.splitlines()[0]
    code, out, err = run(
        "record",
        "put",
        name,
        "--category",
        "notes",
        "--purpose",
        "salon_booking",
        "--basis",
        "contract",
        "--source",
        "salon",
        "--field",
        "colour_recipe=7.1",
    )
    assert code == 0, err
    return name, out.strip()


def test_listings_print_every_name_whole_at_80_columns(narrow) -> None:
    subject, record = _subject_with_a_record(narrow)
    code, out, _ = narrow("record", "list", subject)
    assert code == 0 and record in out.split()
    code, out, _ = narrow("erase", subject, "--yes")
    assert code == 0
    request = re.search(r"erasureRequests/\S+", out)[0]  # type: ignore[index]
    code, out, _ = narrow("requests", "list")
    assert code == 0
    assert request in out.split() and subject in out.split()
    assert "…" not in out


def test_listings_speak_json_for_scripts(narrow) -> None:
    subject, record = _subject_with_a_record(narrow)
    code, out, _ = narrow("subject", "show", subject, "--json")
    assert code == 0 and json.loads(out)["name"] == subject
    code, out, _ = narrow("subject", "find", "--email", "WHOLE@example.se", "--json")
    assert code == 0 and json.loads(out)["identities"] == [
        {"kind": "email", "value": "whole@example.se", "system": ""}
    ]
    code, out, _ = narrow("record", "list", subject, "--json")
    assert code == 0
    [listed] = json.loads(out)
    assert listed["name"] == record and listed["fields"] == {"colour_recipe": "7.1"}
    code, out, _ = narrow("erase", subject, "--yes", "--json")
    assert code == 0 and json.loads(out)["subject"] == subject
    request = json.loads(out)["name"]
    code, out, _ = narrow("requests", "list", "--json")
    assert code == 0 and [r["name"] for r in json.loads(out)] == [request]
    code, out, _ = narrow("requests", "show", request, "--json")
    assert code == 0 and json.loads(out)["state"] == "completed"
    code, out, _ = narrow("connectors", "list", "--json")
    assert code == 0 and json.loads(out) == []


# ------------------------------------------------------------ export
def _only_files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize(
    "where",
    [
        "missing-dir/a.zip",
        ".",
        pytest.param(
            "read-only/a.zip",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere"),
        ),
    ],
)
def test_export_to_a_bad_place_is_one_line_and_leaves_nothing(
    run, tmp_path: Path, where: str
) -> None:
    subject, _ = _subject_with_a_record(run)
    place = tmp_path / "exports"
    (place / "read-only").mkdir(parents=True)
    (place / "read-only").chmod(0o500)
    try:
        code, _, err = run("export", subject, "-o", str(place / where))
    finally:
        (place / "read-only").chmod(0o700)
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and str(place) in err
    assert _only_files(place) == ["read-only"] and _only_files(place / "read-only") == []


def test_a_failed_export_leaves_no_file_behind(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    assert run("erase", subject, "--yes")[0] == 0
    out_dir = tmp_path / "exports"
    out_dir.mkdir()
    code, _, err = run("export", subject, "-o", str(out_dir / "a.zip"))
    assert code == 1 and "SUBJECT_ERASED" in err
    assert _only_files(out_dir) == []


def test_an_export_replaces_the_file_only_when_it_succeeds(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    (tmp_path / "exports").mkdir()
    target = tmp_path / "exports" / "a.zip"
    target.write_bytes(b"an earlier export")
    assert run("export", subject, "-o", str(target))[0] == 0
    assert zipfile.is_zipfile(target) and _only_files(target.parent) == ["a.zip"]
    assert run("erase", subject, "--yes")[0] == 0
    assert run("export", subject, "-o", str(target))[0] == 1
    assert zipfile.is_zipfile(target) and _only_files(target.parent) == ["a.zip"]


# ------------------------------------------------- other client mistakes
def test_no_server_says_so_and_how_to_start_one(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{probe.getsockname()[1]}"
        code = main(["--server", address, "subject", "show", "subjects/0"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert address in err and "consent-vault serve" in err
    assert "failed to connect" not in err and len(err.strip().splitlines()) == 1


def test_local_mistakes_are_one_line(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    put = ["record", "put", subject, "--category", "notes", "--purpose", "salon_booking"]
    put += ["--basis", "contract", "--source", "salon"]
    code, _, err = run(*put, "--file", str(tmp_path / "missing.png"))
    assert code == 1 and "Traceback" not in err and "missing.png" in err
    code, _, err = run(*put, "--field", "no-equals-sign")
    assert code == 2 and "KEY=VALUE" in err
    with pytest.raises(SystemExit) as exited:  # argparse's own usage line, not a traceback
        run("requests", "list", "--state", "nonsense")
    assert exited.value.code == 2


@pytest.mark.parametrize("command", [("serve", "--address", "127.0.0.1:0"), ("rotate-kek",)])
def test_a_keyring_others_can_read_is_refused_in_one_line(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    ring = tmp_path / "keyring.json"
    write_keyring(ring, Keyring.generate())
    ring.chmod(0o644)
    args = [*command, "--data-dir", str(tmp_path / "data"), "--keyring", str(ring)]
    # As a user runs it, in a process of its own: a server that wrongly
    # started would be stopped by the timeout, not hang the suite.
    done = subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(ring) in done.stderr and "chmod 600" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_server_that_is_not_the_vault_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    other = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # serves nothing
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        code = main(["--server", f"127.0.0.1:{port}", "subject", "show", "subjects/0"])
    finally:
        other.stop(grace=None)
    err = capsys.readouterr().err
    assert code == 1 and f"127.0.0.1:{port}" in err and "consent-vault API" in err
    assert len(err.strip().splitlines()) == 1


def test_an_external_id_without_its_system_is_a_usage_error(run) -> None:
    with pytest.raises(SystemExit) as exited:
        run("subject", "find", "--external", "1001")
    assert exited.value.code == 2


def test_serve_refuses_an_unknown_time_zone_or_erasure_setting_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "vault.toml"
    config.write_text('[controller]\ntime_zone = "Mars/Olympus"\n')
    code = main(["serve", "--config", str(config), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2 and "Mars/Olympus" in err and "Traceback" not in err
    config.write_text('[erasure]\nmax_attempts = "many"\n')
    code = main(["serve", "--config", str(config), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert code == 2 and "[erasure]" in err and "Traceback" not in err


# ------------------------------------------- special files and symlinks
def test_an_export_refuses_a_target_that_is_not_a_regular_file(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    (tmp_path / "exports").mkdir()
    fifo = tmp_path / "exports" / "a-pipe"  # stands for /dev/full and other special files
    os.mkfifo(fifo)
    code, _, err = run("export", subject, "-o", str(fifo))
    assert code == 1 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "not a regular file" in err
    assert fifo.is_fifo() and _only_files(fifo.parent) == ["a-pipe"]


def test_an_export_through_a_symlink_writes_where_it_points(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    (tmp_path / "real").mkdir()
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "a.zip"
    link.symlink_to(tmp_path / "real" / "a.zip")
    assert run("export", subject, "-o", str(link))[0] == 0
    assert link.is_symlink() and zipfile.is_zipfile(tmp_path / "real" / "a.zip")
    assert _only_files(tmp_path / "links") == ["a.zip"]
    assert _only_files(tmp_path / "real") == ["a.zip"]


# ------------------------------------------------------------- Ctrl-C
def test_ctrl_c_during_an_export_writes_nothing_and_says_so(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault.cli import exports

    subject, _ = _subject_with_a_record(run)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(exports.Progress, "update", interrupted)  # the first progress event
    (tmp_path / "exports").mkdir()
    code, _, err = run("export", subject, "-o", str(tmp_path / "exports" / "a.zip"))
    assert code == 130 and "Traceback" not in err
    assert "nothing was written" in err and len(err.strip().splitlines()) == 1
    assert _only_files(tmp_path / "exports") == []


def test_ctrl_c_once_the_whole_export_is_written_is_no_failure(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vault_client.client

    subject, _ = _subject_with_a_record(run)
    real_replace = os.replace

    def replace_then_interrupted(source: str, target: str) -> None:
        real_replace(source, target)
        raise KeyboardInterrupt

    monkeypatch.setattr(vault_client.client.os, "replace", replace_then_interrupted)
    target = tmp_path / "a.zip"
    target.write_bytes(b"an earlier export")
    code, out, err = run("export", subject, "-o", str(target))
    assert code == 0 and "error" not in err and str(target) in out
    assert zipfile.is_zipfile(target)


def test_ctrl_c_during_an_erasure_says_it_goes_on_and_how_to_follow_it(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault.cli import erasure

    subject, _ = _subject_with_a_record(run)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:  # the token in the environment stays
        patched.setattr(erasure, "_show_progress", interrupted)  # once the request is accepted
        code, _, err = run("erase", subject, "--yes")
    assert code == 130 and "Traceback" not in err
    [request] = json.loads(run("requests", "list", "--json")[1])
    assert f"consent-vault requests show {request['name']}" in err
    assert request["subject"] == subject


def test_ctrl_c_while_the_command_starts_is_quiet(tmp_path: Path) -> None:
    # Ctrl-C while the libraries load, made certain: an import hook interrupts.
    start = (
        "import runpy, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rich.live':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, Interrupt())\n"
        "sys.argv = ['consent-vault', 'subject', 'show', 'subjects/0']\n"
        "runpy.run_module('vault.cli', run_name='__main__')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", start], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 130 and done.stderr == ""


# --------------------------------------------------- mistakes in words
def test_a_mistyped_legal_basis_lists_the_bases(run) -> None:
    subject, _ = _subject_with_a_record(run)
    put = ["record", "put", subject, "--category", "notes", "--purpose", "salon_booking"]
    with pytest.raises(SystemExit) as exited:
        run(*put, "--basis", "contrakt", "--source", "salon")
    assert exited.value.code == 2


def test_the_bases_offered_are_the_apis(capsys: pytest.CaptureFixture[str]) -> None:
    from vault.cli import parser
    from vault.v1 import vault_pb2 as pb

    offered = {
        v.name.removeprefix("LEGAL_BASIS_").lower()
        for v in pb.LegalBasis.DESCRIPTOR.values
        if v.number
    }
    assert set(parser.LEGAL_BASES) == offered
    with pytest.raises(SystemExit):
        main(["record", "put", "subjects/0", "--category", "c", "--purpose", "p", *BAD_BASIS])
    err = capsys.readouterr().err
    assert all(basis in err for basis in offered)


BAD_BASIS = ["--basis", "contrakt", "--source", "s"]


@pytest.mark.parametrize("address", ["http://127.0.0.1:50051", "nonsense", "127.0.0.1:50051/"])
def test_a_server_address_in_another_form_says_how_to_write_it(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--server", address, "subject", "show", "subjects/0"])
    err = capsys.readouterr().err
    assert code == 2 and "HOST:PORT" in err and len(err.strip().splitlines()) == 1


def test_the_python_clients_unreachable_server_is_in_words() -> None:
    from vault_client import ServerUnreachableError, VaultClient

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        client = VaultClient(f"127.0.0.1:{probe.getsockname()[1]}")
        with client, pytest.raises(ServerUnreachableError) as refused:
            client.get_subject("subjects/0")
    words = str(refused.value)
    assert words == refused.value.message and "no vault server answers" in words
    assert "failed to connect" not in words and "ipv4" not in words
    assert "Connection refused" in refused.value.details


# ------------------------------------------------- output in words
def test_through_a_pipe_no_progress_is_drawn(run, tmp_path: Path) -> None:
    subject, _ = _subject_with_a_record(run)
    code, _, err = run("export", subject, "-o", str(tmp_path / "a.zip"))
    assert code == 0 and err == ""
    code, _, err = run("erase", subject, "--yes")
    assert code == 0 and err == ""


def test_the_subject_prints_each_identity_whole_at_80_columns(narrow) -> None:
    long_email = "verylongname.with.many.parts@some-very-long-domain-name.example.se"
    code, out, err = narrow("subject", "create", "--email", long_email, "--phone", "040-123456")
    assert code == 0, err
    assert f"    email: {long_email}" in out.splitlines()
    assert "…" not in out and "1 identity" not in out and "2 identities:" in out


def test_a_not_found_error_names_the_argument_apart_from_its_words(run) -> None:  # type: ignore[no-untyped-def]
    code, _, err = run("subject", "show", "subjects/0000")
    assert code == 1 and "does not exist" in err
    assert not re.search(r"[A-Z]subject", err), err  # never "NAMEsubject ..."


def key_command(*args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A key command as an operator runs it, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "80", **(environ or {})},
    )


def test_rotate_and_retire_say_what_they_did_in_lines_of_80_columns(tmp_path: Path) -> None:
    from vault import bootstrap
    from vault.core.identities import IdentityKind
    from vault.core.vault import IdentityInput

    data = tmp_path / "data"
    vault = bootstrap.open_vault(data)
    vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], [])
    bootstrap.close_vault(vault)

    rotated = key_command("rotate-kek", "--data-dir", str(data))
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.splitlines() == [
        "Key version 2 is current.",
        "1 key re-wrapped, 1 identity re-indexed.",
    ]
    retired = key_command("retire-kek", "--older-than", "0s", "--data-dir", str(data))
    assert retired.returncode == 0, retired.stderr
    assert retired.stdout.startswith("Key version 1 retired: its keys are gone")
    assert all(len(line) <= 80 for line in retired.stdout.splitlines())
    again = key_command("rotate-kek", "--retire-older-than", "0s", "--data-dir", str(data))
    assert again.returncode == 0, again.stderr
    assert "Key version 3 is current." in again.stdout
    assert "Key version 2 retired" in again.stdout
    ring = json.loads((data / "keyring.json").read_text())
    assert list(ring["versions"]) == ["3"] and list(ring["retired"]) == ["1", "2"]
    vault = bootstrap.open_vault(data)
    try:
        found = vault.find_subject(LOCAL, IdentityInput(IdentityKind.EMAIL, "anna@example.se"))
        assert found.identities[0].value == "anna@example.se"
    finally:
        bootstrap.close_vault(vault)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("retire-kek", "--older-than", "thirty days"), "--older-than 'thirty days': write"),
        (("retire-kek", "--older-than", "30"), "--older-than '30': write a whole number"),
        (("rotate-kek", "--retire-older-than", "2y"), "--retire-older-than '2y'"),
        (("retire-kek", "--older-than", " 30d"), "--older-than ' 30d': write a whole number"),
        (
            ("retire-kek", "--older-than", "99999999999999999999d"),
            "--older-than '99999999999999999999d' is too large",
        ),
    ],
)
def test_a_bad_age_is_one_line_and_changes_nothing(
    args: tuple[str, ...], said: str, tmp_path: Path
) -> None:
    done = key_command(*args, "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert said in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()  # nothing opened, nothing made


@pytest.mark.parametrize("command", [("rotate-kek",), ("retire-kek", "--older-than", "30d")])
def test_a_keyring_given_whole_is_refused_before_anything_changes(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    ring = Keyring.generate()
    done = key_command(
        *command,
        "--data-dir",
        str(tmp_path / "data"),
        environ={"CONSENT_VAULT_KEYRING": ring.to_json()},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "given whole ($CONSENT_VAULT_KEYRING)" in done.stderr
    assert "cannot change under a running server" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_the_keyring_variable_set_beside_keyring_is_named_as_what_to_unset(
    tmp_path: Path,
) -> None:
    ring = tmp_path / "keyring.json"
    write_keyring(ring, Keyring.generate())
    done = key_command(
        "rotate-kek",
        "--data-dir",
        str(tmp_path / "data"),
        "--keyring",
        str(ring),
        environ={"CONSENT_VAULT_KEYRING": Keyring.generate().to_json()},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    said = " ".join(done.stderr.split())
    assert "$CONSENT_VAULT_KEYRING is set, and it wins over --keyring" in said
    assert f"unset $CONSENT_VAULT_KEYRING to rotate-kek the keyring file {ring}" in said
    assert "needs a keyring file (--keyring)" not in said
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()


def test_serve_with_a_schedule_and_a_keyring_given_whole_refuses_in_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "vault.toml"
    config.write_text('[keys]\nrotate_every = "90d"\n')
    monkeypatch.setenv("CONSENT_VAULT_KEYRING", Keyring.generate().to_json())
    args = ["serve", "--address", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")]
    assert main([*args, "--config", str(config)]) == 2
    said = " ".join(capsys.readouterr().err.split())
    assert said == (
        "error: [keys] rotate_every and retire_after change the keyring, and one given "
        "whole in $CONSENT_VAULT_KEYRING cannot change under a running server: move it "
        "into a file of mode 0600 and unset $CONSENT_VAULT_KEYRING, or leave both "
        "settings out"
    )


@pytest.mark.parametrize("command", [("rotate-kek",), ("retire-kek", "--older-than", "30d")])
def test_a_key_command_where_no_vault_is_refuses_and_makes_nothing(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    typo, empty = tmp_path / "nodir", tmp_path / "empty"
    empty.mkdir()
    for place in (typo, empty):
        done = key_command(*command, "--data-dir", str(place))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        said = " ".join(done.stderr.split())
        assert f"no vault there (data in {place}): no keyring at {place / 'keyring.json'}" in said
        assert len(done.stderr.strip().splitlines()) == 1
        assert done.stdout == ""
    assert not typo.exists()
    assert list(empty.iterdir()) == []


def test_a_key_command_on_a_postgresql_database_without_keys_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests import postgres

    postgres.require()
    with postgres.fresh_schema("cv_nokeys") as url:
        data = tmp_path / "data"
        assert main(["rotate-kek", "--data-dir", str(data), "--database", url]) == 2
        err = capsys.readouterr().err
        assert "no vault there" in err and "no keys in the key database" in err
        assert not (data / "keyring.json").exists()


def test_ctrl_c_during_a_rotation_says_rotate_kek_finishes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault import bootstrap
    from vault.core import rotation
    from vault.core.identities import IdentityKind
    from vault.core.keys import KeyManager
    from vault.core.vault import IdentityInput

    data = tmp_path / "data"
    vault = bootstrap.open_vault(data)
    vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "anna@example.se")], [])
    bootstrap.close_vault(vault)

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(KeyManager, "rewrap", interrupted)
        assert main(["rotate-kek", "--data-dir", str(data)]) == 130
        err = capsys.readouterr().err
        assert "the rotation was cut short (Ctrl-C)" in err and "run rotate-kek" in err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        patched.setattr(rotation.KeyRotation, "_reindex", interrupted)
        assert main(["retire-kek", "--older-than", "0s", "--data-dir", str(data)]) == 130
        err = " ".join(capsys.readouterr().err.split())
        assert "the retirement was cut short (Ctrl-C)" in err
        assert "run retire-kek --older-than 0s to finish it" in err
    # The lease was given up: the next run goes on at once, and finishes it.
    assert main(["rotate-kek", "--data-dir", str(data)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("The rotation to key version 2 was unfinished: finished it")


def test_retire_kek_says_which_versions_stay_when_none_is_old_enough(tmp_path: Path) -> None:
    from vault import bootstrap

    data = tmp_path / "data"
    bootstrap.close_vault(bootstrap.open_vault(data))
    done = key_command("retire-kek", "--older-than", "30d", "--data-dir", str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "Nothing retired: only version 1, the current one, is live."
    ]
    for _ in range(3):
        assert key_command("rotate-kek", "--data-dir", str(data)).returncode == 0
    done = key_command("retire-kek", "--older-than", "30d", "--data-dir", str(data))
    assert " ".join(done.stdout.split()) == (
        "Nothing retired: versions 1 to 3 were made less than 30d ago, and version 4 is current."
    )


def test_key_command_options_are_never_abbreviated_and_have_help(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vault import bootstrap

    data = tmp_path / "data"
    bootstrap.close_vault(bootstrap.open_vault(data))
    with pytest.raises(SystemExit) as exited:
        main(["retire-kek", "--older", "0s", "--data-dir", str(data)])
    assert exited.value.code == 2
    assert "--older" in capsys.readouterr().err
    assert json.loads((data / "keyring.json").read_text())["current"] == 1  # nothing retired
    for command in ("rotate-kek", "retire-kek"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert "--data-dir DATA_DIR the vault's data directory" in shown
        assert "--keyring FILE the vault's keyring file" in shown


def test_record_erase_takes_one_purpose_or_the_whole_category_and_says_so(run) -> None:
    code, out, _ = run("subject", "create", "--email", "eva@example.se")
    name = re.search(r"subjects/[0-9a-f]+", out)[0]  # type: ignore[index]
    for purpose, basis in (
        ("course_delivery", "contract"),
        ("marketing_email", "consent"),
        ("marketing_email", "consent"),
    ):
        code, _, err = run(
            "record", "put", name, "--category", "contact", "--purpose", purpose,
            "--basis", basis, "--source", "lms",
        )  # fmt: skip
        assert code == 0, err
    # A purpose nobody configured, and a basis not the purpose's, name the option.
    for purpose, basis, said in (
        ("teaching", "contract", "--purpose: teaching is not a configured purpose"),
        ("course_delivery", "consent", "--basis: purpose course_delivery rests on contract"),
    ):
        code, _, err = run(
            "record", "put", name, "--category", "contact", "--purpose", purpose,
            "--basis", basis, "--source", "lms",
        )  # fmt: skip
        assert code == 1 and said in err and "INVALID_FIELD" in err, err
    code, _, err = run(
        "record", "erase", name, "--category", "contact", "--purpose", "marketing_email"
    )
    assert code == 2 and "--yes" in err  # stdin is not a terminal: refuses without --yes
    code, out, _ = run(
        "record", "erase", name, "--category", "contact", "--purpose", "marketing_email", "--yes"
    )
    assert code == 0
    assert out.splitlines() == [
        name,
        "  Erased its contact records held for marketing_email: 2 records and 1 key destroyed.",
    ]
    code, out, _ = run(
        "record", "erase", name, "--category", "contact", "--purpose", "markting", "--yes"
    )
    assert code == 0
    assert out.splitlines() == [
        name,
        "  Nothing erased: the subject held no contact records for markting.",
    ]
    code, out, _ = run("record", "list", name, "--json")
    assert [r["purpose"] for r in json.loads(out)] == ["course_delivery"]
    code, out, _ = run("record", "erase", name, "--category", "contact", "--yes", "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["purposes"], answer["records_shredded"], answer["keys_destroyed"]) == (
        ["course_delivery"],
        1,
        1,
    )
    code, _, err = run(
        "record", "erase", name, "--category", "contact", "--purpose", "Bad Word", "--yes"
    )
    assert code == 1 and err.startswith("error: --purpose") and "INVALID_FIELD" in err
    assert "Traceback" not in err


def test_a_protected_identity_reads_as_hidden_to_an_integrator_never_blank(
    vault: Vault, engine: str | None, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    from tests.access import token_for
    from tests.serving import UNLIMITED, served
    from vault.core.actor import Role
    from vault.runtime import build_services
    from vault.settings import ServerSettings

    settings = ServerSettings(
        address="127.0.0.1:0",
        access=dataclasses.replace(UNLIMITED, purposes={"lms": frozenset({"course_delivery"})}),
    )
    officer, lms = token_for(vault, Role.PRIVACY_OFFICER), token_for(vault, Role.INTEGRATOR, "lms")
    monkeypatch.setenv("COLUMNS", "80")
    with served(build_services(vault, stores_embedded=engine is None), settings) as server:

        def as_(token: str, *args: str) -> tuple[int, str, str]:
            monkeypatch.setenv("CONSENT_VAULT_TOKEN", token)
            code = main(["--server", f"127.0.0.1:{server.port}", *args])
            captured = capsys.readouterr()
            return code, captured.out, captured.err

        code, out, err = as_(
            officer, "subject", "create", "--pnr", "811218-9876", "--external", "lms:4711",
            "--role", "student", "--protected",
        )  # fmt: skip
        assert code == 0, err
        name = out.splitlines()[0]
        code, out, err = as_(lms, "subject", "show", name)
        assert code == 0, err
        hidden = "(hidden: protected identity)"
        assert f"  roles               {hidden}" in out.splitlines()
        assert f"    personnummer: {hidden}" in out.splitlines()
        assert f"    external_id (lms): {hidden}" in out.splitlines()
        code, out, err = as_(lms, "subject", "show", name, "--json")
        assert json.loads(out)["masked"] is True
        # To the privacy officer nothing is hidden.
        code, out, _ = as_(officer, "subject", "show", name)
        assert hidden not in out and "student" in out


def test_record_get_and_list_name_the_purpose_they_read_for(run) -> None:  # type: ignore[no-untyped-def]
    subject, record = _subject_with_a_record(run)
    # salon_booking data serves no platform access: refused in one line, nothing shown.
    code, out, err = run("record", "get", record, "--purpose", "platform_access")
    assert code == 1 and out == ""
    assert "PURPOSE_MISMATCH" in err and "7.1" not in err and len(err.strip().splitlines()) == 1
    code, out, err = run("record", "get", record, "--purpose", "salon_booking")
    assert code == 0 and "7.1" in out, err
    code, out, err = run("record", "list", subject, "--purpose", "platform_access", "--json")
    assert code == 0 and json.loads(out) == [], err
    code, out, err = run("record", "list", subject, "--purpose", "platform_access")
    assert code == 0 and "no records that may be read for platform_access" in out, err
    code, out, err = run("record", "list", subject, "--json")  # the officer answers a request
    assert code == 0 and len(json.loads(out)) == 1, err
