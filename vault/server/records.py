"""RecordService: translates requests to Vault calls and results to responses."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from concurrent.futures import Executor
from typing import Any

from vault.core.errors import InvalidArgument
from vault.core.keys import NeedsNewKey
from vault.core.model import Record, RecordDraft
from vault.core.vault import PreparedRecord, RecordChanges, Vault
from vault.server import convert
from vault.server.context import VaultServices
from vault.server.registration import CallContext
from vault.storage.base import AppendOutcome
from vault.v1 import vault_pb2 as pb

_RECORD_MASK = {"fields", "content", "purpose", "legal_basis", "source_system"}


class _Settler:
    """Settles the loop's futures from the record store's writer thread, with
    one wake-up of the loop for all the writes one commit finished."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._due: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def settle_later(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        with self._lock:
            self._due.append((future, result, error))
            if len(self._due) > 1:
                return  # a wake-up is already on its way
        self._loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            due, self._due = self._due, []
        for future, result, error in due:
            if future.done():  # its caller gave up; the write stands regardless
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    async def appended(self, vault: Vault, prepared: PreparedRecord) -> AppendOutcome:
        """Append a prepared record without holding a thread while it commits."""
        committed: asyncio.Future[AppendOutcome] = self._loop.create_future()
        vault.submit_record(
            prepared, lambda outcome, error: self.settle_later(committed, outcome, error)
        )
        return await committed


class RecordService:
    # Reads of one item from local storage: served on the event loop (see
    # registration). Pages can hold a thousand items, so lists take the pool.
    INLINE = frozenset({"GetRecord"})

    def __init__(self, services: VaultServices, blocking: Executor | None = None) -> None:
        self.vault = services.vault
        self.blocking = blocking  # None: the loop's default executor
        self._settler: _Settler | None = None

    async def CreateRecord(
        self, request: pb.CreateRecordRequest, context: CallContext
    ) -> pb.CreateRecordResponse:
        # The hottest write runs on the event loop: checking and sealing, then
        # the record store commits it with others on its own thread and calls
        # back, so no thread waits out the commit. A subject's first record
        # of a category must first write a new key: that rare case takes the
        # blocking path on the pool.
        subject_id = convert.subject_id(request.parent, "parent")
        if not request.HasField("record"):
            raise InvalidArgument("record", "must be set")
        draft = convert.record_draft(request.record, "record")
        loop = asyncio.get_running_loop()
        try:
            prepared = self.vault.prepare_record(
                subject_id, draft, request.request_id, new_key=False
            )
        except NeedsNewKey:
            prepared = None
        record: Record | None = None
        if isinstance(prepared, Record):
            record = prepared
        elif prepared is not None:
            if self._settler is None:
                self._settler = _Settler(loop)
            outcome = await self._settler.appended(self.vault, prepared)
            record = self.vault.finish_record(prepared, outcome)
        if record is None:  # a new key to write, or a concurrent retry won
            record = await loop.run_in_executor(
                self.blocking, self.vault.create_record, subject_id, draft, request.request_id
            )
        # The stored fields are the request's, validated: copy its Struct.
        return pb.CreateRecordResponse(
            record=convert.record_message(record, fields=request.record.fields, with_data=False)
        )

    def GetRecord(self, request: pb.GetRecordRequest, context: CallContext) -> pb.GetRecordResponse:
        subject_id, record_id = convert.record_id(request.name, "name")
        record = self.vault.get_record(record_id, subject_id)
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
        updated = self.vault.update_record(record_id, changes, request.request_id, subject_id)
        return pb.UpdateRecordResponse(record=convert.record_message(updated, with_data=False))

    def ListRecords(
        self, request: pb.ListRecordsRequest, context: CallContext
    ) -> pb.ListRecordsResponse:
        subject_id = convert.subject_id(request.parent, "parent")
        page = self.vault.list_records(
            subject_id, request.category or None, request.page_size, request.page_token
        )
        return pb.ListRecordsResponse(
            records=[convert.record_message(record) for record in page.records],
            next_page_token=page.next_page_token,
        )

    def StreamRecords(
        self, request: pb.StreamRecordsRequest, context: CallContext
    ) -> Iterator[pb.StreamRecordsResponse]:
        subject_id = convert.subject_id(request.parent, "parent")
        for record in self.vault.stream_records(subject_id, request.category or None):
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
        count = self.vault.import_records(items(), first.request_id)
        return pb.ImportRecordsResponse(imported_count=count)

    def EraseCategory(
        self, request: pb.EraseCategoryRequest, context: CallContext
    ) -> pb.EraseCategoryResponse:
        subject_id = convert.subject_id(request.parent, "parent")
        erasure = self.vault.erase_category(subject_id, request.category, request.request_id)
        return pb.EraseCategoryResponse(
            category=erasure.category,
            records_shredded=erasure.records_shredded,
            erase_time=convert.timestamp(erasure.erased_at),
        )
