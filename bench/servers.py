"""The servers a benchmark runs, each in its own process:
`python -m bench.servers echo`, or `vault DIR [DATABASE]` (the data directory's
SQLite files, or the record and key stores at a PostgreSQL URL); with
`--tls FOLDER` (bench.tls) either serves TLS.

The echo service runs on the same server (grpc.aio, with the vault's
concurrency limit and message limits) and simply returns what it was sent.
A vault makes a privacy officer's token at start and prints it beside its
port: every call the benchmark makes is checked, as in production, but the
rate limit is set out of reach (one token makes every call of the run).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import grpc

from vault.core.actor import LOCAL, Role
from vault.runtime import Runtime
from vault.server.app import credentials, new_server
from vault.settings import (
    AccessSettings,
    KeyringSettings,
    MaintenanceSettings,
    ServerSettings,
    Settings,
    StorageSettings,
)
from vault.tls import TlsSettings
from vault.v1 import vault_pb2

ECHO_METHOD = "/bench.Echo/Echo"


def serve_echo(settings: ServerSettings) -> int:
    async def serve() -> None:
        server = new_server(settings)

        async def echo(request: vault_pb2.CreateRecordRequest, context: object) -> object:
            return request

        # A real echo service parses and serializes its messages, like any gRPC
        # service; it echoes a message of the same type and size the vault's put receives.
        handler = grpc.unary_unary_rpc_method_handler(
            echo,
            request_deserializer=vault_pb2.CreateRecordRequest.FromString,
            response_serializer=vault_pb2.CreateRecordRequest.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("bench.Echo", {"Echo": handler}),)
        )
        if settings.tls.enabled:
            port = server.add_secure_port("127.0.0.1:0", credentials(settings.tls))
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"port {port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())
    return 0


def serve_vault(settings: ServerSettings, data_dir: Path, database: str | None) -> int:
    # As `consent-vault serve` runs it, with no connectors and, as the
    # benchmark has always run, no maintenance passes. Servers sharing a
    # database share the data directory too, for its keyring.
    data_dir = data_dir.absolute()
    with Runtime(
        Settings(
            StorageSettings.in_directory(data_dir, database),
            KeyringSettings(data_dir / "keyring.json"),
            server=settings,
            maintenance=MaintenanceSettings(interval_seconds=0),
        )
    ) as runtime:
        assert runtime.vault is not None
        token = runtime.vault.tokens.create(LOCAL, Role.PRIVACY_OFFICER, name="bench").secret
        running = runtime.start()
        print(f"port {running.port} token {token}", flush=True)
        running.wait()
    return 0


def main() -> int:
    args = sys.argv[1:]
    tls = TlsSettings()
    if "--tls" in args:
        at = args.index("--tls")
        folder = Path(args[at + 1])
        del args[at : at + 2]
        tls = TlsSettings(
            (folder / "server.pem").read_bytes(), (folder / "server.key").read_bytes()
        )
    settings = ServerSettings(
        address="127.0.0.1:0", tls=tls, access=AccessSettings(calls_per_second=1e9, burst=10**9)
    )
    if args[0] == "echo":
        return serve_echo(settings)
    database = args[2] if len(args) > 2 else None
    return serve_vault(settings, Path(args[1]), database)


if __name__ == "__main__":
    threading.current_thread().name = "bench-server"
    sys.exit(main())
