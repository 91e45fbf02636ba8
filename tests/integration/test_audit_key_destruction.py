"""kill -9 of the server between key destruction's intent and its outcome, during
an erasure: after a restart the erasure completes, the person's keys are gone,
and the audit log tells it once: one intent, one outcome saying it was finished
after an interruption, under the pseudonym the person had; the log verifies."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import pytest

from tests.helpers import error_info
from tests.integration.test_crash_recovery import erase_until_rest, register
from tests.processes import ServerProcess
from vault import bootstrap, purposes_file
from vault.core.audit.destruction import FINISHED_AFTER_INTERRUPTION
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.store import AuditQuery
from vault.core.faults import CRASH_ENV
from vault.core.vault import Vault
from vault.keyring import KeyringSource, load_or_create_keyring
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins.people import DEMO_PEOPLE

pytestmark = pytest.mark.slow

# Only the vault's own step: the keys are what this is about.
CONFIG = {
    "erasure": {
        "backoff_base_s": 0.05,
        "backoff_cap_s": 0.2,
        "lease_seconds": 30,
        "call_timeout_s": 10,
    }
}


def serve(data: Path, engine: str | None, env: dict[str, str] | None = None) -> ServerProcess:
    extra = ("--database", engine) if engine else ()
    return ServerProcess(data, CONFIG, env, extra_args=extra)


@contextmanager
def unrecovered(data: Path, engine: str | None) -> Iterator[Vault]:
    """The vault over the server's stores as they lie: nothing upgraded or
    recovered from here, so what a crash left is seen as it left it."""
    stores = bootstrap.open_stores(engine or f"{bootstrap.SQLITE}{data.absolute()}")
    try:
        path = data / "keyring.json"
        yield Vault(
            stores.records,
            stores.keys,
            KeyringSource(load_or_create_keyring(path), path),
            purposes=purposes_file.school(),
        )
    finally:
        stores.close()


def told(vault: Vault, operation: Operation) -> list[AuditEvent]:
    stored = vault.records.audit.query(AuditQuery(operation=operation, limit=1000))
    return [AuditEvent.from_entry(e.entry) for e in stored]


@pytest.mark.parametrize("point", ["keys_destruction_intended", "keys_destroyed_untold"])
def test_a_kill_between_intent_and_outcome_is_finished_and_told(
    point: str, tmp_path: Path, engine: str | None
) -> None:
    data = tmp_path / "data"
    server = serve(data, engine, {CRASH_ENV: point})
    try:
        with server.channel() as channel:
            name = register(channel, DEMO_PEOPLE[0])
        subject_id = name.removeprefix("subjects/")
        with unrecovered(data, engine) as vault:
            pseudonym = vault.audit.pseudonym_of(subject_id)
        assert pseudonym
        with pytest.raises(grpc.RpcError):
            erase_until_rest(server, name, "erase-anna")
        assert server.wait() == -9
    finally:
        server.close()

    # The kill came where it was meant to: the intent stored and open, the
    # keys there before the destruction and gone after it.
    with unrecovered(data, engine) as vault:
        assert [s for _, s in vault.records.audit.open_intents()] == [subject_id]
        keys_left = vault.keys.store.subject_key(subject_id) is not None
        assert keys_left is (point == "keys_destruction_intended")
        assert told(vault, Operation.KEYS_DESTROYED) == []

    restarted = serve(data, engine)
    try:
        request = erase_until_rest(restarted, name, "erase-anna")
        assert request.state == pb.ERASURE_REQUEST_STATE_COMPLETED, request
        with restarted.channel() as channel:
            with pytest.raises(grpc.RpcError) as raised:
                pb_grpc.SubjectServiceStub(channel).GetSubject(pb.GetSubjectRequest(name=name))
            assert error_info(raised.value).reason == "SUBJECT_ERASED"
    finally:
        restarted.close()

    vault = bootstrap.open_vault(data, database=engine)
    try:
        assert vault.keys.store.subject_key(subject_id) is None
        assert vault.audit.pseudonym_of(subject_id) == ""
        assert vault.records.audit.open_intents() == []
        [intent] = told(vault, Operation.DESTROY_KEYS)
        [outcome] = told(vault, Operation.KEYS_DESTROYED)
        assert intent.subject == outcome.subject == pseudonym
        assert FINISHED_AFTER_INTERRUPTION in outcome.detail
        assert outcome.actor == "vault" and outcome.at >= intent.at
        # The person's erasure is told under the same pseudonym, once by whoever
        # asked for it and once by the vault's own step.
        erased = [e for e in told(vault, Operation.ERASE_SUBJECT) if e.subject == pseudonym]
        assert {e.role for e in erased} == {"privacy_officer", "vault"}
        vault.sequencer.run_until_done()
        assert vault.audit_log.verify().ok
    finally:
        bootstrap.close_vault(vault)
