"""A real server on a free port over services a test built, with the runtime's
background workers carrying out erasure steps (maintenance off, so tests that
look at the files decide when it runs)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vault.runtime import Workers
from vault.server.app import RunningServer, create_server
from vault.server.context import VaultServices
from vault.settings import ServerSettings

ANY_PORT = ServerSettings(address="127.0.0.1:0")


@contextmanager
def served(services: VaultServices, settings: ServerSettings = ANY_PORT) -> Iterator[RunningServer]:
    """Serve `services` with `settings` (port 0 unless they say otherwise)
    until the block ends; then stop the server, the workers and the step engine."""
    running = create_server(services, settings)
    coordinator = services.coordinator
    workers = Workers(
        services.vault,
        coordinator.engine,
        maintenance_interval_seconds=0,
        step_timeout_seconds=coordinator.settings.call_timeout_seconds,
    )
    workers.start()
    try:
        yield running
    finally:
        running.stop(grace=None)
        workers.stop()
        services.coordinator.close()
