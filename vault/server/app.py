"""Builds the gRPC server: vault services behind the access gate, health,
reflection, TLS, limits, graceful stop.

The server is grpc.aio on an event loop of its own thread; `registration`
decides which calls run on the loop and which on a thread pool. It only
serves: the runtime (`vault.runtime`) builds what it serves and runs the
background workers.
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

from vault.core.vault import Vault
from vault.server.access import Gate
from vault.server.audit import AuditService
from vault.server.consent import ConsentService
from vault.server.context import VaultServices
from vault.server.erasure import ConnectorService, ErasureService
from vault.server.policy import PolicyService
from vault.server.records import RecordService
from vault.server.registration import CallLimit, EdgeEvents, Pools, add_servicer
from vault.server.subjects import SubjectService
from vault.server.tokens import AccessService
from vault.settings import ServerSettings, TlsSettings, is_loopback
from vault.v1 import vault_pb2

log = logging.getLogger("vault.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVICE_NAMES = [service.full_name for service in vault_pb2.DESCRIPTOR.services_by_name.values()]
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


class AddressUnavailable(OSError):
    """The server cannot listen on the address it was given."""


def check_address(address: str, reuse_port: bool = False) -> None:
    """Raise AddressUnavailable when nothing could listen on `address`
    (HOST:PORT), found by binding a socket and closing it at once: a busy
    port is refused before anything starts, and before gRPC logs a line of
    its own about it. Forms other than HOST:PORT are left to gRPC. With
    `reuse_port`, a port other servers share the same way counts as free."""
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
            if reuse_port:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                probe.bind(where)
            except OSError as error:
                why = error.strerror or str(error)
                raise AddressUnavailable(f"cannot listen on {address}: {why}") from None


def credentials(tls: TlsSettings) -> grpc.ServerCredentials:
    """The server's TLS; with a client CA, mutual: a client without a
    certificate that CA signed does not get past the handshake."""
    return grpc.ssl_server_credentials(
        [(tls.private_key, tls.certificate_chain)],
        root_certificates=tls.client_ca or None,
        require_client_auth=tls.mutual,
    )


def new_server(settings: ServerSettings) -> grpc.aio.Server:
    """A bare grpc.aio server with the vault's message limits; call on the loop
    that will run it. The limit on calls is the servicers' (see `CallLimit`)."""
    # gRPC sets SO_REUSEPORT unless told not to: then a second server on the
    # same port binds silently and the two split the traffic. Only an admin
    # who asks for that (several processes behind one address) gets it.
    reuse = ("grpc.so_reuseport", 1 if settings.reuse_port else 0)
    return grpc.aio.server(options=[*SERVER_OPTIONS, reuse])


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
    _stopping: threading.Lock = field(default_factory=threading.Lock)

    @property
    def vault(self) -> Vault:
        return self.services.vault

    def stop(self, grace: float | None = 10.0) -> None:
        """Turn health to NOT_SERVING, let in-flight calls finish, then stop.

        Returns only when no handler of this server still runs. Safe to call
        from any thread, and more than once.
        """
        with self._stopping:
            if self._loop_thread.is_alive():
                self._grace[0] = grace
                self.loop.call_soon_threadsafe(self._stop_requested.set)
                self._loop_thread.join()
        self.pools.blocking.shutdown(wait=True, cancel_futures=True)
        self.pools.streams.shutdown(wait=True, cancel_futures=True)

    def wait(self) -> None:
        """Block until the server has stopped."""
        self._loop_thread.join()


def create_server(services: VaultServices, settings: ServerSettings) -> RunningServer:
    """Build and start a server of `services` on `settings.address`; port 0
    picks a free port."""
    address = settings.address
    settings.check_transport()  # raises SettingsError
    check_address(address, settings.reuse_port)
    if not settings.tls.enabled and not is_loopback(address):
        log.warning(
            "serving %s without TLS (--insecure-plaintext): tokens and personal data "
            "cross the network readable by anyone on the path",
            address,
        )
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
        gate = Gate(
            services.vault.tokens,
            settings.access,
            writes_on=pools.blocking,
            verify_on=None if services.stores_embedded else pools.blocking,
        )
        events = EdgeEvents(services.vault.audit)
        for name, servicer in (
            ("SubjectService", SubjectService(services)),
            ("RecordService", RecordService(services)),
            ("ErasureService", ErasureService(services)),
            ("ConnectorService", ConnectorService(services)),
            ("AccessService", AccessService(services)),
            ("AuditService", AuditService(services)),
            ("ConsentService", ConsentService(services)),
            ("PolicyService", PolicyService(services)),
        ):
            add_servicer(
                server,
                vault_pb2.DESCRIPTOR.services_by_name[name],
                servicer,
                pools,
                calls,
                gate,
                events,
                reads_inline=services.stores_embedded,
            )
        health_servicer = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for name in [*SERVICE_NAMES, ""]:
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        if settings.reflection:
            # The schema only, no data: tools such as grpcurl ask it without credentials.
            reflection.enable_server_reflection(
                [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
            )
        try:
            if settings.tls.enabled:
                port = server.add_secure_port(address, credentials(settings.tls))
            else:
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
    return RunningServer(
        server, port, health_servicer, services, pools, loop, loop_thread, stop_requested, grace
    )
