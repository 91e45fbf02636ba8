"""Running the real server as a separate process, for tests that kill it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import tomli_w


class ServerProcess:
    def __init__(
        self,
        data_dir: Path | None,
        config: dict | None = None,
        env: dict[str, str] | None = None,
        *,
        extra_args: tuple[str, ...] = (),
        cwd: Path | None = None,
    ) -> None:
        """`data_dir` None: the server's default, relative to `cwd`."""
        args = [sys.executable, "-m", "vault.cli", "serve", "--address", "127.0.0.1:0"]
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
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

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

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
