"""A server whose keyring cannot follow a rotation answers UNAVAILABLE with
KEYRING_UNUSABLE, naming the version, never INTERNAL: the fault is the
server's keyring, and another server (or this one, its keyring fixed) can serve."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc
import pytest

from tests.helpers import email, error_info
from vault import bootstrap
from vault.core.actor import LOCAL
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc


def test_a_server_whose_keyring_lacks_the_version_says_so_as_unavailable(
    vault: Vault,
    subjects: pb_grpc.SubjectServiceStub,
    data_dir: Path,
    tmp_path: Path,
    engine: str | None,
) -> None:
    anna = subjects.CreateSubject(
        pb.CreateSubjectRequest(identities=[email("anna@example.se")])
    ).subject
    # A second process with a keyring file of its own (a copy, as on another
    # machine) rotates: the key database's keys move to a version the
    # server's keyring never sees.
    copy = tmp_path / "elsewhere" / "keyring.json"
    copy.parent.mkdir()
    shutil.copy2(data_dir / "keyring.json", copy)
    other = bootstrap.open_vault(data_dir, copy, database=engine)
    try:
        other.rotate_keys(LOCAL)
        # Destroying any key empties every process's key cache, so the
        # server unwraps Anna's key again rather than answering from memory.
        bo = other.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "bo@example.se")], [])
        other.erase_subject(LOCAL, bo.subject_id)
    finally:
        bootstrap.close_vault(other)

    with pytest.raises(grpc.RpcError) as raised:
        subjects.GetSubject(pb.GetSubjectRequest(name=anna.name))
    expect_keyring_unusable(raised.value)
    # Her identity is indexed under version 2 now: this server cannot say
    # "nobody holds it", nor register her a second time.
    with pytest.raises(grpc.RpcError) as raised:
        subjects.FindSubject(pb.FindSubjectRequest(identity=email("anna@example.se")))
    expect_keyring_unusable(raised.value)
    with pytest.raises(grpc.RpcError) as raised:
        subjects.CreateSubject(pb.CreateSubjectRequest(identities=[email("anna@example.se")]))
    expect_keyring_unusable(raised.value)

    # Given the keyring the others use, the same server serves again, unrestarted.
    shutil.copy2(copy, data_dir / "keyring.json")
    vault.keyrings.refresh()
    got = subjects.GetSubject(pb.GetSubjectRequest(name=anna.name)).subject
    assert got.name == anna.name
    found = subjects.FindSubject(pb.FindSubjectRequest(identity=email("anna@example.se")))
    assert found.subject.name == anna.name


def expect_keyring_unusable(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(error)
    assert info.reason == "KEYRING_UNUSABLE"
    assert info.metadata["kek_version"] == "2"
    assert "key-encryption key version 2" in error.details()
    assert "correlation" not in error.details()
