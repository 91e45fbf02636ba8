"""VaultClient: one channel, typed methods, friendly exceptions.

Mutating calls always carry a request id (a fresh UUID unless the caller
gives one), so gRPC's own retry policy can resend them after UNAVAILABLE
without applying anything twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import itertools
import json
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, ParamSpec, TypeVar

import grpc
from google.protobuf import field_mask_pb2, json_format

from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import consent
from vault_client.credentials import (
    BearerToken,
    PlaintextRefused,
    find_client_certificate,
    find_root_certificates,
    find_token,
    is_local,
)
from vault_client.errors import VaultClientError, translate
from vault_client.types import (
    AuditEvent,
    CategoryErasure,
    ConnectorInfo,
    ConsentEvent,
    ConsentExport,
    ConsistencyProof,
    Content,
    ErasureItem,
    ErasureRequest,
    ErasureStep,
    ExportSummary,
    HeldCategory,
    Identity,
    ImportSummary,
    InclusionProof,
    IssuedToken,
    NewSubject,
    PolicyVersion,
    Purpose,
    PurposeConsent,
    ReconsentNeeded,
    Record,
    RecordedConsent,
    Subject,
    Token,
    TreeHead,
    TreeHeadWithKey,
)

DEFAULT_TARGET = "127.0.0.1:50051"
# ImportSubjects' limits (see the API): people a call, people and records a
# message; a message is cut short too before its bytes pass half the 16 MiB limit.
IMPORT_CALL_SUBJECTS = 50_000
IMPORT_BATCH_SUBJECTS = 1_000
IMPORT_BATCH_RECORDS = 20_000
IMPORT_BATCH_BYTES = 8 << 20
_UTC = dt.UTC

_RETRY_POLICY = json.dumps(
    {
        "methodConfig": [
            {
                "name": [
                    {"service": "vault.v1.SubjectService"},
                    {"service": "vault.v1.RecordService"},
                    {"service": "vault.v1.ErasureService"},
                    {"service": "vault.v1.ConnectorService"},
                    # Not CreateToken: it has no request id, and a resent call
                    # would issue a second token.
                    {"service": "vault.v1.AccessService", "method": "ListTokens"},
                    {"service": "vault.v1.AccessService", "method": "RevokeToken"},
                    # Reads only; each writes its own event first, and an
                    # AUDIT_UNAVAILABLE changed nothing.
                    {"service": "vault.v1.AuditService"},
                    # Every write of these takes a request id; the reads write
                    # their event first, as the audit trail's do.
                    {"service": "vault.v1.ConsentService"},
                    {"service": "vault.v1.PolicyService"},
                ],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

_CHANNEL_OPTIONS = [
    ("grpc.enable_retries", 1),
    ("grpc.service_config", _RETRY_POLICY),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
    ("grpc.max_send_message_length", 16 * 1024 * 1024),
]


def _channel(
    target: str, tls: bool, roots: bytes | None, identity: tuple[bytes, bytes] | None
) -> grpc.Channel:
    """TLS checked against `roots` (None: the system's), showing the client's
    (certificate chain, key) `identity` if any; or plaintext without `tls`."""
    if not tls:
        return grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
    chain, key = identity or (None, None)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=key, certificate_chain=chain
    )
    return grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)


_KINDS = {
    "personnummer": pb.IDENTITY_KIND_PERSONNUMMER,
    "email": pb.IDENTITY_KIND_EMAIL,
    "phone": pb.IDENTITY_KIND_PHONE,
    "external_id": pb.IDENTITY_KIND_EXTERNAL_ID,
}
_KIND_NAMES = {number: name for name, number in _KINDS.items()}
# What a person reads about the kinds a system was searched by.
_KIND_WORDS: dict[int, str] = {
    pb.IDENTITY_KIND_PERSONNUMMER: "personnummer",
    pb.IDENTITY_KIND_EMAIL: "e-mail",
    pb.IDENTITY_KIND_PHONE: "phone",
    pb.IDENTITY_KIND_EXTERNAL_ID: "the system's own user id",
}


def _kinds_in_words(kinds: Iterable[int]) -> str:
    """ "e-mail", "e-mail or personnummer", "phone, e-mail or personnummer"."""
    words = list(dict.fromkeys(_KIND_WORDS.get(k, "an unknown kind") for k in kinds))
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} or {words[-1]}"


_BASES = {
    "consent": pb.LEGAL_BASIS_CONSENT,
    "contract": pb.LEGAL_BASIS_CONTRACT,
    "legal_obligation": pb.LEGAL_BASIS_LEGAL_OBLIGATION,
    "vital_interests": pb.LEGAL_BASIS_VITAL_INTERESTS,
    "public_task": pb.LEGAL_BASIS_PUBLIC_TASK,
    "legitimate_interest": pb.LEGAL_BASIS_LEGITIMATE_INTEREST,
}
_BASIS_NAMES = {number: name for name, number in _BASES.items()}

_ROLES = {
    "integrator": pb.ROLE_INTEGRATOR,
    "privacy_officer": pb.ROLE_PRIVACY_OFFICER,
    "auditor": pb.ROLE_AUDITOR,
    "admin": pb.ROLE_ADMIN,
}
_ROLE_NAMES = {number: name for name, number in _ROLES.items()}


@contextlib.contextmanager
def whole_file(destination: str | Path) -> Iterator[BinaryIO]:
    """A file to write what goes to `destination`, there whole or not at all:
    a new file (mode 0600: an export is personal data) beside it, renamed
    over the path when the block ends, removed when it raises or is
    interrupted (an earlier file at the path stays as it was). A place that
    cannot be written raises OSError on entering, naming `destination`, never
    the new file: a directory, a device or a pipe, a folder that does not exist."""
    # A symlink is followed first: the file goes where it points, and the
    # part file beside that, so the rename replaces the file and leaves the
    # link as it was.
    target = Path(destination).resolve()
    if target.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory, not a file name", str(destination))
    if target.exists() and not target.is_file():
        # A device, a pipe or a socket: renaming over it would replace it.
        raise FileExistsError(
            errno.EEXIST,
            "exists and is not a regular file; name a new file or a regular one",
            str(destination),
        )
    try:
        fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        # Said of the path named, not of the part file's name.
        raise type(error)(error.errno, error.strerror, str(destination)) from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, target)
    except BaseException:
        # After the rename there is no part file left to remove.
        Path(part).unlink(missing_ok=True)
        raise


P = ParamSpec("P")
T = TypeVar("T")


def _translated(method: Callable[P, T]) -> Callable[P, T]:
    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except grpc.RpcError as error:
            raise translate(error) from None

    return call


class VaultClient(consent.ProcessingLimitMethods):
    """A client for one vault server. Use it as a context manager to close the channel."""

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        *,
        token: str | None = None,
        token_file: str | os.PathLike[str] | None = None,
        root_certificates: bytes | None = None,
        ca_file: str | os.PathLike[str] | None = None,
        tls: bool = False,
        cert_file: str | os.PathLike[str] | None = None,
        key_file: str | os.PathLike[str] | None = None,
        insecure: bool = False,
        timeout: float = 30.0,
        channel: grpc.Channel | None = None,
    ) -> None:
        """A client of the vault at `target` (HOST:PORT).

        The API token is `token`, else the file `token_file`, else
        $CONSENT_VAULT_TOKEN, else the file $CONSENT_VAULT_TOKEN_FILE names;
        it is sent on every call as `authorization: Bearer <token>`. The
        channel is TLS when root certificates are given (`root_certificates`
        as PEM bytes, the file `ca_file`, or the file $CONSENT_VAULT_TLS_CA
        names), with `tls=True` (the system's roots unless those are given),
        or with a client certificate for mutual TLS (the PEM files
        `cert_file` and `key_file`); plaintext otherwise. A token goes in
        plaintext only to this machine (a loopback address, localhost, a Unix
        socket): to another, PlaintextRefused unless `insecure=True`. A
        `channel` of your own is used as it is, with the token added. A file
        that does not read raises CredentialsError (an OSError) here, before
        any call."""
        self.timeout = timeout
        found = find_token(token, token_file)
        # Where the token came from, in words, so an error about it can say.
        self.token_source = found.source if found else None
        roots = None if channel else find_root_certificates(root_certificates, ca_file)
        identity = None if channel else find_client_certificate(cert_file, key_file)
        self.tls = channel is None and (tls or roots is not None or identity is not None)
        if found and channel is None and not self.tls and not insecure and not is_local(target):
            raise PlaintextRefused(found.source, target)
        opened = channel or _channel(target, self.tls, roots, identity)
        self._opened = opened
        self._channel = (
            grpc.intercept_channel(opened, BearerToken(found.secret)) if found else opened
        )
        self._subjects = pb_grpc.SubjectServiceStub(self._channel)
        self._records = pb_grpc.RecordServiceStub(self._channel)
        self._erasure = pb_grpc.ErasureServiceStub(self._channel)
        self._connectors = pb_grpc.ConnectorServiceStub(self._channel)
        self._access = pb_grpc.AccessServiceStub(self._channel)
        self._audit = pb_grpc.AuditServiceStub(self._channel)
        self._consent = pb_grpc.ConsentServiceStub(self._channel)
        self._policy = pb_grpc.PolicyServiceStub(self._channel)

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._opened.close()

    # ------------------------------------------------------------ subjects
    @_translated
    def create_subject(
        self,
        identities: Iterable[Identity],
        roles: Iterable[str] = (),
        protected_identity: bool = False,
        request_id: str | None = None,
    ) -> Subject:
        response = self._subjects.CreateSubject(
            pb.CreateSubjectRequest(
                identities=[_identity_pb(i) for i in identities],
                roles=list(roles),
                protected_identity=protected_identity,
                request_id=request_id or _new_request_id(),
            ),
            timeout=self.timeout,
        )
        return _subject(response.subject)

    @_translated
    def get_subject(self, name: str) -> Subject:
        return _subject(
            self._subjects.GetSubject(pb.GetSubjectRequest(name=name), timeout=self.timeout).subject
        )

    @_translated
    def find_subject(self, kind: str, value: str, system: str = "") -> Subject:
        request = pb.FindSubjectRequest(identity=_identity_pb(Identity(kind, value, system)))
        return _subject(self._subjects.FindSubject(request, timeout=self.timeout).subject)

    @_translated
    def update_subject(
        self,
        name: str,
        *,
        roles: Iterable[str] | None = None,
        protected_identity: bool | None = None,
        request_id: str | None = None,
    ) -> Subject:
        paths = [
            p
            for p, v in (("roles", roles), ("protected_identity", protected_identity))
            if v is not None
        ]
        request = pb.UpdateSubjectRequest(
            name=name,
            roles=list(roles or ()),
            protected_identity=bool(protected_identity),
            update_mask=field_mask_pb2.FieldMask(paths=paths),
            request_id=request_id or _new_request_id(),
        )
        return _subject(self._subjects.UpdateSubject(request, timeout=self.timeout).subject)

    @_translated
    def add_identity(
        self, subject: str, identity: Identity, request_id: str | None = None
    ) -> Subject:
        request = pb.AddIdentityRequest(
            subject=subject,
            identity=_identity_pb(identity),
            request_id=request_id or _new_request_id(),
        )
        return _subject(self._subjects.AddIdentity(request, timeout=self.timeout).subject)

    @_translated
    def rectify_identity(
        self, subject: str, old: Identity, new: Identity, request_id: str | None = None
    ) -> Subject:
        request = pb.RectifyIdentityRequest(
            subject=subject,
            old_identity=_identity_pb(old),
            new_identity=_identity_pb(new),
            request_id=request_id or _new_request_id(),
        )
        return _subject(self._subjects.RectifyIdentity(request, timeout=self.timeout).subject)

    @_translated
    def remove_identity(
        self, subject: str, identity: Identity, request_id: str | None = None
    ) -> Subject:
        request = pb.RemoveIdentityRequest(
            subject=subject,
            identity=_identity_pb(identity),
            request_id=request_id or _new_request_id(),
        )
        return _subject(self._subjects.RemoveIdentity(request, timeout=self.timeout).subject)

    def import_subjects(
        self,
        people: Iterable[NewSubject],
        *,
        batch: int = 500,
        request_id: str | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> ImportSummary:
        """Register many new people with their records, `batch` people a
        message (fewer if their records are many or large), each message stored
        all or nothing, in the order given.

        Message n carries the request id `{request_id}.{n}` (a fresh UUID for
        `request_id` unless given): called again with the same people, batch and
        request id, it stores only what the first call did not, and answers for
        all. `progress(sent)` is called as each message is handed to gRPC,
        with the number of people sent so far, that message's included.

        A bad person fails their message: the error's field names them by their
        place in `people`, as `subjects[1234].records[0].category`, and every
        message before theirs is stored. An identity held already is an
        AlreadyExistsError (IDENTITY_IN_USE), as for create_subject."""
        prefix = request_id or _new_request_id()
        numbers = itertools.count()
        remaining = iter(people)
        subjects: list[str] = []
        records = sent = 0
        while True:
            # A call takes as many people as the API allows; the next, the rest.
            call = _import_batches(itertools.islice(remaining, IMPORT_CALL_SUBJECTS), batch)
            first = sent  # the place in `people` of the call's first person
            try:
                head = next(call, None)
            except VaultClientError as error:
                raise _placed(error, first) from None
            if head is None:
                break
            unsent: list[Exception] = []

            def messages(
                head: pb.ImportSubjectsRequest = head,
                call: Iterator[pb.ImportSubjectsRequest] = call,
                unsent: list[Exception] = unsent,
            ) -> Iterator[pb.ImportSubjectsRequest]:
                # Runs on gRPC's thread, which would drop an exception: a person
                # who cannot be sent (or `people` failing) ends the stream there,
                # and the call raises it once the batches before are stored.
                nonlocal sent
                message: pb.ImportSubjectsRequest | None = head
                while message is not None:
                    message.request_id = f"{prefix}.{next(numbers)}"
                    sent += len(message.subjects)
                    if progress is not None:
                        progress(sent)
                    yield message
                    try:
                        message = next(call, None)
                    except Exception as error:
                        unsent.append(error)
                        return

            try:
                response = self._subjects.ImportSubjects(messages(), timeout=max(self.timeout, 600))
            except grpc.RpcError as error:
                raise _placed(translate(error), first) from None
            subjects += response.subjects
            records += response.imported_record_count
            if unsent:
                failure = unsent[0]
                raise _placed(failure, first) if isinstance(failure, VaultClientError) else failure
        if not subjects:
            raise VaultClientError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "subjects: must hold at least one subject",
                "INVALID_FIELD",
                {"field": "subjects"},
            )
        return ImportSummary(subjects, records)

    @_translated
    def export_subject(
        self,
        name: str,
        destination: str | Path | BinaryIO,
        progress: Callable[[str, int, int], None] | None = None,
        same_person_systems: Iterable[str] = (),
        decided_by: str = "",
    ) -> ExportSummary:
        """Write the subject's zip archive, from the vault and every connected system,
        to `destination`; `progress(system, done, total)` is called as it goes.
        `same_person_systems`: systems whose records a privacy officer found to
        be this person's although identities disagree (exported, not withheld);
        `decided_by` names who checked them, and is needed with them.

        A path is written whole or not at all: the archive goes to a new file
        (mode 0600: it is personal data) beside it and is renamed over the
        path only when the export succeeded. A place that cannot be written
        raises OSError before the export starts."""
        request = pb.ExportSubjectRequest(
            name=name, same_person_systems=list(same_person_systems), decided_by=decided_by
        )
        if not isinstance(destination, str | Path):
            return self._export_to(request, destination, progress)
        with whole_file(destination) as out:
            return self._export_to(request, out, progress)

    def _export_to(
        self,
        request: pb.ExportSubjectRequest,
        out: BinaryIO,
        progress: Callable[[str, int, int], None] | None,
    ) -> ExportSummary:
        written = records = 0
        systems: dict[str, str] = {}
        # No overall deadline: a large export may stream for a long time.
        for message in self._subjects.ExportSubject(request):
            if message.HasField("progress"):
                event = message.progress
                if event.system == "vault":
                    records = event.records_done
                if event.state == pb.EXPORT_STATE_DONE:
                    systems[event.system] = "done"
                elif event.state == pb.EXPORT_STATE_FAILED:
                    systems[event.system] = f"failed: {event.error}"
                elif event.state == pb.EXPORT_STATE_WITHHELD:
                    systems[event.system] = f"withheld: {event.error}"
                elif event.state == pb.EXPORT_STATE_NO_MATCH:
                    tried = _kinds_in_words(event.tried_kinds)
                    systems[event.system] = f"no match (searched by {tried or 'nothing'})"
                if progress:
                    done = event.records_done if event.system == "vault" else event.items
                    total = event.records_total if event.system == "vault" else event.items
                    progress(event.system, done, total)
            else:
                out.write(message.archive_chunk)
                written += len(message.archive_chunk)
        return ExportSummary(records=records, bytes_written=written, systems=systems)

    def erase_subject(
        self,
        name: str,
        request_id: str | None = None,
        progress: Callable[[ErasureRequest], None] | None = None,
        wait: bool = True,
    ) -> ErasureRequest:
        """Erase the subject everywhere. Returns once the request rests (completed,
        partially completed or awaiting a manual action), or, with wait=False, as
        soon as it is accepted; `progress` sees each change."""
        request = pb.EraseSubjectRequest(name=name, request_id=request_id or _new_request_id())
        latest = None
        stream = self._subjects.EraseSubject(request)
        try:
            for message in stream:
                latest = _erasure_request(message.request)
                if progress:
                    progress(latest)
                if not wait:
                    break
        except grpc.RpcError as error:
            raise translate(error) from None
        finally:
            stream.cancel()
        assert latest is not None, "the server sent no erasure request"
        return latest

    @_translated
    def get_erasure_request(self, name: str) -> ErasureRequest:
        response = self._erasure.GetErasureRequest(
            pb.GetErasureRequestRequest(name=name), timeout=self.timeout
        )
        return _erasure_request(response.request)

    def list_erasure_requests(
        self, state: str = "", page_size: int = 100
    ) -> Iterator[ErasureRequest]:
        token = ""
        while True:
            page = self._erasure_page(state, page_size, token)
            yield from (_erasure_request(r) for r in page.requests)
            token = page.next_page_token
            if not token:
                return

    @_translated
    def _erasure_page(
        self, state: str, page_size: int, token: str
    ) -> pb.ListErasureRequestsResponse:
        number: Any = (
            pb.ErasureRequestState.Value(f"ERASURE_REQUEST_STATE_{state.upper()}") if state else 0
        )
        request = pb.ListErasureRequestsRequest(page_size=page_size, page_token=token, state=number)
        return self._erasure.ListErasureRequests(request, timeout=self.timeout)

    def watch_erasure_request(self, name: str) -> Iterator[ErasureRequest]:
        try:
            for message in self._erasure.WatchErasureRequest(
                pb.WatchErasureRequestRequest(name=name)
            ):
                yield _erasure_request(message.request)
        except grpc.RpcError as error:
            raise translate(error) from None

    @_translated
    def retry_erasure_request(self, name: str, request_id: str | None = None) -> ErasureRequest:
        request = pb.RetryErasureRequestRequest(
            name=name, request_id=request_id or _new_request_id()
        )
        return _erasure_request(
            self._erasure.RetryErasureRequest(request, timeout=self.timeout).request
        )

    @_translated
    def confirm_manual_action(
        self, name: str, confirmed_by: str, request_id: str | None = None
    ) -> ErasureRequest:
        request = pb.ConfirmManualActionRequest(
            name=name, confirmed_by=confirmed_by, request_id=request_id or _new_request_id()
        )
        return _erasure_request(
            self._erasure.ConfirmManualAction(request, timeout=self.timeout).request
        )

    @_translated
    def decide_match(
        self,
        request: str,
        system: str,
        decision: str,
        decided_by: str,
        request_id: str | None = None,
    ) -> ErasureRequest:
        """A privacy officer's decision on a step whose records may be someone
        else's: `decision` is "same_person" or "not_this_person"."""
        number = {
            "same_person": pb.MATCH_DECISION_SAME_PERSON,
            "not_this_person": pb.MATCH_DECISION_NOT_THIS_PERSON,
        }.get(decision, pb.MATCH_DECISION_UNSPECIFIED)
        message = pb.DecideMatchRequest(
            name=f"{request}/steps/{system}",
            decision=number,
            decided_by=decided_by,
            request_id=request_id or _new_request_id(),
        )
        return _erasure_request(self._erasure.DecideMatch(message, timeout=self.timeout).request)

    @_translated
    def list_connectors(self, check_health: bool = False) -> list[ConnectorInfo]:
        connectors, token = [], ""
        while True:
            response = self._connectors.ListConnectors(
                pb.ListConnectorsRequest(check_health=check_health, page_token=token),
                timeout=self.timeout,
            )
            connectors += [_connector(c) for c in response.connectors]
            token = response.next_page_token
            if not token:
                return connectors

    @_translated
    def check_connector(self, name: str) -> ConnectorInfo:
        response = self._connectors.CheckConnector(
            pb.CheckConnectorRequest(name=name), timeout=self.timeout
        )
        return _connector(response.connector)

    # -------------------------------------------------------------- tokens
    @_translated
    def create_token(
        self,
        role: str,
        *,
        system: str = "",
        name: str = "",
        expires_in: dt.timedelta | None = None,
        default_purpose: str = "",
    ) -> IssuedToken:
        """Issue a token for `role` (integrator, privacy_officer, auditor or
        admin; an integrator's names its `system`); an admin's call. Its
        secret is in the answer only. There is no request id: a retried call
        issues a second token (revoke the spare)."""
        request = pb.CreateTokenRequest(
            role=_ROLES.get(role, pb.ROLE_UNSPECIFIED),
            system=system,
            display_name=name,
            expires_in_seconds=round(expires_in.total_seconds()) if expires_in else 0,
            default_purpose=default_purpose,
        )
        response = self._access.CreateToken(request, timeout=self.timeout)
        return IssuedToken(_token(response.token), response.secret)

    @_translated
    def list_tokens(self, show_inactive: bool = False) -> list[Token]:
        """The tokens issued, newest first; revoked and expired ones too with
        `show_inactive`."""
        request = pb.ListTokensRequest(show_inactive=show_inactive)
        return [_token(t) for t in self._access.ListTokens(request, timeout=self.timeout).tokens]

    @_translated
    def revoke_token(self, name: str) -> Token:
        """Revoke `tokens/{token}`; revoking again answers the same."""
        request = pb.RevokeTokenRequest(name=name)
        return _token(self._access.RevokeToken(request, timeout=self.timeout).token)

    # ---------------------------------------------------------- audit trail
    def list_audit_events(
        self,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        actor: str = "",
        operation: str = "",
        subject: str = "",
        sensitive: bool | None = None,
        page_size: int = 100,
    ) -> Iterator[AuditEvent]:
        """The audit events, oldest first, fetched page by page: those at or
        after `since` and before `until`, of `actor` exactly as events name it,
        of `operation` ("get record"), about `subject` (`subjects/{subject}`,
        only while they exist), sensitive or not (`sensitive` True or False;
        None for both)."""
        request = pb.ListAuditEventsRequest(
            page_size=page_size,
            actor=actor,
            operation=operation,
            subject=subject,
            sensitive={
                None: pb.SENSITIVE_FILTER_UNSPECIFIED,
                True: pb.SENSITIVE_FILTER_ONLY,
                False: pb.SENSITIVE_FILTER_EXCLUDED,
            }[sensitive],
        )
        if since is not None:
            request.start_time.FromDatetime(since.astimezone(_UTC))
        if until is not None:
            request.end_time.FromDatetime(until.astimezone(_UTC))
        while True:
            page = self._audit_page(request)
            yield from (_audit_event(e) for e in page.events)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    @_translated
    def _audit_page(self, request: pb.ListAuditEventsRequest) -> pb.ListAuditEventsResponse:
        return self._audit.ListAuditEvents(request, timeout=self.timeout)

    @_translated
    def tree_head(self, size: int = 0) -> TreeHeadWithKey:
        """The latest signed tree head (or the one of `size` events), with the
        public key that verifies it."""
        response = self._audit.GetTreeHead(pb.GetTreeHeadRequest(size=size), timeout=self.timeout)
        return TreeHeadWithKey(
            _tree_head(response.head), response.public_key, response.public_key_pem
        )

    @_translated
    def inclusion_proof(self, index: int, tree_size: int = 0) -> InclusionProof:
        """The proof that the event at `index` is in the signed head of
        `tree_size` events (0: the latest)."""
        response = self._audit.GetInclusionProof(
            pb.GetInclusionProofRequest(index=index, tree_size=tree_size), timeout=self.timeout
        )
        return InclusionProof(
            _audit_event(response.event),
            _tree_head(response.head),
            response.leaf_hash,
            list(response.audit_path),
        )

    @_translated
    def consistency_proof(self, first_size: int, second_size: int = 0) -> ConsistencyProof:
        """The proof that the signed head of `first_size` events is a prefix
        of the one of `second_size` (0: the latest)."""
        response = self._audit.GetConsistencyProof(
            pb.GetConsistencyProofRequest(first_size=first_size, second_size=second_size),
            timeout=self.timeout,
        )
        return ConsistencyProof(
            _tree_head(response.first), _tree_head(response.second), list(response.proof)
        )

    # ------------------------------------------------------------- records
    @_translated
    def create_record(
        self,
        subject: str,
        *,
        category: str,
        purpose: str,
        legal_basis: str,
        source_system: str,
        fields: dict[str, Any] | None = None,
        content: Content | None = None,
        request_id: str | None = None,
    ) -> Record:
        request = pb.CreateRecordRequest(
            parent=subject,
            record=_record_pb(category, purpose, legal_basis, source_system, fields, content),
            request_id=request_id or _new_request_id(),
        )
        return _record(self._records.CreateRecord(request, timeout=self.timeout).record)

    @_translated
    def get_record(self, name: str, purpose: str = "") -> Record:
        """The record, read for `purpose` ("": the token's default purpose)."""
        request = pb.GetRecordRequest(name=name, purpose=purpose)
        return _record(self._records.GetRecord(request, timeout=self.timeout).record)

    @_translated
    def update_record(self, name: str, *, request_id: str | None = None, **changes: Any) -> Record:
        """Rectify a record: pass any of fields, content, purpose, legal_basis, source_system."""
        record = _record_pb(
            "",
            changes.get("purpose", ""),
            changes.get("legal_basis"),
            changes.get("source_system", ""),
            changes.get("fields"),
            changes.get("content"),
        )
        record.name = name
        request = pb.UpdateRecordRequest(
            record=record,
            update_mask=field_mask_pb2.FieldMask(paths=sorted(changes)),
            request_id=request_id or _new_request_id(),
        )
        return _record(self._records.UpdateRecord(request, timeout=self.timeout).record)

    def list_records(
        self, subject: str, category: str = "", page_size: int = 100, purpose: str = ""
    ) -> Iterator[Record]:
        """Every record of the subject that may be read for `purpose` ("": the
        token's default purpose), fetched page by page."""
        token = ""
        while True:
            page = self._list_page(subject, category, page_size, token, purpose)
            yield from (_record(r) for r in page.records)
            token = page.next_page_token
            if not token:
                return

    @_translated
    def _list_page(
        self, subject: str, category: str, page_size: int, token: str, purpose: str
    ) -> pb.ListRecordsResponse:
        request = pb.ListRecordsRequest(
            parent=subject,
            category=category,
            page_size=page_size,
            page_token=token,
            purpose=purpose,
        )
        return self._records.ListRecords(request, timeout=self.timeout)

    def stream_records(
        self, subject: str, category: str = "", purpose: str = ""
    ) -> Iterator[Record]:
        """The subject's records that may be read for `purpose`, oldest first."""
        try:
            for message in self._records.StreamRecords(
                pb.StreamRecordsRequest(parent=subject, category=category, purpose=purpose)
            ):
                yield _record(message.record)
        except grpc.RpcError as error:
            raise translate(error) from None

    @_translated
    def import_records(
        self, items: Iterable[tuple[str, Record]], request_id: str | None = None, batch: int = 1000
    ) -> int:
        """Store many (subject name, record) pairs in one all-or-nothing call."""
        first_id = request_id or _new_request_id()

        def messages() -> Iterator[pb.ImportRecordsRequest]:
            chunk: list[pb.ImportedRecord] = []
            sent = False
            for subject, record in items:
                chunk.append(
                    pb.ImportedRecord(
                        parent=subject,
                        record=_record_pb(
                            record.category,
                            record.purpose,
                            record.legal_basis,
                            record.source_system,
                            record.fields,
                            record.content,
                        ),
                    )
                )
                if len(chunk) >= batch:
                    yield pb.ImportRecordsRequest(
                        request_id="" if sent else first_id, records=chunk
                    )
                    chunk, sent = [], True
            if chunk or not sent:
                yield pb.ImportRecordsRequest(request_id="" if sent else first_id, records=chunk)

        return self._records.ImportRecords(
            messages(), timeout=max(self.timeout, 300)
        ).imported_count

    @_translated
    def erase_category(
        self,
        subject: str,
        category: str,
        request_id: str | None = None,
        *,
        purpose: str | None = None,
    ) -> CategoryErasure:
        """Erase the subject's records of `category`, every purpose's, or with
        `purpose` that purpose's alone (the category's others stay readable)."""
        request = pb.EraseCategoryRequest(
            parent=subject,
            category=category,
            request_id=request_id or _new_request_id(),
            purpose=purpose or "",
        )
        answer = self._records.EraseCategory(request, timeout=self.timeout)
        return CategoryErasure(
            category=answer.category,
            purposes=list(answer.purposes),
            records_shredded=answer.records_shredded,
            keys_destroyed=answer.keys_destroyed,
            erase_time=answer.erase_time.ToDatetime(tzinfo=_UTC),
        )

    # ------------------------------------------------------------- consent
    @_translated
    def record_consent(
        self,
        subject: str,
        purposes: str | Iterable[str],
        status: str,
        channel: str,
        *,
        evidence: str = "",
        policy_version: str = "",
        time: dt.datetime | None = None,
        expire_time: dt.datetime | None = None,
        request_id: str | None = None,
    ) -> list[ConsentEvent]:
        """Record that the person `subject` (`subjects/{subject}`) said
        `status` (given, refused, withdrawn or renewed) for each of
        `purposes` (one purpose may be a str), all or nothing, through
        `channel` (web_form, email, in_person, phone, paper_form, sms or
        other), with `evidence` (a form submission's id, a short text). The
        status and the channel are taken in any case, with spaces or hyphens
        for the underscores ("web form", "e-mail", "In person", "GIVEN"); a
        word the vault does not take is refused by the server, naming the
        field and the words it takes. `policy_version` is the version they
        were shown ("" the one in effect at `time`), `time` when they said it
        (None: now), `expire_time` the end of consent given for a while.
        Withdrawn with no purposes: every consent that stands. The events
        recorded, one per purpose (`recorded_consent` answers the erasure
        requests a withdrawal started, too)."""
        return self.recorded_consent(
            subject,
            purposes,
            status,
            channel,
            evidence=evidence,
            policy_version=policy_version,
            time=time,
            expire_time=expire_time,
            request_id=request_id,
        ).events

    @_translated
    def recorded_consent(
        self,
        subject: str,
        purposes: str | Iterable[str],
        status: str,
        channel: str,
        *,
        evidence: str = "",
        policy_version: str = "",
        time: dt.datetime | None = None,
        expire_time: dt.datetime | None = None,
        request_id: str | None = None,
    ) -> RecordedConsent:
        """`record_consent`, answering what it did: the events, and the
        erasure request of each purpose whose consent no longer stands (the
        vault's share shredded before the answer; ErasureService follows the
        systems')."""
        request = pb.RecordConsentRequest(
            subject=subject,
            # One purpose may be given as it is, not as a list of one.
            purposes=[purposes] if isinstance(purposes, str) else list(purposes),
            status=consent.status_number(status),
            channel=consent.channel_number(channel),
            evidence=evidence,
            policy_version=policy_version,
            request_id=request_id or _new_request_id(),
        )
        if time is not None:
            request.time.CopyFrom(consent.timestamp(time))
        if expire_time is not None:
            request.expire_time.CopyFrom(consent.timestamp(expire_time))
        answer = self._consent.RecordConsent(request, timeout=self.timeout)
        return RecordedConsent(
            [consent.consent_event(event) for event in answer.events],
            list(answer.erasure_requests),
        )

    @_translated
    def consent_state(self, subject: str) -> list[PurposeConsent]:
        """The person's standing now for every consent-based purpose (an
        integrator's: its system's), by purpose."""
        answer = self._consent.GetConsentState(
            pb.GetConsentStateRequest(subject=subject), timeout=self.timeout
        )
        return [consent.purpose_consent(state) for state in answer.purposes]

    def consent_history(
        self, subject: str, purpose: str = "", page_size: int = 100
    ) -> Iterator[ConsentEvent]:
        """The person's consent events, oldest first, of `purpose` or ("")
        every purpose, fetched page by page."""
        request = pb.ListConsentEventsRequest(subject=subject, purpose=purpose, page_size=page_size)
        while True:
            page = self._consent_page(request)
            yield from (consent.consent_event(event) for event in page.events)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    @_translated
    def _consent_page(self, request: pb.ListConsentEventsRequest) -> pb.ListConsentEventsResponse:
        return self._consent.ListConsentEvents(request, timeout=self.timeout)

    @_translated
    def export_consent_records(self, subject: str) -> ConsentExport:
        """The person's consent records as JSON-LD (the W3C DPV profile of
        ISO/IEC TS 27560); a privacy officer's call."""
        answer = self._consent.ExportConsentRecords(
            pb.ExportConsentRecordsRequest(subject=subject), timeout=self.timeout
        )
        return ConsentExport(answer.document, answer.media_type, answer.record_count)

    # -------------------------------------------------------------- policy
    @_translated
    def list_purposes(self) -> list[Purpose]:
        """Every purpose the vault processes for, by name."""
        answer = self._policy.ListPurposes(pb.ListPurposesRequest(), timeout=self.timeout)
        return [consent.purpose(p) for p in answer.purposes]

    @_translated
    def publish_policy(
        self,
        version: str,
        effective_date: dt.date,
        *,
        text: str = "",
        text_sha256: str = "",
        url: str = "",
        changed_purposes: Iterable[str] = (),
        material_purposes: Iterable[str] = (),
        summary: str = "",
        request_id: str | None = None,
    ) -> PolicyVersion:
        """Publish policy `version` (a new name, like 2026-02), in effect from
        `effective_date` (not before the latest version's): its `text`, or its
        `text_sha256` and the `url` it is published at; the purposes it
        changes (those whose configuration says their changes are material
        count as changed materially) and those it changes materially whatever
        the configuration says. A published version never changes."""
        request = pb.PublishPolicyVersionRequest(
            version=version,
            effective_date=effective_date.isoformat(),
            text=text,
            text_sha256=text_sha256,
            url=url,
            changed_purposes=list(changed_purposes),
            material_purposes=list(material_purposes),
            summary=summary,
            request_id=request_id or _new_request_id(),
        )
        answer = self._policy.PublishPolicyVersion(request, timeout=self.timeout)
        return consent.policy_version(answer.version)

    @_translated
    def policy_versions(self) -> list[PolicyVersion]:
        """Every published version, the first published first."""
        answer = self._policy.ListPolicyVersions(
            pb.ListPolicyVersionsRequest(), timeout=self.timeout
        )
        return [consent.policy_version(v) for v in answer.versions]

    def reconsent_needed(
        self, purpose: str = "", page_size: int = 100
    ) -> Iterator[ReconsentNeeded]:
        """The people who must consent again for `purpose` or ("") any
        consent-based purpose, by purpose and subject, fetched page by page."""
        request = pb.ListReconsentNeededRequest(purpose=purpose, page_size=page_size)
        while True:
            page = self._reconsent_page(request)
            yield from (consent.reconsent_needed(person) for person in page.people)
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    @_translated
    def _reconsent_page(
        self, request: pb.ListReconsentNeededRequest
    ) -> pb.ListReconsentNeededResponse:
        return self._policy.ListReconsentNeeded(request, timeout=self.timeout)

    def stream_reconsent_needed(self, purpose: str = "") -> Iterator[ReconsentNeeded]:
        """The same people as `reconsent_needed`, in one stream (for a mailing
        to many): no deadline, as for an export."""
        try:
            for message in self._policy.StreamReconsentNeeded(
                pb.StreamReconsentNeededRequest(purpose=purpose)
            ):
                yield consent.reconsent_needed(message.person)
        except grpc.RpcError as error:
            raise translate(error) from None

    def contactable(
        self, purpose: str, resume_token: str = "", page_size: int = 0
    ) -> consent.ContactStream:
        """The people who may be contacted for `purpose` (a mailing's list), by
        subject, as one stream with no deadline; iterate it for the people,
        and keep its `resume_token` to continue after a break."""
        return consent.ContactStream(
            self._consent.StreamContactable, purpose, resume_token, page_size
        )


# ------------------------------------------------------------ conversion


def _new_request_id() -> str:
    return str(uuid.uuid4())


def _import_batches(people: Iterable[NewSubject], batch: int) -> Iterator[pb.ImportSubjectsRequest]:
    """The people as ImportSubjects messages, each within the API's limits; the
    cut depends on the people alone, so the same people give the same messages."""
    size = min(batch, IMPORT_BATCH_SUBJECTS)
    message = pb.ImportSubjectsRequest()
    records = message_bytes = 0
    for index, person in enumerate(people):
        # A person who cannot be sent fails where they are: the messages before
        # are all sent (a full one goes at once), theirs is not.
        subject = _imported_subject(person, f"subjects[{index}]")
        subject_bytes = subject.ByteSize() + 8  # and its field's tag and length, at most
        if message.subjects and (
            records + len(person.records) > IMPORT_BATCH_RECORDS
            or message_bytes + subject_bytes > IMPORT_BATCH_BYTES
        ):
            yield message
            message, records, message_bytes = pb.ImportSubjectsRequest(), 0, 0
        message.subjects.append(subject)
        records += len(person.records)
        message_bytes += subject_bytes
        if len(message.subjects) == size:
            yield message
            message, records, message_bytes = pb.ImportSubjectsRequest(), 0, 0
    if message.subjects:
        yield message


def _imported_subject(person: NewSubject, where: str) -> pb.ImportedSubject:
    """What only the server can judge (an identity's kind, a legal basis) it
    judges, naming the person by their place `where`."""
    subject = pb.ImportedSubject(
        identities=[
            pb.Identity(
                kind=_KINDS.get(i.kind, pb.IDENTITY_KIND_UNSPECIFIED),
                value=i.value,
                system=i.system,
            )
            for i in person.identities
        ],
        roles=list(person.roles),
        protected_identity=person.protected_identity,
    )
    for number, r in enumerate(person.records):
        try:
            subject.records.append(
                _record_pb(
                    r.category, r.purpose, r.legal_basis, r.source_system, r.fields, r.content
                )
            )
        except VaultClientError as error:
            field = f"{where}.records[{number}]"
            raise type(error)(
                error.code,
                f"{field}.{error.message}",
                error.reason,
                {**error.metadata, "field": f"{field}.{error.field}"},
            ) from None
    return subject


_PLACE = re.compile(r"subjects\[(\d+)\]")


def _placed(error: VaultClientError, first: int) -> VaultClientError:
    """An error of a call whose first person was `first` in all the people given,
    naming its person by their place among all of them rather than in the call."""
    if not first or not (error.field or "").startswith("subjects["):
        return error

    def place(text: str) -> str:
        return _PLACE.sub(lambda m: f"subjects[{int(m[1]) + first}]", text, count=1)

    metadata = {**error.metadata, "field": place(error.metadata["field"])}
    return type(error)(error.code, place(error.message), error.reason, metadata)


def _identity_pb(identity: Identity) -> pb.Identity:
    kind = _KINDS.get(identity.kind)
    if kind is None:
        raise VaultClientError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"identity kind must be one of {', '.join(_KINDS)}",
            "INVALID_FIELD",
            {"field": "identity.kind"},
        )
    return pb.Identity(kind=kind, value=identity.value, system=identity.system)


def _record_pb(
    category: str,
    purpose: str,
    legal_basis: str | None,
    source_system: str,
    fields: dict[str, Any] | None,
    content: Content | None,
) -> pb.Record:
    record = pb.Record(
        category=category,
        purpose=purpose,
        legal_basis=_BASES.get(legal_basis or "", pb.LEGAL_BASIS_UNSPECIFIED),
        source_system=source_system,
    )
    if fields:
        record.fields.update(fields)
    if content is not None:
        if not content.has_data:
            # Sent back, a write's answer would replace the stored bytes with none.
            raise VaultClientError(
                grpc.StatusCode.INVALID_ARGUMENT,
                "content: holds no bytes (an answer to a write carries only their size and "
                "digest); pass the bytes, or a Content read with get_record",
                "INVALID_FIELD",
                {"field": "content"},
            )
        record.content.CopyFrom(
            pb.Content(data=content.data, media_type=content.media_type, filename=content.filename)
        )
    return record


def _subject(message: pb.Subject) -> Subject:
    return Subject(
        name=message.name,
        identities=[
            Identity(_KIND_NAMES.get(i.kind, "unspecified"), i.value, i.system)
            for i in message.identities
        ],
        roles=list(message.roles),
        protected_identity=message.protected_identity,
        state=pb.SubjectState.Name(message.state).removeprefix("SUBJECT_STATE_").lower(),
        create_time=message.create_time.ToDatetime(tzinfo=_UTC),
        update_time=message.update_time.ToDatetime(tzinfo=_UTC),
        masked=message.masked,
    )


def _record(message: pb.Record) -> Record:
    content = None
    if message.HasField("content"):
        content = Content(
            message.content.data,
            message.content.media_type,
            message.content.filename,
            # A server older than size and digest sends neither: they follow from data.
            message.content.size or -1,
            message.content.sha256,
        )
    return Record(
        name=message.name,
        category=message.category,
        purpose=message.purpose,
        legal_basis=_BASIS_NAMES.get(message.legal_basis, "unspecified"),
        source_system=message.source_system,
        fields=json_format.MessageToDict(message.fields),
        content=content,
        create_time=message.create_time.ToDatetime(tzinfo=_UTC),
        update_time=message.update_time.ToDatetime(tzinfo=_UTC),
        masked=message.masked,
    )


def _erasure_request(message: pb.ErasureRequest) -> ErasureRequest:
    def name_of(enum: Any, number: int, prefix: str) -> str:
        return enum.Name(number).removeprefix(prefix).lower()

    return ErasureRequest(
        name=message.name,
        subject=message.subject,
        state=name_of(pb.ErasureRequestState, message.state, "ERASURE_REQUEST_STATE_"),
        create_time=message.create_time.ToDatetime(tzinfo=_UTC),
        deadline_time=message.deadline_time.ToDatetime(tzinfo=_UTC),
        # A server from before scopes sends none: its erasures are of the whole person.
        scope=name_of(pb.ErasureScope, message.scope, "ERASURE_SCOPE_")
        if message.scope
        else "subject",
        purpose=message.purpose,
        steps=[
            ErasureStep(
                system=step.system,
                state=name_of(pb.ErasureStepState, step.state, "ERASURE_STEP_STATE_"),
                attempts=step.attempts,
                last_error=step.last_error,
                items=[
                    ErasureItem(
                        outcome=name_of(
                            pb.ErasureOutcome, item.outcome, "ERASURE_OUTCOME_"
                        ).replace("manual_action_required", "manual_action"),
                        category=item.category,
                        description=item.description,
                        legal_reason=item.legal_reason,
                        retained_until=dt.date.fromisoformat(item.retained_until)
                        if item.retained_until
                        else None,
                        manual_action=item.manual_action,
                        instructions=item.instructions,
                        confirmed_by=item.confirmed_by,
                        tried_kinds=[_kind_name(k) for k in item.tried_kinds],
                    )
                    for item in step.items
                ],
                conflict=list(step.conflict.disagreements),
                notes=list(step.notes),
                decision=name_of(pb.MatchDecision, step.decision, "MATCH_DECISION_")
                if step.decision
                else "",
                decided_by=step.decided_by,
            )
            for step in message.steps
        ],
    )


def _kind_name(number: int) -> str:
    return str(pb.IdentityKind.Name(number)).removeprefix("IDENTITY_KIND_").lower()


def _connector(message: pb.Connector) -> ConnectorInfo:
    return ConnectorInfo(
        name=message.name,
        version=message.version,
        enabled=message.enabled,
        healthy=message.healthy,
        health_detail=message.health_detail,
        description=message.description,
        location=message.location,
        holdings=[
            HeldCategory(
                h.category,
                h.description,
                h.purpose,
                _BASIS_NAMES.get(h.legal_basis, "unspecified"),
                h.retention,
                h.erasable,
                h.legal_reason,
            )
            for h in message.holdings
        ],
        capabilities=list(message.capabilities),
    )


def _token(message: pb.Token) -> Token:
    def time(field: str) -> dt.datetime | None:
        if not message.HasField(field):
            return None
        return getattr(message, field).ToDatetime(tzinfo=_UTC)  # type: ignore[no-any-return]

    return Token(
        name=message.name,
        display_name=message.display_name,
        role=_ROLE_NAMES.get(message.role, "unspecified"),
        system=message.system,
        create_time=message.create_time.ToDatetime(tzinfo=_UTC),
        expire_time=time("expire_time"),
        revoke_time=time("revoke_time"),
        last_use_time=time("last_use_time"),
        default_purpose=message.default_purpose,
    )


def _audit_event(message: pb.AuditEvent) -> AuditEvent:
    return AuditEvent(
        index=message.index if message.HasField("index") else None,
        time=message.time.ToDatetime(tzinfo=_UTC),
        actor=message.actor,
        role=message.role,
        system=message.system,
        operation=message.operation,
        subject_pseudonym=message.subject_pseudonym,
        purpose=message.purpose,
        sensitive=message.sensitive,
        result=message.result,
        detail=message.detail,
        entry=message.entry,
    )


def _tree_head(message: pb.TreeHead) -> TreeHead:
    return TreeHead(
        size=message.size,
        root_hash=message.root_hash,
        time=message.time.ToDatetime(tzinfo=_UTC),
        signature=message.signature,
    )
