"""Builds the gRPC server: vault services, health, reflection, limits, graceful stop.

The server is grpc.aio on an event loop of its own thread; `registration`
decides which calls run on the loop and which on a thread pool.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from vault.core.erasure import ErasureCoordinator
from vault.core.vault import Vault
from vault.server.context import VaultServices
from vault.server.erasure import ConnectorService, ErasureService
from vault.server.records import RecordService
from vault.server.registration import CallLimit, Pools, add_servicer
from vault.server.subjects import SubjectService
from vault.v1 import vault_pb2

log = logging.getLogger("vault.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVICE_NAMES = [service.full_name for service in vault_pb2.DESCRIPTOR.services_by_name.values()]
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    # Otherwise a second server on the same port binds silently and the
    # two split the traffic between them.
    ("grpc.so_reuseport", 0),
]


class AddressUnavailable(OSError):
    """The server cannot listen on the address it was given."""


def check_address(address: str) -> None:
    """Raise AddressUnavailable when nothing could listen on `address`
    (HOST:PORT), found by binding a socket and closing it at once: a busy
    port is refused before anything starts, and before gRPC logs a line of
    its own about it. Forms other than HOST:PORT are left to gRPC."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit():
        return
    host = host.removeprefix("[").removesuffix("]")
    try:
        found = socket.getaddrinfo(
            host or None, int(port_text), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError, OverflowError) as error:
        why = getattr(error, "strerror", None) or str(error)
        raise AddressUnavailable(f"cannot listen on {address}: {why}") from None
    for family, kind, proto, _, where in found:
        with socket.socket(family, kind, proto) as probe:
            # As gRPC's own listener does: a port left in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(where)
            except OSError as error:
                why = error.strerror or str(error)
                raise AddressUnavailable(f"cannot listen on {address}: {why}") from None


@dataclass
class ServerSettings:
    # Threads for calls that block: writes waiting for their commit, and calls
    # that reach connectors' systems. Reads of local storage need none.
    max_workers: int = 8
    # The vault's calls beyond this get RESOURCE_EXHAUSTED / TOO_MANY_CALLS at
    # once instead of queueing into timeouts; health and reflection are not
    # counted, so a probe can still ask. Server streams each hold a thread of
    # their own, so this also bounds the stream threads.
    max_concurrent_rpcs: int = 64
    maintenance_interval_s: float = 30.0
    # Threads that carry out erasure steps in connectors' systems; a request's
    # steps run concurrently, and the threads mostly wait on the systems.
    erasure_workers: int = 8


def new_server(settings: ServerSettings) -> grpc.aio.Server:
    """A bare grpc.aio server with the vault's message limits; call on the loop
    that will run it. The limit on calls is the servicers' (see `CallLimit`)."""
    return grpc.aio.server(options=SERVER_OPTIONS)


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: HealthServicer
    services: VaultServices
    pools: Pools
    loop: asyncio.AbstractEventLoop
    _loop_thread: threading.Thread
    _stop_requested: asyncio.Event
    _grace: list[float | None]  # how long the loop lets calls in flight finish
    _stop_background: threading.Event = field(default_factory=threading.Event)
    _background: list[threading.Thread] = field(default_factory=list)
    _stopping: threading.Lock = field(default_factory=threading.Lock)

    @property
    def vault(self) -> Vault:
        return self.services.vault

    def stop(self, grace: float | None = 10.0) -> None:
        """Turn health to NOT_SERVING, let in-flight calls finish, then stop.

        Returns only when no handler or background thread of this server still
        runs, so the caller may close the stores afterwards. Safe to call from
        any thread, and more than once.
        """
        with self._stopping:
            if self._loop_thread.is_alive():
                self._grace[0] = grace
                self.loop.call_soon_threadsafe(self._stop_requested.set)
                self._loop_thread.join()
        self._stop_background.set()
        self.vault.scrub_due.set()  # wakes the maintenance thread so it can end
        self.services.coordinator.work_available.set()  # and the erasure workers
        self.pools.blocking.shutdown(wait=True, cancel_futures=True)
        self.pools.streams.shutdown(wait=True, cancel_futures=True)
        for thread in self._background:
            # A worker may be inside a connector call; that call has its own deadline.
            thread.join(timeout=self.services.coordinator.settings.call_timeout_seconds + 5)
        self.services.coordinator.close()

    def wait(self) -> None:
        """Block until the server has stopped."""
        self._loop_thread.join()


def create_server(
    services: VaultServices | Vault,
    address: str = "127.0.0.1:0",
    settings: ServerSettings | None = None,
) -> RunningServer:
    """Build and start a server on `address`; port 0 picks a free port. A bare
    Vault serves with no connectors."""
    check_address(address)
    if isinstance(services, Vault):
        services = VaultServices.build(services)
    vault = services.vault
    settings = settings or ServerSettings()
    pools = Pools(
        blocking=futures.ThreadPoolExecutor(settings.max_workers, thread_name_prefix="vault-rpc"),
        streams=futures.ThreadPoolExecutor(
            settings.max_concurrent_rpcs, thread_name_prefix="vault-stream"
        ),
    )
    loop = asyncio.new_event_loop()
    started: futures.Future[tuple[grpc.aio.Server, HealthServicer, int]] = futures.Future()
    stop_requested = asyncio.Event()
    grace: list[float | None] = [None]

    async def serve() -> None:
        server = new_server(settings)
        calls = CallLimit(settings.max_concurrent_rpcs)
        for name, servicer in (
            ("SubjectService", SubjectService(services)),
            ("RecordService", RecordService(services, pools.blocking)),
            ("ErasureService", ErasureService(services)),
            ("ConnectorService", ConnectorService(services)),
        ):
            add_servicer(
                server, vault_pb2.DESCRIPTOR.services_by_name[name], servicer, pools, calls
            )
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in [*SERVICE_NAMES, ""]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        try:
            port = server.add_insecure_port(address)
        except RuntimeError:  # grpcio's way of saying the address is taken or unusable
            port = 0
        if port == 0:
            started.set_exception(
                AddressUnavailable(
                    f"cannot listen on {address}: the address is in use or not available here"
                )
            )
            return
        await server.start()
        started.set_result((server, health_servicer, port))
        await stop_requested.wait()
        await health_servicer.enter_graceful_shutdown()
        await server.stop(grace[0])

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(serve())
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            else:
                log.exception("the server's event loop ended with an error")
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    loop_thread = threading.Thread(target=run_loop, name="vault-grpc", daemon=True)
    loop_thread.start()
    try:
        server, health_servicer, port = started.result()
    except BaseException:
        loop_thread.join()
        pools.blocking.shutdown(wait=False)
        pools.streams.shutdown(wait=False)
        raise
    running = RunningServer(
        server, port, health_servicer, services, pools, loop, loop_thread, stop_requested, grace
    )
    if settings.maintenance_interval_s > 0:
        running._background.append(
            threading.Thread(
                target=_maintain,
                args=(vault, settings.maintenance_interval_s, running._stop_background),
                name="vault-maintenance",
                daemon=True,
            )
        )
    services.coordinator.release_orphaned_leases()
    running._background += [
        threading.Thread(
            target=_erase,
            args=(services.coordinator, running._stop_background),
            name=f"erasure-worker-{index}",
            daemon=True,
        )
        for index in range(settings.erasure_workers)
    ]
    for thread in running._background:
        thread.start()
    return running


def _erase(coordinator: ErasureCoordinator, stop: threading.Event) -> None:
    """Carry out due erasure steps; sleep until new work or the next retry is due."""
    while not stop.is_set():
        # Cleared before the pass, so work announced during it is not missed.
        coordinator.work_available.clear()
        try:
            coordinator.run_pending()
            due = coordinator.seconds_until_due()
        except Exception:
            log.exception("erasure worker pass failed; will try again")
            due = 5.0
        coordinator.work_available.wait(5.0 if due is None else min(max(due, 0.05), 5.0))


def _maintain(vault: Vault, interval: float, stop: threading.Event) -> None:
    """Run maintenance every `interval` seconds, and at once after an erasure."""
    while not stop.is_set():
        vault.scrub_due.wait(interval)
        if stop.is_set():
            return
        try:
            vault.maintain()
        except Exception:
            log.exception("maintenance pass failed; will try again")
        if vault.scrub_due.is_set():
            stop.wait(1.0)  # a reader kept the WAL; do not spin
