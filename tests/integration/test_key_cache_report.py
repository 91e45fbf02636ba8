"""The runtime sizes each vault's key cache by [keys] cache_entries, and its
workers log the cache's hit rate now and then."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from vault.core.actor import LOCAL
from vault.core.identities import IdentityKind
from vault.core.keycache import DEFAULT_CACHE_ENTRIES
from vault.core.vault import IdentityInput, Vault
from vault.runtime import Runtime, Workers, step_engine
from vault.settings import KeySettings, Settings


@pytest.mark.parametrize("configured", [None, 123])
def test_the_runtime_sizes_the_key_cache_by_the_setting(
    tmp_path: Path, configured: int | None
) -> None:
    keys = KeySettings() if configured is None else KeySettings(configured)
    runtime = Runtime(Settings.for_data_dir(tmp_path / "vault-data", keys=keys))
    try:
        capacity = runtime.open_vault().keys.stats().capacity
    finally:
        runtime.close()
    assert capacity == (configured or DEFAULT_CACHE_ENTRIES)


def _reports(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "key lookups hit the cache" in r.getMessage()]


def test_the_workers_log_the_key_caches_hit_rate_while_the_vault_is_used(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vault.runtime")
    workers = Workers(
        vault,
        step_engine(vault),
        erasure_workers=0,
        maintenance_interval_seconds=0,
        key_cache_report_seconds=0.05,
    )
    workers.start()
    try:
        time.sleep(0.3)
        assert _reports(caplog) == []  # an idle vault logs nothing
        anna = vault.create_subject(LOCAL, [IdentityInput(IdentityKind.EMAIL, "a@example.se")], [])
        for _ in range(3):
            vault.get_subject(LOCAL, anna.subject_id)
        deadline = time.monotonic() + 10
        while not _reports(caplog) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        workers.stop()
    first = _reports(caplog)[0]
    assert first.startswith("key cache, last 0.05 s: ")
    assert "key lookups hit the cache" in first and "entries held" in first
    assert not [t for t in threading.enumerate() if t.name == "vault-key-cache-report"]
