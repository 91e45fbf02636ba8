"""Builds the gRPC server: vault services, health, reflection, limits, graceful stop."""

from __future__ import annotations

import logging
import threading
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vault.core.vault import Vault
from vault.server.records import RecordService
from vault.server.registration import add_servicer
from vault.server.subjects import SubjectService
from vault.v1 import vault_pb2

log = logging.getLogger("vault.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
SERVICE_NAMES = [service.full_name for service in vault_pb2.DESCRIPTOR.services_by_name.values()]


@dataclass
class ServerSettings:
    max_workers: int = 16
    # Calls beyond this get RESOURCE_EXHAUSTED at once instead of queueing into timeouts.
    max_concurrent_rpcs: int = 64
    maintenance_interval_s: float = 30.0


@dataclass
class RunningServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    vault: Vault
    _stop_maintenance: threading.Event = field(default_factory=threading.Event)

    def stop(self, grace: float | None = 10.0) -> None:
        """Turn health to NOT_SERVING, let in-flight calls finish, then stop."""
        self.health.enter_graceful_shutdown()
        self._stop_maintenance.set()
        self.vault.scrub_due.set()  # wakes the maintenance thread so it can end
        self.server.stop(grace).wait()

    def wait(self) -> None:
        self.server.wait_for_termination()


def create_server(
    vault: Vault, address: str = "127.0.0.1:0", settings: ServerSettings | None = None
) -> RunningServer:
    """Build and start a server on `address`; port 0 picks a free port."""
    settings = settings or ServerSettings()
    server = grpc.server(
        futures.ThreadPoolExecutor(
            max_workers=settings.max_workers, thread_name_prefix="vault-rpc"
        ),
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ],
    )
    add_servicer(
        server, vault_pb2.DESCRIPTOR.services_by_name["SubjectService"], SubjectService(vault)
    )
    add_servicer(
        server, vault_pb2.DESCRIPTOR.services_by_name["RecordService"], RecordService(vault)
    )

    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in [*SERVICE_NAMES, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        [*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"could not bind {address}")
    server.start()
    running = RunningServer(server, port, health_servicer, vault)
    if settings.maintenance_interval_s > 0:
        threading.Thread(
            target=_maintain,
            args=(vault, settings.maintenance_interval_s, running._stop_maintenance),
            name="vault-maintenance",
            daemon=True,
        ).start()
    return running


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
