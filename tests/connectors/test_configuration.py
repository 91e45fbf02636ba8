"""Misconfiguration is refused at start-up with a message that names the problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vault import __version__
from vault.connectors import Connector, HeldCategory, Holdings
from vault.connectors.registry import ConfigError, ConnectorRegistry
from vault.core.model import LegalBasis
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault_standins import demo as standins


def load(
    sections: dict, tmp_path: Path, environ: dict | None = None, extra: tuple = ()
) -> ConnectorRegistry:
    return ConnectorRegistry.load(
        sections, make_plugin_manager(extra), VaultHost(__version__), tmp_path, environ or {}
    )


def test_an_unknown_connector_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'crm' is configured but not installed.*lms"):
        load({"crm": {}}, tmp_path)


def test_a_missing_secret_is_named_and_its_value_never_shown(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LMS_TOKEN, which is not set"):
        load({"lms": {"url": "http://127.0.0.1:9", "token_env": "LMS_TOKEN"}}, tmp_path)
    with pytest.raises(ConfigError, match="token_env or token_file"):
        load({"lms": {"url": "http://127.0.0.1:9"}}, tmp_path)
    with pytest.raises(ConfigError, match="cannot be read"):
        load({"lms": {"url": "http://127.0.0.1:9", "token_file": "no-such-file"}}, tmp_path)


def test_a_secret_from_a_file_works(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("s3cret-value\n")
    registry = load({"lms": {"url": "http://127.0.0.1:9", "token_file": "token"}}, tmp_path)
    assert registry.get("lms").enabled  # type: ignore[union-attr]


def test_a_system_outside_the_eea_is_refused(tmp_path: Path) -> None:
    section = {"url": "http://127.0.0.1:9", "token_env": "T", "location": "US"}
    with pytest.raises(ConfigError, match="outside the EU/EEA"):
        load({"lms": section}, tmp_path, {"T": "x"})


def test_a_disabled_connector_is_not_checked(tmp_path: Path) -> None:
    registry = load({"lms": {"enabled": False}}, tmp_path)
    assert not registry.get("lms").enabled  # type: ignore[union-attr]


class _KeepsWithoutReason(Connector):
    name = "broken"

    def holdings(self) -> Holdings:
        return Holdings(
            "broken",
            "a system",
            "SE",
            (
                HeldCategory(
                    "billing",
                    "invoices",
                    "bookkeeping",
                    LegalBasis.LEGAL_OBLIGATION,
                    "7 years",
                    erasable=False,
                ),
            ),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        return []

    def export(self, identities):  # type: ignore[no-untyped-def]
        return iter(())

    def erase(self, identities, today):  # type: ignore[no-untyped-def]
        return []


class _BrokenPlugin:
    @hookimpl
    def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
        return [_KeepsWithoutReason]


def test_invalid_holdings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"'broken' refused: .*names no legal reason"):
        load({"broken": {}}, tmp_path, extra=(_BrokenPlugin(),))


def test_a_salon_mapping_that_does_not_fit_is_named(tmp_path: Path) -> None:
    section = standins.salon_section("sqlite:///x.db")
    section["tables"] = {"customers": {"columns": {"name": "contact"}}}
    with pytest.raises(
        ConfigError, match="table customers: needs identify columns or a parent table"
    ):
        load({"salon": section}, tmp_path)
    section["tables"] = {"customers; DROP": {"identify": {"email": "email"}}}
    with pytest.raises(ConfigError, match="not a plain SQL identifier"):
        load({"salon": section}, tmp_path)


def test_serve_refuses_a_bad_configuration_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "vault.toml"
    config.write_text(
        '[connectors.lms]\nurl = "http://127.0.0.1:9"\ntoken_env = "NOT_SET_ANYWHERE"\n'
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vault.cli",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
            "--address",
            "127.0.0.1:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 2
    assert "NOT_SET_ANYWHERE, which is not set" in result.stderr
    assert "Traceback" not in result.stderr
    config.write_text("this is not toml = = =")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "vault.cli",
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_serve_on_a_taken_port_says_so_without_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "vault.cli",
                "serve",
                "--data-dir",
                str(tmp_path / "d"),
                "--address",
                f"127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--address" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_salon_database_file_that_is_not_there_is_reported_never_created(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "salon.db"  # its directory exists; the file does not
    registry = load({"salon": standins.salon_section(f"sqlite:///{missing}")}, tmp_path)
    try:
        report = registry.health("salon")
    finally:
        registry.close()
    assert not report.healthy
    assert "unable to open database file" in report.detail
    assert not missing.exists()


def test_a_connector_type_runs_under_another_name_only_when_that_is_clear(
    tmp_path: Path,
) -> None:
    section = standins.salon_section(f"sqlite:///{tmp_path / 'register.db'}")
    with pytest.raises(ConfigError, match=r"type 'sql' is not installed \(installed: .*salon"):
        load({"student_register": {**section, "type": "sql"}}, tmp_path)
    with pytest.raises(ConfigError, match="is the installed connector 'lms'; it cannot run type"):
        load({"lms": {**section, "type": "salon"}}, tmp_path)
    with pytest.raises(ConfigError, match="a system name must be lower-case letters"):
        load({"Student Register": {**section, "type": "salon"}}, tmp_path)
    with pytest.raises(ConfigError, match=r'not installed .*set type = "\.\.\."'):
        load({"student_register": section}, tmp_path)
    registry = load({"student_register": {**section, "type": "salon"}}, tmp_path)
    try:
        installed = registry.get("student_register")
        assert installed is not None and installed.enabled
        assert installed.holdings is not None
        assert installed.holdings.system == "student_register"
        assert not registry.installed["salon"].enabled  # the type itself stays off
    finally:
        registry.close()


def test_every_connector_gets_the_controllers_time_zone(tmp_path: Path) -> None:
    lms = {"url": "http://127.0.0.1:9", "token_env": "T"}
    default = load({"lms": lms}, tmp_path, {"T": "x"}).get("lms")
    assert default is not None and default.connector is not None
    assert default.connector.settings.time_zone == "Europe/Stockholm"
    registry = ConnectorRegistry.load(
        {"lms": lms},
        make_plugin_manager(),
        VaultHost(__version__),
        tmp_path,
        {"T": "x"},
        time_zone="Europe/Helsinki",
    )
    installed = registry.get("lms")
    assert installed is not None and installed.connector is not None
    assert installed.connector.settings.time_zone == "Europe/Helsinki"


def test_a_time_zone_that_does_not_exist_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="time zone 'Europe/Malmo' is not a known zoneinfo name"):
        ConnectorRegistry.load(
            {},
            make_plugin_manager(),
            VaultHost(__version__),
            tmp_path,
            {},
            time_zone="Europe/Malmo",
        )


def test_the_grading_basis_is_set_in_calendar_months_and_days_are_refused(
    tmp_path: Path,
) -> None:
    lms = {"url": "http://127.0.0.1:9", "token_env": "T"}
    with pytest.raises(
        ConfigError, match=r"grading_basis_days is no longer read.*grading_basis_months"
    ):
        load({"lms": {**lms, "grading_basis_days": 183}}, tmp_path, {"T": "x"})
    for months in (0, "6", 6.5, True):
        with pytest.raises(ConfigError, match="grading_basis_months must be a whole number"):
            load({"lms": {**lms, "grading_basis_months": months}}, tmp_path, {"T": "x"})
    installed = load({"lms": {**lms, "grading_basis_months": 7}}, tmp_path, {"T": "x"}).get("lms")
    assert installed is not None and installed.holdings is not None
    basis = installed.holdings.category("student.grading_basis")
    assert basis is not None and basis.retention.startswith("7 calendar months")
