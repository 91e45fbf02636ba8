"""A real server on a free port over services a test built, with the runtime's
background workers carrying out erasure steps (maintenance off, so tests that
look at the files decide when it runs), and channels to it that carry a token."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import grpc

from tests.access import token_for, with_token
from vault.core.actor import Role
from vault.runtime import Workers
from vault.server.app import RunningServer, create_server
from vault.server.context import VaultServices
from vault.settings import AccessSettings, ServerSettings

# Tests call as fast as a loop goes, with one token, and are refused many times
# from one address; the rate limits have tests of their own
# (tests/integration/test_unauthenticated.py).
UNLIMITED = AccessSettings(
    calls_per_second=1e9, burst=10**9, refused_per_second=1e9, refused_burst=10**9
)
ANY_PORT = ServerSettings(address="127.0.0.1:0", access=UNLIMITED)


@contextmanager
def channel_to(
    running: RunningServer,
    role: Role = Role.PRIVACY_OFFICER,
    system: str = "",
    options: Sequence[tuple[str, Any]] = (),
) -> Iterator[grpc.Channel]:
    """A plaintext channel to `running` presenting a new token of `role`."""
    token = token_for(running.vault, role, system)
    with grpc.insecure_channel(f"127.0.0.1:{running.port}", options=list(options)) as opened:
        yield with_token(opened, token)


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
