"""Builds the gRPC server: vault services, health, reflection, limits, graceful stop."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vault.core.erasure import ErasureCoordinator
from vault.core.vault import Vault
from vault.server.context import VaultServices
from vault.server.erasure import ConnectorService, ErasureService
from vault.server.records import RecordService
from vault.server.registration import add_servicer
from vault.server.subjects import SubjectService
from vault.v1 import vault_pb2

log = logging.getLogger("vault.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVICE_NAMES = [service.full_name for service in vault_pb2.DESCRIPTOR.services_by_name.values()]


class AddressUnavailable(OSError):
    """The server cannot listen on the address it was given."""


@dataclass
class ServerSettings:
    max_workers: int = 8
    # Calls beyond this get RESOURCE_EXHAUSTED at once instead of queueing into timeouts.
    max_concurrent_rpcs: int = 64
    maintenance_interval_s: float = 30.0
    # Threads that carry out erasure steps in connectors' systems; a request's
    # steps run concurrently, and the threads mostly wait on the systems.
    erasure_workers: int = 8


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    services: VaultServices
    executor: futures.ThreadPoolExecutor
    _stop_background: threading.Event = field(default_factory=threading.Event)
    _background: list[threading.Thread] = field(default_factory=list)

    @property
    def vault(self) -> Vault:
        return self.services.vault

    def stop(self, grace: float | None = 10.0) -> None:
        """Turn health to NOT_SERVING, let in-flight calls finish, then stop.

        Returns only when no handler or background thread of this server still
        runs, so the caller may close the stores afterwards.
        """
        self.health.enter_graceful_shutdown()
        self._stop_background.set()
        self.vault.scrub_due.set()  # wakes the maintenance thread so it can end
        self.services.coordinator.work_available.set()  # and the erasure workers
        self.server.stop(grace).wait()
        self.executor.shutdown(wait=True, cancel_futures=True)
        for thread in self._background:
            # A worker may be inside a connector call; that call has its own deadline.
            thread.join(timeout=self.services.coordinator.settings.call_timeout_seconds + 5)
        self.services.coordinator.close()

    def wait(self) -> None:
        self.server.wait_for_termination()


def create_server(
    services: VaultServices | Vault,
    address: str = "127.0.0.1:0",
    settings: ServerSettings | None = None,
) -> RunningServer:
    """Build and start a server on `address`; port 0 picks a free port. A bare
    Vault serves with no connectors."""
    if isinstance(services, Vault):
        services = VaultServices.build(services)
    vault = services.vault
    settings = settings or ServerSettings()
    executor = futures.ThreadPoolExecutor(
        max_workers=settings.max_workers, thread_name_prefix="vault-rpc"
    )
    server = grpc.server(
        executor,
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Otherwise a second server on the same port binds silently and the
            # two split the traffic between them.
            ("grpc.so_reuseport", 0),
        ],
    )
    for name, servicer in (
        ("SubjectService", SubjectService(services)),
        ("RecordService", RecordService(services)),
        ("ErasureService", ErasureService(services)),
        ("ConnectorService", ConnectorService(services)),
    ):
        add_servicer(server, vault_pb2.DESCRIPTOR.services_by_name[name], servicer)

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in [*SERVICE_NAMES, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    try:
        port = server.add_insecure_port(address)
    except RuntimeError:  # grpcio's way of saying the address is taken or unusable
        port = 0
    if port == 0:
        executor.shutdown(wait=False)
        raise AddressUnavailable(
            f"cannot listen on {address}: the address is in use or not available here"
        )
    server.start()
    running = RunningServer(server, port, health_servicer, services, executor)
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
