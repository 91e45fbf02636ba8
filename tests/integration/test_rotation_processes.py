"""Rotation and retirement while two real server processes run on the same
databases and keyring file (SQLite: one data directory; PostgreSQL: one
schema): neither restarts, both keep reading what either wrote and keep
writing, during the rotation and after the retirement, and every write either
acknowledged is readable afterwards under the current version."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest

from tests import postgres
from tests.helpers import email, record
from tests.processes import ServerProcess
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

pytestmark = pytest.mark.slow


@dataclass
class Shared:
    """Where both servers and the key commands find the databases and keyring."""

    args: tuple[str, ...]
    keyring: Path
    servers: list[ServerProcess] = field(default_factory=list)


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    keyring = tmp_path / "keyring.json"
    if request.param == "sqlite":
        where = Shared(("--data-dir", str(tmp_path / "data"), "--keyring", str(keyring)), keyring)
        dirs = [tmp_path / "data", tmp_path / "data"]  # one data directory for both
        yield from _served(where, dirs)
        return
    with postgres.fresh_schema("cv_rotation") as url:
        where = Shared(("--database", url, "--keyring", str(keyring)), keyring)
        yield from _served(where, [tmp_path / "a", tmp_path / "b"])


def _served(where: Shared, dirs: list[Path]) -> Iterator[Shared]:
    database = [a for a in where.args if a.startswith("postgresql")]
    extra = ("--database", database[0]) if database else ()
    try:
        for directory in dirs:
            where.servers.append(
                ServerProcess(directory, extra_args=(*extra, "--keyring", str(where.keyring)))
            )
        yield where
    finally:
        for server in where.servers:
            server.close()


def key_command(where: Shared, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vault.cli", *args, *where.args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "80"},
    )


class Writer(threading.Thread):
    """Registers people with a record each through one server until stopped,
    keeping what the server acknowledged (and any error)."""

    def __init__(self, server: ServerProcess, prefix: str) -> None:
        super().__init__(daemon=True)
        self.server, self.prefix = server, prefix
        self.stop = threading.Event()
        self.acknowledged: list[tuple[str, str, str]] = []  # (e-mail, subject, record)
        self.errors: list[str] = []

    def run(self) -> None:
        with self.server.channel() as channel:
            subjects = pb_grpc.SubjectServiceStub(channel)
            records = pb_grpc.RecordServiceStub(channel)
            n = 0
            while not self.stop.is_set():
                mail = f"{self.prefix}{n}@example.se"
                n += 1
                try:
                    subject = subjects.CreateSubject(
                        pb.CreateSubjectRequest(identities=[email(mail)]), timeout=30
                    ).subject.name
                    stored = records.CreateRecord(
                        pb.CreateRecordRequest(parent=subject, record=record(note=mail)),
                        timeout=30,
                    ).record.name
                except grpc.RpcError as error:
                    self.errors.append(f"{mail}: {error.code()} {error.details()}")
                    continue
                self.acknowledged.append((mail, subject, stored))


def everyone_readable(server: ServerProcess, people: list[tuple[str, str, str]]) -> None:
    with server.channel() as channel:
        subjects = pb_grpc.SubjectServiceStub(channel)
        records = pb_grpc.RecordServiceStub(channel)
        for mail, subject, stored in people:
            found = subjects.FindSubject(pb.FindSubjectRequest(identity=email(mail)), timeout=30)
            assert found.subject.name == subject, mail
            got = records.GetRecord(pb.GetRecordRequest(name=stored), timeout=30)
            assert got.record.fields["note"] == mail


def test_rotation_and_retirement_while_two_servers_read_and_write(
    shared: Shared, tmp_path: Path
) -> None:
    first, second = shared.servers
    writers = [Writer(first, "one."), Writer(second, "two.")]
    for writer in writers:
        writer.start()
    try:
        rotated = key_command(shared, "rotate-kek", cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        assert "Key version 2 is current." in rotated.stdout
        written = [p for w in writers for p in w.acknowledged]
        assert written, "the servers wrote nothing while the keys rotated"
        # Without a restart, each server reads what either wrote, old and new.
        for server in (first, second):
            everyone_readable(server, written)

        retired = key_command(shared, "retire-kek", "--older-than", "0s", cwd=tmp_path)
        assert retired.returncode == 0, retired.stderr
        assert retired.stdout.startswith("Key version 1 retired")
    finally:
        for writer in writers:
            writer.stop.set()
        for writer in writers:
            writer.join(timeout=60)
    for writer in writers:
        assert writer.errors == []
    written = [p for w in writers for p in w.acknowledged]
    # Every acknowledged write, those made while the floor rose among them,
    # reads through both servers with version 1 gone from the keyring.
    for server in (first, second):
        everyone_readable(server, written)
    ring = json.loads(shared.keyring.read_text())
    assert list(ring["versions"]) == ["2"] and list(ring["retired"]) == ["1"]
    # And from a fresh start: nothing is left under the retired version (a
    # server refuses a key database that holds keys under one).
    database = ("--database", shared.args[1]) if "--database" in shared.args else ()
    directory = tmp_path / "third" if database else tmp_path / "data"
    third = ServerProcess(directory, extra_args=(*database, "--keyring", str(shared.keyring)))
    try:
        everyone_readable(third, written)
    finally:
        third.close()
