"""The server's settings as one typed object, built from the command's flags,
the environment and the TOML file; every bad value is one line naming the setting.

Nothing here opens a file other than the configuration and the TLS and
purposes files it names, so a bad setting is found before any data is touched.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vault import bootstrap, purposes_file, tls
from vault.core.clock import DEFAULT_TIME_ZONE
from vault.core.consent.purposes import Purposes, PurposesError
from vault.core.erasure import ErasureSettings
from vault.core.keycache import DEFAULT_CACHE_ENTRIES
from vault.core.model import SWEDISH_SUPERVISORY_AUTHORITY, Controller
from vault.core.replay import DEFAULT_REMEMBER_FOR
from vault.core.rotation import duration
from vault.keyring import KEYRING_ENV
from vault.tls import TlsSettings

DATA_DIR_ENV = "CONSENT_VAULT_DATA"
DATABASE_ENV = "CONSENT_VAULT_DATABASE"
KEY_DATABASE_ENV = "CONSENT_VAULT_KEY_DATABASE"
KEYRING_FILE_ENV = "CONSENT_VAULT_KEYRING_FILE"
DEFAULT_DATA_DIR = Path("vault-data")
DEFAULT_ADDRESS = "127.0.0.1:50051"

# Who "we" are in the demo, unless a [controller] section says otherwise.
DEMO_CONTROLLER = Controller("Leep Yrkesutbildning AB, Malmö (demo)", "dataskydd@example.se")


class SettingsError(Exception):
    """A setting cannot be used; the message is one line that names it."""


@dataclass(frozen=True)
class AccessSettings:
    """[access] and [systems.NAME]: how many calls a second one token may make
    (a bucket of `burst` calls, refilled at `calls_per_second`), how many
    refused authentications one client address may have (`refused_burst`,
    refilled at `refused_per_second`), and the purposes each source system's
    integrator may write records for: `load` gives a system the configured
    purposes that name it among their systems, unless [systems.NAME] purposes
    lists others. Built here without `load`, no system has any."""

    calls_per_second: float = 50.0
    burst: int = 100
    refused_per_second: float = 5.0
    refused_burst: int = 20
    purposes: Mapping[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerSettings:
    address: str = DEFAULT_ADDRESS
    # Threads for calls that block: writes waiting for their commit, and calls
    # that reach connectors' systems. Reads of local storage need none.
    max_workers: int = 8
    # The vault's calls beyond this get RESOURCE_EXHAUSTED / TOO_MANY_CALLS at
    # once instead of queueing into timeouts; health and reflection are not
    # counted, so a probe can still ask. Server streams each hold a thread of
    # their own, so this also bounds the stream threads.
    max_concurrent_rpcs: int = 64
    # Let other consent-vault servers listen on the same port (SO_REUSEPORT):
    # the kernel spreads new connections over them. Off unless asked for, so
    # a second server on a busy port is refused rather than silently sharing.
    reuse_port: bool = False
    tls: TlsSettings = field(default_factory=TlsSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    # Serve the schema (no data) to tools such as grpcurl; [server] reflection.
    reflection: bool = True
    # The admin asked for plaintext on an address other machines reach
    # (--insecure-plaintext); the server warns at start. Loopback needs no asking.
    insecure_plaintext: bool = False

    def check_transport(self) -> None:
        """Plaintext only where no other machine listens in: on a loopback
        address, or where the admin explicitly asked for it. Raises SettingsError."""
        if self.tls.enabled or self.insecure_plaintext or is_loopback(self.address):
            return
        raise SettingsError(
            f"--address {self.address}: not a loopback address, and no TLS is configured; "
            "give a certificate ([tls] cert_file and key_file, or --tls-cert and --tls-key), "
            "or pass --insecure-plaintext to serve it unencrypted"
        )


def is_loopback(address: str) -> bool:
    """Does `address` (HOST:PORT) listen on this machine's loopback only?"""
    host = address.rpartition(":")[0].removeprefix("[").removesuffix("]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, or empty (every interface)
        return False


@dataclass(frozen=True)
class StorageSettings:
    # Absolute: paths derived from it end up in connector settings (a demo
    # system's DSN, say), read later by code that must not depend on the
    # directory the server was started from.
    data_dir: Path
    # Where the record store is (see vault.bootstrap.open_stores): by default
    # the data directory's SQLite files, or a PostgreSQL URL (--database).
    url: str
    # Where the key store is, when not beside the records (--key-database).
    key_url: str | None = None

    @property
    def where(self) -> str:
        """Where the data is, for people (no password)."""
        if self.url == f"sqlite:///{self.data_dir}" and self.key_url is None:
            return f"data in {self.data_dir}"
        records = bootstrap.redacted(self.url)
        keys = bootstrap.redacted(self.key_url) if self.key_url else "the same place"
        return f"records in {records}, keys in {keys}"

    @classmethod
    def in_directory(
        cls, directory: Path, database: str | None = None, key_database: str | None = None
    ) -> StorageSettings:
        """The data directory's own SQLite databases unless URLs are given."""
        for option, given in (("--database", database), ("--key-database", key_database)):
            if given is not None and not given.strip():
                raise SettingsError(f"{option} is empty; give a URL, or leave the option out")
            if given:
                try:
                    bootstrap.check_url(given, option)
                except bootstrap.UnknownStorage as error:
                    raise SettingsError(str(error)) from None
        url = _absolute(database) if database else f"sqlite:///{directory}"
        return cls(directory, url, _absolute(key_database) if key_database else None)


@dataclass(frozen=True)
class KeyringSettings:
    # The KEK file: separate from both databases, so no database backup holds it.
    path: Path
    # The whole keyring as JSON ($CONSENT_VAULT_KEYRING); wins over the file.
    given: str = ""


@dataclass(frozen=True)
class ErasureConfig:
    """[erasure]: how steps are leased, timed out and retried, and how many
    threads carry them out (they mostly wait on the systems)."""

    workers: int = 8
    lease_seconds: float = ErasureSettings.lease_seconds
    call_timeout_seconds: float = ErasureSettings.call_timeout_seconds
    max_attempts: int = ErasureSettings.max_attempts
    backoff_base_seconds: float = ErasureSettings.backoff_base_seconds
    backoff_cap_seconds: float = ErasureSettings.backoff_cap_seconds

    def for_steps(self, time_zone: str) -> ErasureSettings:
        """What the step engine takes: these, in the controller's time zone."""
        return ErasureSettings(
            lease_seconds=self.lease_seconds,
            call_timeout_seconds=self.call_timeout_seconds,
            max_attempts=self.max_attempts,
            backoff_base_seconds=self.backoff_base_seconds,
            backoff_cap_seconds=self.backoff_cap_seconds,
            time_zone=time_zone,
        )


@dataclass(frozen=True)
class KeySettings:
    """[keys]: how many unwrapped keys each process keeps (vault.core.keys
    says what an entry costs); a miss costs a key-store read and an unwrap."""

    cache_entries: int = DEFAULT_CACHE_ENTRIES
    # A new key version this often, and versions older than `retire_after`
    # retired (vault.core.rotation); None: not on a schedule (the default).
    rotate_every: dt.timedelta | None = None
    retire_after: dt.timedelta | None = None

    @property
    def scheduled(self) -> bool:
        return self.rotate_every is not None or self.retire_after is not None


@dataclass(frozen=True)
class RequestSettings:
    """[requests]: how long a request id is remembered, so that a retry answers
    as the first call did (vault.core.replay says why 30 days); the maintenance
    pass forgets it after that, and a retry then is a new request."""

    remember_for: dt.timedelta = DEFAULT_REMEMBER_FOR


@dataclass(frozen=True)
class MaintenanceSettings:
    # Seconds between maintenance passes (one also runs right after an
    # erasure); 0 runs none, as tests that look at the files want.
    interval_seconds: float = 30.0


@dataclass(frozen=True)
class ControllerSettings:
    """[controller]: who "we" are on an export's page, and the time zone in
    which connectors' "today" and every retained item's last day kept are dates."""

    name: str = ""
    contact: str = ""
    supervisory_authority: str = SWEDISH_SUPERVISORY_AUTHORITY
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def controller(self) -> Controller:
        return Controller(self.name, self.contact, self.supervisory_authority)


@dataclass(frozen=True)
class ConnectorSections:
    # The [connectors.NAME] tables, as the registry takes them.
    sections: Mapping[str, Any] = field(default_factory=dict)
    # Where relative paths in them start: the configuration file's folder.
    base_dir: Path = field(default_factory=Path.cwd)


@dataclass(frozen=True)
class DemoSettings:
    # Seed the school's demo people and connect stand-ins of its four systems.
    enabled: bool = False


@dataclass(frozen=True)
class PurposeSettings:
    """[purposes] file: the purposes the vault processes for, each with its
    legal basis (a file of vault/school_purposes.toml's form); the school's,
    shipped with the vault, unless `file` names another."""

    file: Path | None = None
    catalogue: Purposes = field(default_factory=purposes_file.school)

    @property
    def source(self) -> str:
        """Where the purposes come from, for a message."""
        return str(self.file) if self.file else f"the shipped {purposes_file.SCHOOL_FILE}"


@dataclass(frozen=True)
class Settings:
    storage: StorageSettings
    keyring: KeyringSettings
    server: ServerSettings = field(default_factory=ServerSettings)
    erasure: ErasureConfig = field(default_factory=ErasureConfig)
    keys: KeySettings = field(default_factory=KeySettings)
    requests: RequestSettings = field(default_factory=RequestSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    controller: ControllerSettings = field(default_factory=ControllerSettings)
    connectors: ConnectorSections = field(default_factory=ConnectorSections)
    demo: DemoSettings = field(default_factory=DemoSettings)
    purposes: PurposeSettings = field(default_factory=PurposeSettings)

    @classmethod
    def for_data_dir(cls, directory: Path, **sections: Any) -> Settings:
        """Defaults over `directory`, its keyring beside the databases; `sections`
        replace whole parts (server=ServerSettings(...), ...)."""
        directory = directory.absolute()
        return cls(
            StorageSettings.in_directory(directory),
            KeyringSettings(directory / "keyring.json"),
            **sections,
        )


def data_dir(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(explicit or env.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).absolute()


def _absolute(url: str) -> str:
    """A SQLite URL names its directory from where the server starts
    (`sqlite:///relative`, `sqlite:////absolute`); it is kept absolute, so the
    stores do not move when the working directory does, and what is printed is
    where they are."""
    if not url.startswith("sqlite:///"):
        return url
    return f"sqlite:///{Path(url.removeprefix('sqlite:///')).absolute()}"


def storage_settings(
    directory: Path,
    database: str | None = None,
    key_database: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StorageSettings:
    """Where the stores are: the flags, then the environment, then the data directory."""
    env = os.environ if environ is None else environ
    return StorageSettings.in_directory(
        directory,
        database if database is not None else env.get(DATABASE_ENV) or None,
        key_database if key_database is not None else env.get(KEY_DATABASE_ENV) or None,
    )


def keyring_settings(
    directory: Path, explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> KeyringSettings:
    env = os.environ if environ is None else environ
    path = Path(explicit or env.get(KEYRING_FILE_ENV) or directory / "keyring.json")
    return KeyringSettings(path, env.get(KEYRING_ENV, ""))


def load(
    *,
    address: str = DEFAULT_ADDRESS,
    data_dir_flag: str | None = None,
    database_flag: str | None = None,
    key_database_flag: str | None = None,
    keyring_flag: str | None = None,
    config: Path | None = None,
    demo: bool = False,
    max_concurrent_rpcs: int = 64,
    reuse_port: bool = False,
    tls_cert_flag: Path | None = None,
    tls_key_flag: Path | None = None,
    client_ca_flag: Path | None = None,
    insecure_plaintext: bool = False,
    no_reflection: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """The settings `serve` runs with: its flags, then the environment, then
    the TOML file at `config`, then the defaults. Raises SettingsError."""
    if max_concurrent_rpcs < 1:
        raise SettingsError("--max-concurrent-rpcs: must be at least 1")
    _check_address(address)
    directory = data_dir(data_dir_flag, environ)
    toml = read_toml(config) if config else {}
    erasure = _known(_table(toml, "erasure"), "erasure", _ERASURE_KEYS)
    keys = _known(_table(toml, "keys"), "keys", _KEYS_SECTION_KEYS)
    requests = _known(_table(toml, "requests"), "requests", _REQUESTS_KEYS)
    given = _known(_table(toml, "controller"), "controller", _CONTROLLER_KEYS)
    # The demo is the school's; a configured [controller] wins, and without
    # either the export page says none is configured.
    fallback = DEMO_CONTROLLER if demo else Controller()
    controller = ControllerSettings(
        _text(given, "controller", "name", fallback.name),
        _text(given, "controller", "contact", fallback.contact),
        _text(given, "controller", "supervisory_authority", fallback.supervisory_authority),
        _time_zone(_text(given, "controller", "time_zone", DEFAULT_TIME_ZONE)),
    )
    key_settings = KeySettings(
        _number(keys, "keys", "cache_entries", KeySettings.cache_entries, whole=True),
        _age(keys, "keys", "rotate_every"),
        _age(keys, "keys", "retire_after"),
    )
    request_settings = RequestSettings(
        _age(requests, "requests", "remember_for") or RequestSettings.remember_for
    )
    _check_retirement_keeps_requests(key_settings, request_settings)
    base_dir = config.parent if config else Path.cwd()
    purposes = _purposes(toml, base_dir)
    tls_table = _known(_table(toml, "tls"), "tls", tuple(tls.FLAGS))
    server_table = _known(_table(toml, "server"), "server", _SERVER_KEYS)
    reflection = server_table.get("reflection", True)
    if not isinstance(reflection, bool):
        raise SettingsError(f"[server] reflection must be true or false, not {reflection!r}")
    server = ServerSettings(
        address,
        max_concurrent_rpcs=max_concurrent_rpcs,
        reuse_port=reuse_port,
        tls=_tls(
            {
                "cert_file": tls_cert_flag,
                "key_file": tls_key_flag,
                "client_ca_file": client_ca_flag,
            },
            tls_table,
            base_dir,
        ),
        access=_access(_table(toml, "access"), _table(toml, "systems"), purposes),
        reflection=reflection and not no_reflection,
        insecure_plaintext=insecure_plaintext,
    )
    server.check_transport()
    return Settings(
        storage=storage_settings(directory, database_flag, key_database_flag, environ),
        keyring=keyring_settings(directory, keyring_flag, environ),
        server=server,
        erasure=_leased(
            ErasureConfig(
                workers=_number(erasure, "erasure", "workers", ErasureConfig.workers, whole=True),
                lease_seconds=_number(
                    erasure, "erasure", "lease_seconds", ErasureConfig.lease_seconds
                ),
                call_timeout_seconds=_number(
                    erasure, "erasure", "call_timeout_s", ErasureConfig.call_timeout_seconds
                ),
                max_attempts=_number(
                    erasure, "erasure", "max_attempts", ErasureConfig.max_attempts, whole=True
                ),
                backoff_base_seconds=_number(
                    erasure,
                    "erasure",
                    "backoff_base_s",
                    ErasureConfig.backoff_base_seconds,
                    zero=True,
                ),
                backoff_cap_seconds=_number(
                    erasure,
                    "erasure",
                    "backoff_cap_s",
                    ErasureConfig.backoff_cap_seconds,
                    zero=True,
                ),
            )
        ),
        keys=key_settings,
        requests=request_settings,
        controller=controller,
        connectors=ConnectorSections(dict(_table(toml, "connectors")), base_dir),
        demo=DemoSettings(demo),
        purposes=purposes,
    )


def purposes_in(config: Path | None) -> PurposeSettings:
    """The purposes the TOML file at `config` configures ([purposes] file), or
    the school's without one: for the commands that open a vault without
    serving it. Raises SettingsError."""
    if config is None:
        return PurposeSettings()
    return _purposes(read_toml(config), config.parent)


def _purposes(toml: Mapping[str, Any], base_dir: Path) -> PurposeSettings:
    """[purposes] file, relative to the configuration's folder, read and
    checked now: a file that cannot be used stops the start in one line,
    before any data is touched, rather than refusing records later."""
    table = _known(_table(toml, "purposes"), "purposes", _PURPOSES_KEYS)
    if "file" not in table:
        return PurposeSettings()
    name = table["file"]
    if not isinstance(name, str) or not name:
        raise SettingsError(
            f'[purposes] file must be a path in quotes, such as "purposes.toml", not {name!r}'
        )
    path = base_dir / name
    try:
        return PurposeSettings(path, purposes_file.load(path))
    except PurposesError as error:
        raise SettingsError(f"[purposes] file: {error}") from None


def _check_retirement_keeps_requests(keys: KeySettings, requests: RequestSettings) -> None:
    """A request id is hashed under the version current when it was remembered
    and is never found once that version retires. A version stops being
    current up to `rotate_every` after it was made, and its last request is
    remembered for `remember_for` after that: a schedule that retires sooner
    would forget requests early, and a client's retry would be applied again."""
    if keys.retire_after is None:
        return
    needed = (keys.rotate_every or dt.timedelta(0)) + requests.remember_for
    if keys.retire_after < needed:
        raise SettingsError(
            f"[keys] retire_after must be at least {_days(needed)} "
            f"(rotate_every + [requests] remember_for), so that no request id is "
            f"forgotten before its time; it is {_days(keys.retire_after)}"
        )


def _days(span: dt.timedelta) -> str:
    if span % dt.timedelta(days=1):
        return f"{span.total_seconds():,.0f} s"
    return f"{span.days:,} days"


def _check_address(address: str) -> None:
    """HOST:PORT, or grpc would take `127.0.0.1` as port 443 and wrap a port past
    65535 round to another."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(
            f"--address {address!r}: write it as HOST:PORT, a port from 0 (any free one) to 65535"
        )


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"configuration file {path} is not valid TOML: {error}") from None
    except OSError as error:
        raise SettingsError(
            f"configuration file {path} cannot be read: {error.strerror or error}"
        ) from None


_ERASURE_KEYS = (
    "workers",
    "lease_seconds",
    "call_timeout_s",
    "max_attempts",
    "backoff_base_s",
    "backoff_cap_s",
)
_KEYS_SECTION_KEYS = ("cache_entries", "rotate_every", "retire_after")
_REQUESTS_KEYS = ("remember_for",)
_CONTROLLER_KEYS = ("name", "contact", "supervisory_authority", "time_zone")
_SERVER_KEYS = ("reflection",)
_ACCESS_KEYS = ("calls_per_second", "burst", "refused_per_second", "refused_burst")
_SYSTEM_KEYS = ("purposes",)
_PURPOSES_KEYS = ("file",)


def _tls(flags: Mapping[str, Path | None], table: Mapping[str, Any], base_dir: Path) -> TlsSettings:
    try:
        return tls.read(flags, table, base_dir)
    except tls.TlsFileError as error:
        raise SettingsError(str(error)) from None


def _access(
    table: Mapping[str, Any], systems: Mapping[str, Any], configured: PurposeSettings
) -> AccessSettings:
    """The [access] limits, and each system's purposes: those that name it
    among their systems, unless its [systems.NAME] purposes lists others
    (an empty list: none), every one of them a configured purpose."""
    _known(table, "access", _ACCESS_KEYS)
    catalogue = configured.catalogue
    purposes: dict[str, frozenset[str]] = dict(catalogue.systems())
    for system, section in systems.items():
        name = f"systems.{system}"
        if not isinstance(section, dict):
            raise SettingsError(f"[{name}] must be a table of settings, not {section!r}")
        _known(section, name, _SYSTEM_KEYS)
        if "purposes" not in section:
            continue
        listed = section["purposes"]
        if not isinstance(listed, list) or not all(isinstance(p, str) and p for p in listed):
            raise SettingsError(
                f'[{name}] purposes must be a list of purposes in quotes, such as ["course_delivery"]'
            )
        for purpose in listed:
            if purpose not in catalogue:
                raise SettingsError(
                    f"[{name}] purposes: {purpose} is not a configured purpose "
                    f"(not in {configured.source})"
                )
        purposes[system] = frozenset(listed)
    return AccessSettings(
        calls_per_second=_number(
            table,
            "access",
            "calls_per_second",
            AccessSettings.calls_per_second,
            unit="calls a second",
        ),
        burst=_number(table, "access", "burst", AccessSettings.burst, whole=True),
        refused_per_second=_number(
            table,
            "access",
            "refused_per_second",
            AccessSettings.refused_per_second,
            unit="refusals a second",
        ),
        refused_burst=_number(
            table, "access", "refused_burst", AccessSettings.refused_burst, whole=True
        ),
        purposes=purposes,
    )


def _leased(erasure: ErasureConfig) -> ErasureConfig:
    """A connector's step calls its system twice (match, then erase), each under
    call_timeout_s: a lease shorter than both would let a second worker take the
    step over while the first still works on it."""
    if erasure.lease_seconds <= 2 * erasure.call_timeout_seconds:
        raise SettingsError(
            f"[erasure] lease_seconds must be more than twice call_timeout_s "
            f"({erasure.call_timeout_seconds:g}), not {erasure.lease_seconds:g}"
        )
    return erasure


def _known(table: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    """A misspelt setting is refused, never silently left at its default."""
    for key in table:
        if key not in keys:
            raise SettingsError(f"[{name}] has no setting {key!r}; it has {', '.join(keys)}")
    return table


def _table(toml: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = toml.get(name, {})
    if not isinstance(value, dict):
        raise SettingsError(f"[{name}] must be a table of settings, not {value!r}")
    return value


def _text(table: Mapping[str, Any], section: str, key: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str):
        raise SettingsError(f"[{section}] {key} must be text (in quotes), not {value!r}")
    return value


def _number(
    table: Mapping[str, Any],
    section: str,
    key: str,
    default: float,
    *,
    whole: bool = False,
    zero: bool = False,
    unit: str = "seconds",
) -> Any:
    """[section] `key` as a number of `unit`, or with `whole` a count; more
    than 0, or with `zero` 0 or more."""
    value = table.get(key, default)
    kind = "a whole number" if whole else f"a number of {unit}"
    # TOML's true and false are not numbers, though Python's bool is an int;
    # its nan and inf are floats, and no limit or time means either.
    fits = isinstance(value, int) if whole else isinstance(value, int | float)
    if isinstance(value, bool) or not fits or not math.isfinite(value):
        raise SettingsError(f"[{section}] {key} must be {kind}, not {value!r}")
    if value < 0 or (value == 0 and not zero):
        bound = "0 or more" if zero else "more than 0"
        raise SettingsError(f"[{section}] {key} must be {bound}, not {value!r}")
    return value


def _age(table: Mapping[str, Any], section: str, key: str) -> dt.timedelta | None:
    """[section] `key` as a duration in quotes ("90d"), more than 0; None if not set."""
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str):
        raise SettingsError(f'[{section}] {key} must be a duration in quotes, such as "90d"')
    try:
        age = duration(value, f"[{section}] {key}")
    except ValueError as error:
        raise SettingsError(str(error)) from None
    if not age:
        raise SettingsError(f"[{section}] {key} must be more than 0, not {value!r}")
    return age


def _time_zone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"[controller] time_zone {name!r} is not a known zoneinfo name "
            "(such as Europe/Stockholm)"
        ) from None
    return name
