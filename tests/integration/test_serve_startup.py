"""What stops `consent-vault serve` is found before it touches any data, and
said in one line: a busy address, and a second demo on the same data directory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import ServerProcess
from vault_client import Identity, VaultClient


def _serve(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # As a user runs it, in a process of its own and through a pipe; a server
    # that wrongly started is ended by the timeout and fails the test.
    try:
        return subprocess.run(
            [sys.executable, "-m", "vault.cli", "serve", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "80"},
        )
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"the server started instead of refusing:\n{expired.stdout!r}")


def test_a_busy_port_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = _serve("--address", address, "--data-dir", str(tmp_path / "data"), "--demo")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert address in done.stderr and "--address" in done.stderr
    # Not gRPC's own log line (E1201 ... add_port.cc ... Address already in use).
    assert len(done.stderr.strip().splitlines()) == 1
    # Nothing was started or written: no vault, no demo systems.
    assert not (tmp_path / "data" / "records.db").exists()
    assert not (tmp_path / "data" / "demo-systems" / "salon.db").exists()


def _state(path: Path) -> tuple[int, int, bytes]:
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns, path.read_bytes()


def test_a_second_demo_on_the_same_data_directory_refuses_before_touching_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "vault-data"
    first = ServerProcess(data, extra_args=("--demo",))
    try:
        systems = data / "demo-systems"
        before = {name: _state(systems / name) for name in ("salon.db", "facebook-register.db")}
        note = _state(data / "demo-people.json")
        done = _serve("--address", "127.0.0.1:0", "--data-dir", str(data), "--demo")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "another consent-vault demo is using" in done.stderr and str(data) in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
        # The running demo's systems and note are as they were.
        assert {name: _state(systems / name) for name in before} == before
        assert _state(data / "demo-people.json") == note
        with VaultClient(first.address, token=first.token) as vault:
            vault.find_subject("email", "anna.andersson@example.se")
    finally:
        first.close()


def test_a_demo_starts_again_once_the_first_has_stopped(tmp_path: Path) -> None:
    data = tmp_path / "vault-data"
    first = ServerProcess(data, extra_args=("--demo",))
    first.kill9()  # the kernel drops the lock with the process, however it ends
    first.close()
    again = ServerProcess(data, extra_args=("--demo",))
    try:
        assert again.port
    finally:
        again.close()


def test_plain_servers_may_share_a_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "vault-data"
    first = ServerProcess(data)
    try:
        second = ServerProcess(data)
        try:
            with (
                VaultClient(first.address, token=first.token) as one,
                VaultClient(second.address, token=second.token) as other,
            ):
                made = one.create_subject([Identity("email", "shared@example.se")], ["student"])
                assert other.get_subject(made.name).roles == ["student"]
        finally:
            second.close()
    finally:
        first.close()
