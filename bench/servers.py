"""The servers a benchmark runs, each in its own process: `python -m bench.servers echo|vault DIR`.

The echo service runs on the same server (grpc.aio, with the vault's
concurrency limit and message limits) and simply returns what it was sent.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import grpc

from vault.runtime import Runtime
from vault.server.app import new_server
from vault.settings import MaintenanceSettings, ServerSettings, Settings
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
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        print(f"port {port}", flush=True)
        await server.wait_for_termination()

    asyncio.run(serve())
    return 0


def serve_vault(settings: ServerSettings, data_dir: Path) -> int:
    # As `consent-vault serve` runs it, with no connectors and, as the
    # benchmark has always run, no maintenance passes.
    with Runtime(
        Settings.for_data_dir(
            data_dir, server=settings, maintenance=MaintenanceSettings(interval_seconds=0)
        )
    ) as runtime:
        running = runtime.start()
        print(f"port {running.port}", flush=True)
        running.wait()
    return 0


def main() -> int:
    settings = ServerSettings(address="127.0.0.1:0")
    if sys.argv[1] == "echo":
        return serve_echo(settings)
    return serve_vault(settings, Path(sys.argv[2]))


if __name__ == "__main__":
    threading.current_thread().name = "bench-server"
    sys.exit(main())
