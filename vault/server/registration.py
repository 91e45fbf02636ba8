"""Registers servicers from the service descriptors, with one guard around every call.

The generated `add_*_to_server` functions would let grpcio answer a request it
cannot parse with INTERNAL, and an unexpected exception with UNKNOWN carrying
its text. Here a request that does not parse is INVALID_ARGUMENT, a domain
error is its mapped status, and anything else is INTERNAL with a correlation id.
Every call passes the access gate (vault.server.access) first: a caller it
refuses learns nothing, not even whether its request parsed. A call the gate
refuses, and one that fails past it, is an audit event of the edge's own
(`EdgeEvents`), written before the caller hears why.

The server runs on one asyncio event loop; the servicers stay plain blocking
code. Where a call runs is decided here:

- methods a servicer lists in `INLINE` (short reads of local storage) run on
  the loop itself: no thread handoff, which is most of what a call costs.
  Only over embedded stores (`reads_inline`): a read of a network database
  (PostgreSQL) waits on the network and would stall every call on the loop,
  so there they run on the blocking pool like any other;
- methods written as coroutines run on the loop and arrange their own waits;
- other unary calls run on the blocking pool, so a write waiting for its
  commit, or a connector waiting on its system, never stalls the loop;
- each server stream runs on its own thread from the stream pool and hands
  its messages to the loop through a small queue. A stream can be long (a
  watch waits until an erasure rests), so streams have a pool of their own
  and never take the threads unary calls need.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message as protobuf_message
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message_factory import GetMessageClass
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vault.core.actor import Actor
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.trail import AuditTrail
from vault.core.clock import utc_now
from vault.core.errors import AuditUnavailable, Reason
from vault.server import errors
from vault.server.access import ANONYMOUS, Caller, Gate, Refused
from vault.server.operations import operation_of

log = logging.getLogger("vault.server")

# Messages a stream may have produced ahead of a slow reader.
STREAM_BUFFER = 16


@dataclass
class Pools:
    """Where blocking work runs: unary calls, and server streams."""

    blocking: futures.Executor
    streams: futures.Executor


class CallLimit:
    """How many of the vault's calls may be in flight at once; the one past
    the limit is refused at once with RESOURCE_EXHAUSTED / TOO_MANY_CALLS.

    Counted here rather than by grpc, whose limit also covers the health
    service and refuses without a reason. Used on the event loop only.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def admit(self) -> bool:
        if self.in_flight >= self.limit:
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1


def _limited(method: str, calls: CallLimit, handle: Callable[..., Any]) -> Callable[..., Any]:
    """`handle`, for as many calls at once as `calls` allows."""

    async def limited(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if not calls.admit():
            await _abort(context, errors.too_many_calls(calls.limit))
        try:
            return await handle(request, context)
        finally:
            calls.release()

    return limited


class EdgeEvents:
    """The audit events the edge writes itself (vault.core.audit.trail): a call
    the gate refused is a `call refused` event; one that failed past it, in
    the vault or in the edge, an event of the operation it asked for
    (vault.server.operations), so the trail reads "erase subject",
    SUBJECT_NOT_FOUND whoever stopped it. The result is the reason the caller
    is answered with, the detail the RPC's full method name.

    Each is committed before the answer goes out, awaited on the event loop
    without blocking it; one that cannot be written turns the answer into
    UNAVAILABLE / AUDIT_UNAVAILABLE, as any operation's event does.
    """

    def __init__(self, trail: AuditTrail) -> None:
        self.trail = trail

    async def refused(
        self, method: str, caller: Caller, status: status_pb2.Status
    ) -> status_pb2.Status:
        """`status`, once the refusal's event is written."""
        event = AuditEvent(
            at=utc_now(self.trail.clock),
            actor=caller.who,
            role=caller.role,
            system=caller.system,
            operation=Operation.CALL_REFUSED.value,
            subject="",
            result=_reason(status),
            detail=method,
        )
        return await self._told(event, method, status)

    async def failed(
        self, method: str, actor: Actor, status: status_pb2.Status
    ) -> status_pb2.Status:
        """`status`, once the failure's event is written."""
        reason = _reason(status)
        if reason == Reason.AUDIT_UNAVAILABLE:
            # The call failed because the trail could not be written: there
            # is no event to add, and the answer already says why.
            return status
        event = self.trail.event(actor, operation_of(method), result=reason, detail=method)
        return await self._told(event, method, status)

    async def _told(
        self, event: AuditEvent, method: str, status: status_pb2.Status
    ) -> status_pb2.Status:
        try:
            await self.trail.commit_async(event)
        except AuditUnavailable as unwritten:
            log.warning(
                "%s: the audit event of a call answered %s was not written", method, event.result
            )
            return errors.status_for(unwritten, method)
        return status


def _reason(status: status_pb2.Status) -> str:
    """The stable reason in a status's ErrorInfo (every status the edge sends has one)."""
    info = error_details_pb2.ErrorInfo()
    for detail in status.details:
        if detail.Unpack(info):
            return info.reason
    return ""


def _gated(
    method: str, gate: Gate, events: EdgeEvents, handle: Callable[..., Any]
) -> Callable[..., Any]:
    """`handle`, given the caller's actor, for the callers `gate` admits."""

    async def gated(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            actor = await gate.admit(method, context)
        except Refused as refused:
            status, caller = errors.status_for(refused.error, method), refused.caller
        except Exception as exc:  # the gate itself failed: the caller is not known
            status, caller = errors.status_for(exc, method), Caller(ANONYMOUS)
        else:
            return await handle(request, context, actor)
        await _abort(context, await events.refused(method, caller, status))

    return gated


class _Malformed:
    """Stands in for a request that failed to parse, so the handler can answer precisely."""


def _safe_parser(message_class: type[protobuf_message.Message]) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception:  # protobuf raises DecodeError, and others on odd input
            return _Malformed()

    return parse


class MalformedInStream(Exception):
    pass


class CallContext:
    """What a blocking servicer may ask of its call, from any thread.

    grpc.aio's context belongs to the event loop; this is the part of the
    classic `grpc.ServicerContext` the servicers use, safe off the loop. Made
    for every call, so it costs nothing until a callback is registered.
    """

    __slots__ = ("_callbacks", "_context", "_ended", "_lock", "actor")

    _creating = threading.Lock()

    def __init__(self, context: grpc.aio.ServicerContext, actor: Actor) -> None:
        # Who is calling, as the gate admitted them (vault.server.actor.actor_of).
        self.actor = actor
        self._context = context
        self._ended = False
        self._callbacks: list[Callable[[], None]] = []
        self._lock: threading.Lock | None = None

    def _guard(self) -> threading.Lock:
        if self._lock is None:
            with CallContext._creating:
                if self._lock is None:
                    self._lock = threading.Lock()
        return self._lock

    def add_callback(self, callback: Callable[[], None]) -> bool:
        """Call `callback` once the call ends (finished, cancelled, server stopping)."""
        with self._guard():
            if not self._ended:
                self._callbacks.append(callback)
                return True
        callback()
        return True

    def is_active(self) -> bool:
        return not self._ended

    def invocation_metadata(self) -> Any:
        return self._context.invocation_metadata()

    def end(self) -> None:
        self._ended = True
        if self._lock is None:
            # No callback yet (the common case); one added later runs at once,
            # because `add_callback` reads `_ended` under the lock made first.
            return
        with self._lock:
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


_END = object()


def _on_loop(
    loop: asyncio.AbstractEventLoop, make: Callable[[], Coroutine[Any, Any, Any]]
) -> futures.Future[Any]:
    """Run the coroutine `make()` on `loop` from another thread. The coroutine
    is made on the loop, so none is left unawaited if the loop has stopped."""
    result: futures.Future[Any] = futures.Future()

    def settle(task: asyncio.Task[Any]) -> None:
        if task.cancelled():
            result.cancel()
        elif (error := task.exception()) is not None:
            result.set_exception(error)
        else:
            result.set_result(task.result())

    def start() -> None:
        loop.create_task(make()).add_done_callback(settle)

    loop.call_soon_threadsafe(start)  # RuntimeError once the loop is closed
    return result


def _sync_requests(requests: AsyncIterator[Any], loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """A client stream read from a pool thread, one message at a time from the loop."""

    async def next_message() -> Any:
        try:
            return await requests.__anext__()
        except StopAsyncIteration:
            return _END

    while True:
        request = _on_loop(loop, next_message).result()
        if request is _END:
            return
        if isinstance(request, _Malformed):
            raise MalformedInStream()
        yield request


async def _abort(context: grpc.aio.ServicerContext, status: Any) -> None:
    # grpc.aio's context has abort_with_status, though its type stubs miss it.
    await context.abort_with_status(rpc_status.to_status(status))  # type: ignore[attr-defined]


def _guard_unary(
    method: str,
    behaviour: Callable[..., Any],
    pools: Pools,
    events: EdgeEvents,
    *,
    inline: bool,
    client_streaming: bool,
) -> Callable[..., Any]:
    is_coroutine = asyncio.iscoroutinefunction(behaviour)

    async def handle(request: Any, context: grpc.aio.ServicerContext, actor: Actor) -> Any:
        if not client_streaming and isinstance(request, _Malformed):
            await _abort(
                context, await events.failed(method, actor, errors.malformed_request(method))
            )
        call = CallContext(context, actor)
        try:
            if is_coroutine:
                return await behaviour(request, call)
            if inline:
                return behaviour(request, call)
            loop = asyncio.get_running_loop()
            if client_streaming:
                request = _sync_requests(request, loop)
            return await loop.run_in_executor(pools.blocking, behaviour, request, call)
        except MalformedInStream:
            status = errors.malformed_request(method)
        except Exception as exc:
            status = errors.status_for(exc, method)
        finally:
            call.end()
        await _abort(context, await events.failed(method, actor, status))

    return handle


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Handover:
    """Messages from a stream's thread to the loop, at most STREAM_BUFFER ahead of the reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop, call: CallContext) -> None:
        self.loop = loop
        self.call = call
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.room = threading.Semaphore(STREAM_BUFFER)

    def put(self, item: Any) -> bool:
        """Hand `item` to the reader (from the stream's thread); False once the reader is gone."""
        while not self.room.acquire(timeout=0.5):
            if not self.call.is_active():
                return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the loop has stopped
            return False
        return True

    async def get(self) -> Any:
        item = await self.queue.get()
        self.room.release()
        return item


def _produce(messages: Iterator[Any], handover: _Handover) -> None:
    """Run a blocking stream on a pool thread, handing each message to the loop."""
    try:
        for message in messages:
            if not handover.call.is_active() or not handover.put(message):
                return
        handover.put(_END)
    except BaseException as exc:
        handover.put(_Failed(exc))
    finally:
        close = getattr(messages, "close", None)
        if close is not None:
            close()  # the generator's own clean-up runs here, on its thread


async def _until_cancelled(context: grpc.aio.ServicerContext) -> None:
    """Wait for grpc to cancel this handler, after a write the client's end
    refused. Ending first would make grpc send the status on a call that has
    gone, and log that failure as an error with a traceback."""
    for _ in range(100):  # grpc notices within a loop turn or two; 10 s at most
        if context.cancelled() or context.done():
            return
        await asyncio.sleep(0.1)


def _guard_streaming(
    method: str, behaviour: Callable[..., Iterator[Any]], pools: Pools, events: EdgeEvents
) -> Callable[..., Coroutine[Any, Any, None]]:
    # A coroutine that writes each message itself (grpc's reader-writer form),
    # so a write to a client that has gone ends the stream quietly: a client
    # cancelling a stream is normal, not an error of the server.
    async def handle(request: Any, context: grpc.aio.ServicerContext, actor: Actor) -> None:
        if isinstance(request, _Malformed):
            await _abort(
                context, await events.failed(method, actor, errors.malformed_request(method))
            )
        call = CallContext(context, actor)
        loop = asyncio.get_running_loop()
        handover = _Handover(loop, call)
        status = None
        gone = False
        try:
            messages = behaviour(request, call)
            producer = loop.run_in_executor(pools.streams, _produce, messages, handover)
            while True:
                item = await handover.get()
                if item is _END:
                    break
                if isinstance(item, _Failed):
                    status = errors.status_for(item.error, method)
                    break
                try:
                    await context.write(item)
                except Exception:  # the call has ended under us: cancelled, or its deadline
                    gone = True
                    break
            if not gone:
                await producer
        except Exception as exc:
            status = errors.status_for(exc, method)
        finally:
            call.end()
        if gone:
            log.debug("%s: the client went away; the stream stopped", method)
            await _until_cancelled(context)
        elif status is not None:
            await _abort(context, await events.failed(method, actor, status))

    return handle


def add_servicer(
    server: grpc.aio.Server,
    service: ServiceDescriptor,
    servicer: object,
    pools: Pools,
    calls: CallLimit,
    gate: Gate,
    events: EdgeEvents,
    *,
    reads_inline: bool = True,
) -> None:
    """Register every method of `service` that `servicer` implements under the
    guard, behind `gate`, within the limit of `calls` (shared by every service
    of the server), telling `events` of each call refused or failed; its
    `INLINE` reads run on the loop if `reads_inline`."""
    inline: frozenset[str] = (
        getattr(servicer, "INLINE", frozenset()) if reads_inline else frozenset()
    )
    handlers = {}
    for method in service.methods:
        behaviour = getattr(servicer, method.name)
        full_name = f"/{service.full_name}/{method.name}"
        request_class = GetMessageClass(method.input_type)
        response_class = GetMessageClass(method.output_type)
        parse = _safe_parser(request_class)
        serialize = response_class.SerializeToString
        if method.server_streaming:
            if method.client_streaming:
                raise NotImplementedError("bidirectional streaming is not used by this API")
            guarded = _guard_streaming(full_name, behaviour, pools, events)
            make = grpc.unary_stream_rpc_method_handler
        else:
            guarded = _guard_unary(
                full_name,
                behaviour,
                pools,
                events,
                inline=not method.client_streaming and method.name in inline,
                client_streaming=method.client_streaming,
            )
            make = (
                grpc.stream_unary_rpc_method_handler
                if method.client_streaming
                else grpc.unary_unary_rpc_method_handler
            )
        handlers[method.name] = make(
            _limited(full_name, calls, _gated(full_name, gate, events, guarded)), parse, serialize
        )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service.full_name, handlers),)
    )
