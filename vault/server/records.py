"""RecordService: translates requests to Vault calls and results to responses."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

from vault.core.errors import InvalidArgument
from vault.core.model import RecordDraft
from vault.core.vault import RecordChanges
from vault.server import convert
from vault.server.actor import actor_of
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.v1 import vault_pb2 as pb

_RECORD_MASK = {"fields", "content", "purpose", "legal_basis", "source_system"}


class RecordService:
    def __init__(self, services: VaultServices) -> None:
        self.vault = services.vault
        self.stores_embedded = services.stores_embedded

    async def CreateRecord(
        self, request: pb.CreateRecordRequest, context: CallContext
    ) -> pb.CreateRecordResponse:
        # The hottest write runs on the event loop and awaits the core, which
        # awaits the store's grouped write: no thread waits out the commit. Over
        # a network database the core's reads before the write (a replayed
        # request id, a key) wait on the network, so it all runs on a thread.
        subject_id = convert.subject_id(request.parent, "parent")
        if not request.HasField("record"):
            raise InvalidArgument("record", "must be set")
        draft = convert.record_draft(request.record, "record")
        actor = actor_of(context)
        if self.stores_embedded:
            record = await self.vault.create_record_async(
                actor, subject_id, draft, request.request_id
            )
        else:
            record = await asyncio.to_thread(
                self.vault.create_record, actor, subject_id, draft, request.request_id
            )
        # The stored fields are the request's, validated: copy its Struct.
        return pb.CreateRecordResponse(
            record=convert.record_message(record, fields=request.record.fields, with_data=False)
        )

    async def GetRecord(
        self, request: pb.GetRecordRequest, context: CallContext
    ) -> pb.GetRecordResponse:
        # A read of one record from local storage runs on the event loop (no
        # thread handoff, most of what a call costs), and awaits its audit
        # event's group commit rather than stalling the loop on it. Over a
        # network database the read itself waits on the network: a thread.
        subject_id, record_id = convert.record_id(request.name, "name")
        actor = actor_of(context)
        if self.stores_embedded:
            record = await self.vault.get_record_async(
                actor, record_id, subject_id, request.purpose
            )
        else:
            record = await asyncio.to_thread(
                self.vault.get_record, actor, record_id, subject_id, request.purpose
            )
        return pb.GetRecordResponse(record=convert.record_message(record))

    def UpdateRecord(
        self, request: pb.UpdateRecordRequest, context: CallContext
    ) -> pb.UpdateRecordResponse:
        subject_id, record_id = convert.record_id(request.record.name, "record.name")
        paths = set(request.update_mask.paths)
        if "category" in paths:
            raise InvalidArgument(
                "update_mask", "category cannot change; create a new record instead"
            )
        if not paths or not paths <= _RECORD_MASK:
            raise InvalidArgument(
                "update_mask", f"must name some of {', '.join(sorted(_RECORD_MASK))}"
            )
        record = request.record
        has_content = record.HasField("content") and bool(record.content.data)
        changes = RecordChanges(
            purpose=record.purpose if "purpose" in paths else None,
            legal_basis=convert.legal_basis(record.legal_basis, "record.legal_basis")
            if "legal_basis" in paths
            else None,
            source_system=record.source_system if "source_system" in paths else None,
            fields=convert.struct_to_dict(record.fields) if "fields" in paths else None,
            content=convert.content(record) if "content" in paths and has_content else None,
            clear_content="content" in paths and not has_content,
        )
        updated = self.vault.update_record(
            actor_of(context), record_id, changes, request.request_id, subject_id
        )
        return pb.UpdateRecordResponse(record=convert.record_message(updated, with_data=False))

    def ListRecords(
        self, request: pb.ListRecordsRequest, context: CallContext
    ) -> pb.ListRecordsResponse:
        subject_id = convert.subject_id(request.parent, "parent")
        page = self.vault.list_records(
            actor_of(context),
            subject_id,
            request.category or None,
            request.page_size,
            request.page_token,
            request.purpose,
        )
        return pb.ListRecordsResponse(
            records=[convert.record_message(record) for record in page.records],
            next_page_token=page.next_page_token,
        )

    def StreamRecords(
        self, request: pb.StreamRecordsRequest, context: CallContext
    ) -> Iterator[pb.StreamRecordsResponse]:
        subject_id = convert.subject_id(request.parent, "parent")
        for record in self.vault.stream_records(
            actor_of(context), subject_id, request.category or None, request.purpose
        ):
            yield pb.StreamRecordsResponse(record=convert.record_message(record))

    def ImportRecords(
        self, requests: Iterator[pb.ImportRecordsRequest], context: CallContext
    ) -> pb.ImportRecordsResponse:
        stream = iter(requests)
        first = next(stream, None)
        if first is None:
            raise InvalidArgument("records", "must hold at least one record")

        def items() -> Iterator[tuple[str, RecordDraft]]:
            index = 0
            for request in itertools.chain([first], stream):
                for item in request.records:
                    field = f"records[{index}]"
                    subject_id = convert.subject_id(item.parent, f"{field}.parent")
                    yield subject_id, convert.record_draft(item.record, f"{field}.record")
                    index += 1

        # The request id for the whole import travels in the first message.
        count = self.vault.import_records(actor_of(context), items(), first.request_id)
        return pb.ImportRecordsResponse(imported_count=count)

    def EraseCategory(
        self, request: pb.EraseCategoryRequest, context: CallContext
    ) -> pb.EraseCategoryResponse:
        subject_id = convert.subject_id(request.parent, "parent")
        erasure = self.vault.erase_category(
            actor_of(context),
            subject_id,
            request.category,
            request.request_id,
            # Empty: every purpose of the category.
            purpose=request.purpose or None,
        )
        return pb.EraseCategoryResponse(
            category=erasure.category,
            records_shredded=erasure.records_shredded,
            erase_time=convert.timestamp(erasure.erased_at),
            purposes=erasure.purposes,
            keys_destroyed=erasure.keys_destroyed,
        )
