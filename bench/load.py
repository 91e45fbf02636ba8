"""The load generator's parts: starting a benchmark's servers, and calling them
from many threads at once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.max_send_message_length", 64 << 20),
]


@dataclass(frozen=True)
class Served:
    """A server process started by the benchmark: its port, its pid for /proc,
    and for a vault a privacy officer's token it made at start ("" for a tree
    from before tokens)."""

    port: int
    pid: int
    token: str = ""


class Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
):
    """Sends `authorization: Bearer <token>` with every call."""

    def __init__(self, token: str) -> None:
        self.metadata = (("authorization", f"Bearer {token}"),)

    def _call(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(details._replace(metadata=self.metadata), request)

    intercept_unary_unary = _call
    intercept_unary_stream = _call
    intercept_stream_unary = _call


@contextmanager
def channel_to(
    served: Served, tls_dir: Path | None = None, token: str | None = None
) -> Iterator[grpc.Channel]:
    """A channel to `served` that sends its token (or `token`: the echo gets
    the vault's, so both pay the same client side); over TLS if `tls_dir` holds
    the CA the server's certificate was signed by."""
    address = f"127.0.0.1:{served.port}"
    if tls_dir is None:
        opened = grpc.insecure_channel(address, CHANNEL_OPTIONS)
    else:
        roots = grpc.ssl_channel_credentials((tls_dir / "ca.pem").read_bytes())
        opened = grpc.secure_channel(f"localhost:{served.port}", roots, CHANNEL_OPTIONS)
    with opened:
        sent = served.token if token is None else token
        yield grpc.intercept_channel(opened, Bearer(sent)) if sent else opened


@contextmanager
def server_process(
    kind: str,
    data_dir: Path | None = None,
    tree: Path | None = None,
    database: str | None = None,
    tls_dir: Path | None = None,
) -> Iterator[Served]:
    """A server of this tree, or of another checkout of the project (`tree`),
    which then runs its own code and its own `bench.servers`. A vault keeps its
    data in `data_dir`, or at `database` (a PostgreSQL URL) with only its
    keyring in `data_dir`. With `tls_dir` (bench.tls.make) it serves TLS."""
    args = [sys.executable, "-m", "bench.servers", kind]
    if data_dir is not None:
        args.append(str(data_dir))
    if database is not None:
        args.append(database)
    if tls_dir is not None:
        args += ["--tls", str(tls_dir)]
    env = None
    if tree is not None:
        paths = [tree, tree / "plugins", tree / "clients" / "python"]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in paths)}
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=tree, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"{kind} server did not start")
        words = line.split()  # port N [token T]
        yield Served(int(words[1]), process.pid, words[3] if len(words) > 3 else "")
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def sample_record(n: int = 0) -> pb.Record:
    record = pb.Record(
        category="contact",
        purpose="course_delivery",
        legal_basis=pb.LEGAL_BASIS_CONTRACT,
        source_system="lms",
    )
    record.fields.update(
        {
            "name": "Anna Andersson",
            "address": "Kalendegatan 10, 211 35 Malmö",
            "phone": "+46701234567",
            "n": n,
        }
    )
    return record


def rate(call: Callable[[int, int], Any], threads: int, seconds: float) -> float:
    """Calls per second with `threads` callers for `seconds`; call(thread, i)."""
    counts = [0] * threads
    stop = time.perf_counter() + seconds

    def worker(index: int) -> None:
        i = 0
        while time.perf_counter() < stop:
            call(index, i)
            i += 1
        counts[index] = i

    workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def new_subject(subjects: pb_grpc.SubjectServiceStub, label: str) -> str:
    identity = pb.Identity(kind=pb.IDENTITY_KIND_EXTERNAL_ID, system="bench", value=label)
    return subjects.CreateSubject(pb.CreateSubjectRequest(identities=[identity])).subject.name


def import_records(records: pb_grpc.RecordServiceStub, parent: str, count: int) -> float:
    items = [pb.ImportedRecord(parent=parent, record=sample_record(i)) for i in range(count)]
    messages = [pb.ImportRecordsRequest(records=items[b : b + 1000]) for b in range(0, count, 1000)]
    start = time.perf_counter()
    assert records.ImportRecords(iter(messages), timeout=600).imported_count == count
    return time.perf_counter() - start


class PutsAndGets:
    """Put and get calls for `threads` callers, each writing to a subject of its
    own; thread t calls the server of channels[t % len(channels)], as a
    gRPC-aware load balancer would spread them over several servers of one vault."""

    def __init__(self, channels: list[grpc.Channel], threads: int, label: str = "writer") -> None:
        subjects = pb_grpc.SubjectServiceStub(channels[0])
        self.stubs = [pb_grpc.RecordServiceStub(channel) for channel in channels]
        parents = [new_subject(subjects, f"{label}-{t}") for t in range(threads)]
        self.puts = [pb.CreateRecordRequest(parent=p, record=sample_record()) for p in parents]
        import_records(self.stubs[0], parents[0], 500)
        self.gets = [
            pb.GetRecordRequest(name=m.record.name)
            for m in self.stubs[0].StreamRecords(pb.StreamRecordsRequest(parent=parents[0]))
        ]
        for stub in self.stubs:
            stub.CreateRecord(self.puts[0])

    def put(self, thread: int, i: int) -> Any:
        return self.stubs[thread % len(self.stubs)].CreateRecord(self.puts[thread])

    def get(self, thread: int, i: int) -> Any:
        stub = self.stubs[thread % len(self.stubs)]
        return stub.GetRecord(self.gets[(thread * 97 + i) % len(self.gets)])
