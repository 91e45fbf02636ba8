"""SubjectService: translates requests to Vault calls and results to responses."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

from vault.core import rules
from vault.core.errors import InvalidArgument
from vault.core.export import ExportProgress, SystemProgress
from vault.core.fanout import export_everywhere
from vault.core.identities import IdentityKind
from vault.core.vault import SubjectBatch
from vault.reports.archive import export_archive
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb

_SUBJECT_MASK = {"roles", "protected_identity"}
_EXPORT_STATE = {
    "running": pb.EXPORT_STATE_RUNNING,
    "done": pb.EXPORT_STATE_DONE,
    "failed": pb.EXPORT_STATE_FAILED,
    "no_match": pb.EXPORT_STATE_NO_MATCH,
    "withheld": pb.EXPORT_STATE_WITHHELD,
}


class SubjectService:
    def __init__(self, services: VaultServices) -> None:
        self.services = services
        self.vault = services.vault

    def CreateSubject(
        self, request: pb.CreateSubjectRequest, context: CallContext
    ) -> pb.CreateSubjectResponse:
        identities = [
            convert.identity_input(identity, f"identities[{i}]")
            for i, identity in enumerate(request.identities)
        ]
        subject = self.vault.create_subject(
            actor_of(context),
            identities,
            list(request.roles),
            request.protected_identity,
            request.request_id,
        )
        return pb.CreateSubjectResponse(subject=convert.subject_message(subject))

    def ImportSubjects(
        self, requests: Iterator[pb.ImportSubjectsRequest], context: CallContext
    ) -> pb.ImportSubjectsResponse:
        def batches() -> Iterator[SubjectBatch]:
            # Converted a message at a time, as the core asks for it: a bad
            # item fails its own batch, after the batches before it were stored.
            index = 0  # in the whole stream, which is how an error names an item
            for request in requests:
                subjects = []
                for message in request.subjects:
                    subjects.append(convert.new_subject(message, f"subjects[{index}]"))
                    index += 1
                yield SubjectBatch(subjects, request.request_id)

        imported = self.vault.import_subjects(actor_of(context), batches())
        return pb.ImportSubjectsResponse(
            imported_subject_count=len(imported.subject_ids),
            imported_record_count=imported.record_count,
            # An empty id is a protected identity the caller may not see: left empty.
            subjects=[convert.subject_name(i) if i else "" for i in imported.subject_ids],
        )

    # Reads of one subject from local storage run on the event loop and await
    # their audit event's group commit (as GetRecord does); over a network
    # database, on a thread.
    async def GetSubject(
        self, request: pb.GetSubjectRequest, context: CallContext
    ) -> pb.GetSubjectResponse:
        actor, subject_id = actor_of(context), convert.subject_id(request.name, "name")
        if self.services.stores_embedded:
            subject = await self.vault.get_subject_async(actor, subject_id)
        else:
            subject = await asyncio.to_thread(self.vault.get_subject, actor, subject_id)
        return pb.GetSubjectResponse(subject=convert.subject_message(subject))

    async def FindSubject(
        self, request: pb.FindSubjectRequest, context: CallContext
    ) -> pb.FindSubjectResponse:
        if not request.HasField("identity"):
            raise InvalidArgument("identity", "must be set")
        actor = actor_of(context)
        identity = convert.identity_input(request.identity, "identity")
        if self.services.stores_embedded:
            subject = await self.vault.find_subject_async(actor, identity)
        else:
            subject = await asyncio.to_thread(self.vault.find_subject, actor, identity)
        return pb.FindSubjectResponse(subject=convert.subject_message(subject))

    def UpdateSubject(
        self, request: pb.UpdateSubjectRequest, context: CallContext
    ) -> pb.UpdateSubjectResponse:
        subject_id = convert.subject_id(request.name, "name")
        paths = set(request.update_mask.paths)
        if not paths or not paths <= _SUBJECT_MASK:
            raise InvalidArgument("update_mask", "must name roles and/or protected_identity")
        subject = self.vault.update_subject(
            actor_of(context),
            subject_id,
            list(request.roles) if "roles" in paths else None,
            request.protected_identity if "protected_identity" in paths else None,
            request.request_id,
        )
        return pb.UpdateSubjectResponse(subject=convert.subject_message(subject))

    def AddIdentity(
        self, request: pb.AddIdentityRequest, context: CallContext
    ) -> pb.AddIdentityResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        identity = convert.identity_input(request.identity, "identity")
        subject = self.vault.add_identity(
            actor_of(context), subject_id, identity, request.request_id
        )
        return pb.AddIdentityResponse(subject=convert.subject_message(subject))

    def RectifyIdentity(
        self, request: pb.RectifyIdentityRequest, context: CallContext
    ) -> pb.RectifyIdentityResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        old = convert.identity_input(request.old_identity, "old_identity")
        new = convert.identity_input(request.new_identity, "new_identity")
        subject = self.vault.rectify_identity(
            actor_of(context), subject_id, old, new, request.request_id
        )
        return pb.RectifyIdentityResponse(subject=convert.subject_message(subject))

    def RemoveIdentity(
        self, request: pb.RemoveIdentityRequest, context: CallContext
    ) -> pb.RemoveIdentityResponse:
        subject_id = convert.subject_id(request.subject, "subject")
        identity = convert.identity_input(request.identity, "identity")
        subject = self.vault.remove_identity(
            actor_of(context), subject_id, identity, request.request_id
        )
        return pb.RemoveIdentityResponse(subject=convert.subject_message(subject))

    def ExportSubject(
        self, request: pb.ExportSubjectRequest, context: CallContext
    ) -> Iterator[pb.ExportSubjectResponse]:
        services = self.services
        export = export_everywhere(
            actor_of(context),
            self.vault,
            services.connectors,
            services.holdings,
            convert.subject_id(request.name, "name"),
            services.export_timeout_seconds,
            same_person=[
                rules.system(name, f"same_person_systems[{index}]")
                for index, name in enumerate(request.same_person_systems)
            ],
            decided_by=request.decided_by,
            controller=services.controller,
        )
        for event in export_archive(export):
            if isinstance(event, ExportProgress):
                yield pb.ExportSubjectResponse(
                    progress=pb.ExportProgress(
                        system="vault",
                        records_done=event.records_done,
                        records_total=event.records_total,
                        state=pb.EXPORT_STATE_DONE
                        if event.records_done == event.records_total
                        else pb.EXPORT_STATE_RUNNING,
                        items=event.records_done,
                    )
                )
            elif isinstance(event, SystemProgress):
                yield pb.ExportSubjectResponse(
                    progress=pb.ExportProgress(
                        system=event.system,
                        state=_EXPORT_STATE[event.state],
                        items=event.items,
                        error=event.error,
                        tried_kinds=[
                            convert.KIND_TO_PB[IdentityKind(kind)] for kind in event.tried
                        ],
                    )
                )
            else:
                yield pb.ExportSubjectResponse(archive_chunk=event)

    def EraseSubject(
        self, request: pb.EraseSubjectRequest, context: CallContext
    ) -> Iterator[pb.EraseSubjectResponse]:
        coordinator = self.services.coordinator
        accepted = coordinator.request(
            actor_of(context), convert.subject_id(request.name, "name"), request.request_id
        )
        # The request is durable before the first message goes out; a client
        # that stops listening stops only the stream, not the erasure.
        for view in coordinator.watch(
            actor_of(context), accepted.request_id, stop=call_ended(context)
        ):
            yield pb.EraseSubjectResponse(request=convert.erasure_request_message(view))


def call_ended(context: CallContext) -> threading.Event:
    """An event set when the call ends (finished, cancelled, or the server stopping)."""
    ended = threading.Event()
    context.add_callback(ended.set)
    return ended
