"""Running the real server as a separate process, for tests that kill it,
with a privacy officer's token to call it with (`token`, `channel()`)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import grpc
import tomli_w

from tests.access import with_token

UNLIMITED = {"calls_per_second": 1e9, "burst": 10**9}


class ServerProcess:
    def __init__(
        self,
        data_dir: Path | None,
        config: dict | None = None,
        env: dict[str, str] | None = None,
        *,
        extra_args: tuple[str, ...] = (),
        cwd: Path | None = None,
        token: str | None = None,
    ) -> None:
        """`data_dir` None: the server's default, relative to `cwd`. `token`:
        the one to call with (one of an earlier server on the same vault);
        by default the demo's privacy officer's, or one made for a plain
        server once it has started, in its stores, as an operator would."""
        args = [sys.executable, "-m", "vault.cli", "serve", "--address", "127.0.0.1:0"]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
            # Tests call as fast as a loop goes, with one token; the rate
            # limit has tests of its own.
            config = {"access": UNLIMITED, **(config or {})}
        if config is not None:
            assert data_dir is not None
            path = data_dir.parent / "vault.toml"
            path.write_text(tomli_w.dumps(config))
            args += ["--config", str(path)]
        self.process = subprocess.Popen(
            [*args, *extra_args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
        )
        self.port = 0
        self.output: list[str] = []
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = re.search(r"listening on \S+:(\d+)", line)
            if match:
                self.port = int(match[1])
                break
        if not self.port:
            self.process.wait(timeout=10)
            raise AssertionError("the server did not start:\n" + "".join(self.output))
        # Keep reading: a full pipe would block the server's logging.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        environ = {**os.environ, **(env or {})}
        self.token = token or _token_for(args[4:] + list(extra_args), environ, cwd or Path.cwd())

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def channel(self, options: list[tuple[str, object]] | None = None) -> grpc.Channel:
        """A plaintext channel to the server presenting `token` on every call
        (closing it closes the channel beneath)."""
        return with_token(grpc.insecure_channel(self.address, options=options), self.token)

    def kill9(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)

    def wait(self, timeout: float = 30) -> int:
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def _token_for(serve_args: list[str], environ: dict[str, str], cwd: Path) -> str:
    """The privacy officer's token for the vault a started server with
    `serve_args` runs on: the demo's file, or a new one made in its stores
    (a vault of its own over them: nothing recovered or upgraded from here)."""
    from vault import bootstrap, purposes_file
    from vault import settings as configuration
    from vault.cli.parser import _parser
    from vault.core.actor import LOCAL, Role
    from vault.core.vault import Vault
    from vault.demo_tokens import OFFICER_TOKEN
    from vault.keyring import KEYRING_ENV, KeyringSource, load_or_create_keyring

    parsed = _parser().parse_args(["serve", *serve_args])
    given = parsed.data_dir or environ.get(configuration.DATA_DIR_ENV) or "vault-data"
    directory = (cwd / given).absolute()  # an absolute `given` stays as it is
    if parsed.demo:
        return (directory / OFFICER_TOKEN).read_text().strip()
    storage = configuration.storage_settings(
        directory, parsed.database, parsed.key_database, environ
    )
    ring = configuration.keyring_settings(directory, parsed.keyring, environ)
    stores = bootstrap.open_stores(storage.url, storage.key_url)
    try:
        keyring = load_or_create_keyring(ring.path, {KEYRING_ENV: ring.given} if ring.given else {})
        vault = Vault(
            stores.records,
            stores.keys,
            KeyringSource(keyring, ring.path),
            purposes=purposes_file.school(),
        )
        return vault.tokens.create(LOCAL, Role.PRIVACY_OFFICER, name="test process").secret
    finally:
        stores.close()
