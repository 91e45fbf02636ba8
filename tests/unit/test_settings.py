"""The server's settings: flags over the environment over the TOML file over
the defaults, and every bad value one line that names the setting."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from vault import purposes_file, settings
from vault.core.actor import LOCAL
from vault.core.erasure import ErasureSettings
from vault.core.errors import InvalidArgument
from vault.core.identities import IdentityKind
from vault.core.keycache import DEFAULT_CACHE_ENTRIES
from vault.core.model import SWEDISH_SUPERVISORY_AUTHORITY, LegalBasis, RecordDraft
from vault.core.vault import IdentityInput
from vault.runtime import Runtime
from vault.settings import SettingsError


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vault.toml"
    path.write_text(text)
    return path


def test_the_defaults_serve_the_data_directory_with_its_own_keyring(tmp_path: Path) -> None:
    loaded = settings.load(environ={})
    directory = Path("vault-data").absolute()
    assert loaded.storage.data_dir == directory
    assert loaded.storage.url == f"sqlite:///{directory}"
    assert loaded.keyring == settings.KeyringSettings(directory / "keyring.json", "")
    school = purposes_file.school()
    # Each system's integrator writes for the school's purposes that name it.
    access = settings.AccessSettings(purposes=school.systems())
    assert loaded.server == settings.ServerSettings("127.0.0.1:50051", 8, 64, access=access)
    assert loaded.purposes == settings.PurposeSettings(None, school)
    assert loaded.erasure.workers == 8
    assert loaded.erasure.for_steps("Europe/Stockholm") == ErasureSettings()
    assert loaded.keys.cache_entries == DEFAULT_CACHE_ENTRIES
    assert loaded.keys.rotate_every is None and loaded.keys.retire_after is None
    assert not loaded.keys.scheduled
    assert loaded.requests.remember_for == dt.timedelta(days=30)
    assert loaded.maintenance.interval_seconds == 30
    assert loaded.controller.controller.name == ""
    assert loaded.controller.supervisory_authority == SWEDISH_SUPERVISORY_AUTHORITY
    assert loaded.controller.time_zone == "Europe/Stockholm"
    assert not loaded.demo.enabled and loaded.connectors.sections == {}


def test_flags_win_over_the_environment(tmp_path: Path) -> None:
    environ = {
        settings.DATA_DIR_ENV: str(tmp_path / "from-env"),
        settings.KEYRING_FILE_ENV: str(tmp_path / "env-ring.json"),
        "CONSENT_VAULT_KEYRING": '{"the": "whole keyring"}',
    }
    from_env = settings.load(environ=environ)
    assert from_env.storage.data_dir == tmp_path / "from-env"
    assert from_env.keyring.path == tmp_path / "env-ring.json"
    assert from_env.keyring.given == '{"the": "whole keyring"}'
    flagged = settings.load(
        data_dir_flag=str(tmp_path / "flag"),
        keyring_flag=str(tmp_path / "flag-ring.json"),
        environ=environ,
    )
    assert flagged.storage.data_dir == tmp_path / "flag"
    assert flagged.storage.url == f"sqlite:///{tmp_path / 'flag'}"
    assert flagged.keyring.path == tmp_path / "flag-ring.json"


def test_the_toml_file_sets_erasure_keys_controller_and_connectors(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[erasure]\nworkers = 2\nlease_seconds = 30\ncall_timeout_s = 5.5\nmax_attempts = 3\n"
        "backoff_base_s = 0\nbackoff_cap_s = 20\n"
        "[keys]\ncache_entries = 400_000\n"
        '[requests]\nremember_for = "7d"\n'
        '[controller]\nname = "Skolan AB"\ncontact = "dpo@skolan.se"\ntime_zone = "Europe/Helsinki"\n'
        '[connectors.lms]\nurl = "https://lms.example"\n',
    )
    loaded = settings.load(config=config, environ={})
    assert loaded.erasure.workers == 2
    assert loaded.erasure.for_steps(loaded.controller.time_zone) == ErasureSettings(
        lease_seconds=30,
        call_timeout_seconds=5.5,
        max_attempts=3,
        backoff_base_seconds=0,
        backoff_cap_seconds=20,
        time_zone="Europe/Helsinki",
    )
    assert loaded.keys.cache_entries == 400_000
    assert loaded.requests.remember_for == dt.timedelta(days=7)
    assert (loaded.controller.name, loaded.controller.contact) == ("Skolan AB", "dpo@skolan.se")
    assert loaded.connectors.sections == {"lms": {"url": "https://lms.example"}}
    assert loaded.connectors.base_dir == tmp_path


def test_the_demo_is_the_schools_unless_a_controller_is_configured(tmp_path: Path) -> None:
    assert settings.load(demo=True, environ={}).controller.controller == settings.DEMO_CONTROLLER
    config = _config(tmp_path, '[controller]\nname = "Skolan AB"\n')
    ours = settings.load(demo=True, config=config, environ={}).controller
    assert ours.name == "Skolan AB"
    assert ours.contact == settings.DEMO_CONTROLLER.contact


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[erasure]\nmax_attempts = "many"\n', "[erasure] max_attempts"),
        ("[erasure]\nmax_attempts = 0\n", "[erasure] max_attempts"),
        ("[erasure]\nmax_attempts = 2.5\n", "[erasure] max_attempts"),
        ("[erasure]\nworkers = true\n", "[erasure] workers"),
        ("[erasure]\nworkers = -1\n", "[erasure] workers"),
        ("[erasure]\nworkers = 0\n", "[erasure] workers"),  # no step could ever run
        ("[erasure]\nlease_seconds = 0\n", "[erasure] lease_seconds"),
        ('[erasure]\ncall_timeout_s = "30s"\n', "[erasure] call_timeout_s"),
        ("[erasure]\nbackoff_base_s = -1\n", "[erasure] backoff_base_s"),
        ("[erasure]\nbackoff_cap_s = [1]\n", "[erasure] backoff_cap_s"),
        ("[keys]\ncache_entries = 0\n", "[keys] cache_entries must be more than 0"),
        ("[keys]\ncache_entries = -20000\n", "[keys] cache_entries must be more than 0"),
        ("[keys]\ncache_entries = 1.5e5\n", "[keys] cache_entries must be a whole number"),
        ('[keys]\ncache_entries = "50k"\n', "[keys] cache_entries must be a whole number"),
        ("[keys]\ncache_entries = true\n", "[keys] cache_entries must be a whole number"),
        ('[keys]\nrotate_every = "90 days"\n', "[keys] rotate_every '90 days': write a whole"),
        ('[keys]\nrotate_every = "1.5d"\n', "[keys] rotate_every"),
        ("[keys]\nrotate_every = 90\n", "[keys] rotate_every must be a duration in quotes"),
        ('[keys]\nretire_after = "0d"\n', "[keys] retire_after must be more than 0"),
        ('[keys]\nretire_after = "-3d"\n', "[keys] retire_after"),
        (
            '[keys]\nretire_after = "99999999999999999999d"\n',
            "[keys] retire_after '99999999999999999999d' is too large",
        ),
        ('[keys]\nrotate_every = "600000w"\n', "[keys] rotate_every '600000w' is too large"),
        ('[keys]\nrotate_every = " 90d"\n', "[keys] rotate_every ' 90d': write a whole"),
        ('[requests]\nremember_for = "0d"\n', "[requests] remember_for must be more than 0"),
        ('[requests]\nremember_for = "1.5d"\n', "[requests] remember_for '1.5d': write a whole"),
        ("[requests]\nremember_for = 30\n", "[requests] remember_for must be a duration in quotes"),
        ("[requests]\nremember_for_days = 30\n", "[requests] has no setting 'remember_for_days'"),
        ('[controller]\ntime_zone = "Mars/Olympus"\n', "[controller] time_zone"),
        ("[controller]\nname = 7\n", "[controller] name"),
        ('erasure = "fast"\n', "[erasure]"),
        ('connectors = "all"\n', "[connectors]"),
        ("keys = 50000\n", "[keys] must be a table"),
        ("[erasure\n", "is not valid TOML"),
        # A misspelt key is refused, never left at its default.
        (
            "[erasure]\ncall_timeout_seconds = 5\n",
            "[erasure] has no setting 'call_timeout_seconds'",
        ),
        ('[controller]\ntimezone = "Europe/Oslo"\n', "[controller] has no setting 'timezone'"),
        ("[keys]\ncache_size = 50000\n", "[keys] has no setting 'cache_size'"),
        ("[purposes]\nfile = 3\n", "[purposes] file must be a path in quotes"),
        ('[purposes]\nfile = ""\n', "[purposes] file must be a path in quotes"),
        ('[purposes]\npath = "p.toml"\n', "[purposes] has no setting 'path'"),
        ('purposes = "p.toml"\n', "[purposes] must be a table"),
        # A lease that two calls of a step could outlast.
        ("[erasure]\nlease_seconds = 50\ncall_timeout_s = 30\n", "[erasure] lease_seconds"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_setting(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings.load(config=_config(tmp_path, text), environ={})
    message = str(refused.value)
    assert named in message and "\n" not in message


def test_a_missing_file_and_a_bad_flag_are_one_line_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        settings.load(config=tmp_path / "nowhere.toml", environ={})
    with pytest.raises(SettingsError, match="--max-concurrent-rpcs"):
        settings.load(max_concurrent_rpcs=0, environ={})


# ------------------------------------------------------------- purposes
CRM_PURPOSES = """
[purposes.newsletter]
description.en = "The newsletter"
legal_basis = "consent"
categories = ["contact"]
systems = ["crm"]
"""


def test_the_purposes_file_is_read_from_beside_the_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "purposes.toml").write_text(CRM_PURPOSES)
    config = folder / "vault.toml"
    config.write_text('[purposes]\nfile = "purposes.toml"\n')
    loaded = settings.load(config=config, environ={})
    assert loaded.purposes.file == folder / "purposes.toml"
    assert [p.name for p in loaded.purposes.catalogue] == ["newsletter"]
    # The file's systems write for its purposes, and none of the school's.
    assert loaded.server.access.purposes == {"crm": frozenset({"newsletter"})}
    again = settings.purposes_in(config)
    assert again.file == loaded.purposes.file
    assert list(again.catalogue) == list(loaded.purposes.catalogue)
    assert settings.purposes_in(None).catalogue is purposes_file.school()


@pytest.mark.parametrize(
    ("contents", "problem"),
    [
        (None, "cannot be read"),
        ("[purposes.newsletter\n", "not TOML"),
        ("", "no [purposes.NAME] tables"),
        (CRM_PURPOSES.replace('"consent"', '"maybe"'), "legal_basis must be one of"),
        (CRM_PURPOSES + "colour = 3\n", "unknown key colour"),
    ],
)
def test_a_missing_or_bad_purposes_file_is_one_line_naming_it(
    tmp_path: Path, contents: str | None, problem: str
) -> None:
    path = tmp_path / "purposes.toml"
    if contents is not None:
        path.write_text(contents)
    config = _config(tmp_path, '[purposes]\nfile = "purposes.toml"\n')
    for load in (
        lambda: settings.load(config=config, environ={}),
        lambda: settings.purposes_in(config),
    ):
        with pytest.raises(SettingsError) as refused:
            load()
        message = str(refused.value)
        assert message.startswith(f"[purposes] file: {path}"), message
        assert problem in message and "\n" not in message


def test_the_runtime_opens_the_vault_with_the_configured_purposes(tmp_path: Path) -> None:
    (tmp_path / "purposes.toml").write_text(CRM_PURPOSES)
    config = _config(tmp_path, '[purposes]\nfile = "purposes.toml"\n')
    loaded = settings.load(config=config, data_dir_flag=str(tmp_path / "data"), environ={})
    runtime = Runtime(loaded)
    try:
        vault = runtime.open_vault()
        assert vault.purposes is loaded.purposes.catalogue
        person = vault.create_subject(
            LOCAL, [IdentityInput(IdentityKind.EMAIL, "ada@example.se")], []
        ).subject_id
        newsletter = RecordDraft("contact", "newsletter", LegalBasis.CONSENT, "crm", {"a": 1})
        assert vault.create_record(LOCAL, person, newsletter).purpose == "newsletter"
        # The school's purposes are not this vault's.
        course = RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"a": 1})
        with pytest.raises(InvalidArgument) as refused:
            vault.create_record(LOCAL, person, course)
        assert refused.value.field == "record.purpose"
    finally:
        runtime.close()


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.1:99999", ":50241", "host:port", ""])
def test_an_address_is_host_and_port(address: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings.load(address=address, environ={})
    assert "HOST:PORT" in str(refused.value)
    assert settings.load(address="127.0.0.1:0", environ={}).server.address == "127.0.0.1:0"


def test_the_databases_come_from_flags_then_the_environment(tmp_path: Path) -> None:
    pg = "postgresql://db.example:5432/vault"
    env = {"CONSENT_VAULT_DATABASE": pg, "CONSENT_VAULT_KEY_DATABASE": pg + "_keys"}
    given = settings.load(data_dir_flag=str(tmp_path), environ=env)
    assert (given.storage.url, given.storage.key_url) == (pg, pg + "_keys")
    flagged = settings.load(data_dir_flag=str(tmp_path), database_flag="sqlite:///x", environ=env)
    assert flagged.storage.url == f"sqlite:///{Path('x').absolute()}"  # kept absolute
    assert "records in sqlite:////" in flagged.storage.where


@pytest.mark.parametrize(
    ("database", "key_database", "named"),
    [
        ("", None, "--database is empty"),
        ("  ", None, "--database is empty"),
        (None, "", "--key-database is empty"),
        ("mysql://db/vault", None, "--database 'mysql://db/vault': give sqlite:///DIRECTORY"),
        (None, "postgres ql://u:pw@db/x", "--key-database 'postgres ql://u:***@db/x'"),
    ],
)
def test_a_database_url_that_cannot_be_used_is_one_line(
    tmp_path: Path, database: str | None, key_database: str | None, named: str
) -> None:
    with pytest.raises(SettingsError, match=re.escape(named)):
        settings.load(
            data_dir_flag=str(tmp_path),
            database_flag=database,
            key_database_flag=key_database,
            environ={},
        )


def test_rotation_on_a_schedule_is_read_in_days_weeks_or_hours(tmp_path: Path) -> None:
    loaded = settings.load(
        config=_config(tmp_path, '[keys]\nrotate_every = "13w"\nretire_after = "180d"\n'),
        environ={},
    )
    assert loaded.keys.rotate_every == dt.timedelta(weeks=13)
    assert loaded.keys.retire_after == dt.timedelta(days=180)
    assert loaded.keys.scheduled
    hours = settings.load(
        config=_config(tmp_path, '[keys]\nretire_after = "36h"\n[requests]\nremember_for = "1d"\n'),
        environ={},
    )
    assert hours.keys.retire_after == dt.timedelta(hours=36) and hours.keys.rotate_every is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        # 13 weeks current, then 30 days of requests remembered under it.
        ('[keys]\nrotate_every = "13w"\nretire_after = "100d"\n', "at least 121 days"),
        ('[keys]\nretire_after = "7d"\n', "at least 30 days"),
        (
            '[keys]\nrotate_every = "90d"\nretire_after = "90d"\n[requests]\nremember_for = "2d"\n',
            "at least 92 days",
        ),
    ],
)
def test_a_schedule_that_would_forget_request_ids_early_is_refused(
    text: str, said: str, tmp_path: Path
) -> None:
    with pytest.raises(settings.SettingsError, match=said) as raised:
        settings.load(config=_config(tmp_path, text), environ={})
    assert "rotate_every + [requests] remember_for" in str(raised.value)
    assert "\n" not in str(raised.value)
