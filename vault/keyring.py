"""The keyring: versioned key-encryption keys (KEKs), each with the blind-index
key of its version, kept outside the databases in a file of mode 0600 (or
given whole in an environment variable).

A version is made by a rotation and retired later. A retired version's keys are
gone from the file, only its number and the time it was retired stay, so a copy
of the key database (or a WAL segment) from before the retirement holds keys
nobody can unwrap, and a copy of the record database from then holds blind
indexes nobody can compute again.

`KeyringSource` is the keyring as it is now: a running server re-reads the file
when another process (`consent-vault rotate-kek`) has replaced it, so rotation
needs no restart.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vault.crypto import KEY_BYTES, KeyringError, new_key

# Format 1 held one blind-index key for every KEK version; format 2 gives each
# version its own and remembers retired ones. Format 1 is still read.
KEYRING_FORMAT = "consent-vault-keyring/2"
KEYRING_FORMAT_1 = "consent-vault-keyring/1"
KEYRING_ENV = "CONSENT_VAULT_KEYRING"

# How often a running process looks whether the keyring file was replaced.
CHECK_EVERY_SECONDS = 1.0

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyVersion:
    """One version's keys: the KEK, and the key blind indexes are computed under."""

    kek: bytes
    index_key: bytes
    # When the version was made; None for versions a format-1 keyring held,
    # whose time nobody wrote down (they count as older than any date).
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Keyring:
    """The live versions by number, the current one, and the retired ones' numbers."""

    versions: dict[int, KeyVersion]
    current_version: int
    # Retired version -> when it was retired. Its keys are gone for good.
    retired: dict[int, dt.datetime] = field(default_factory=dict)
    source: str = field(default="memory", compare=False)

    @classmethod
    def generate(cls, now: dt.datetime | None = None) -> Keyring:
        return cls({1: KeyVersion(new_key(), new_key(), now or _now())}, 1)

    # ------------------------------------------------------------------ KEKs
    @property
    def current_kek(self) -> bytes:
        return self.versions[self.current_version].kek

    def kek(self, version: int) -> bytes:
        return self._version(version).kek

    def has(self, version: int) -> bool:
        return version in self.versions

    def _version(self, version: int) -> KeyVersion:
        try:
            return self.versions[version]
        except KeyError:
            pass
        if version in self.retired:
            raise KeyringError(
                f"key-encryption key version {version} was retired on "
                f"{self.retired[version]:%Y-%m-%d}: what was wrapped under it cannot be unwrapped"
            ) from None
        raise KeyringError(f"key-encryption key version {version} is not in the keyring") from None

    # --------------------------------------------------------- blind indexes
    @property
    def index_key(self) -> bytes:
        """The current version's blind-index key."""
        return self.versions[self.current_version].index_key

    def index_key_of(self, version: int) -> bytes:
        return self._version(version).index_key

    def blind_index(self, text: str, version: int | None = None) -> str:
        """A keyed hash of an identity's canonical text under one version's index
        key (the current one unless named): lookups without plaintext."""
        key = self.index_key if version is None else self.index_key_of(version)
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    def blind_indexes(self, text: str) -> list[tuple[int, str]]:
        """The text's blind index under every live version, the current first:
        until a re-index has moved every row to the current version, a row may
        still be under an older one."""
        return [(version, self.blind_index(text, version)) for version in self.live_versions()]

    def live_versions(self) -> list[int]:
        """The versions whose keys the ring holds, the current first."""
        return [self.current_version, *sorted(set(self.versions) - {self.current_version})]

    # ------------------------------------------------------------- lifecycle
    def with_new_version(self, now: dt.datetime | None = None) -> Keyring:
        """A copy with one more version (a new KEK and index key), made current."""
        version = max([*self.versions, *self.retired]) + 1
        return replace(
            self,
            versions={**self.versions, version: KeyVersion(new_key(), new_key(), now or _now())},
            current_version=version,
        )

    def older_than(self, cutoff: dt.datetime) -> list[int]:
        """The live versions, but the current one, made before `cutoff`."""
        return sorted(
            version
            for version, keys in self.versions.items()
            if version != self.current_version
            and (keys.created_at is None or keys.created_at < cutoff)
        )

    def without(self, versions: list[int], now: dt.datetime | None = None) -> Keyring:
        """A copy with `versions` retired: their keys dropped, their numbers kept."""
        if self.current_version in versions:
            raise ValueError("the current version cannot be retired")
        at = now or _now()
        return replace(
            self,
            versions={v: k for v, k in self.versions.items() if v not in versions},
            retired={**self.retired, **{v: at for v in versions if v in self.versions}},
        )

    # ------------------------------------------------------------ the file
    def to_json(self) -> str:
        return json.dumps(
            {
                "format": KEYRING_FORMAT,
                "current": self.current_version,
                "versions": {
                    str(v): {
                        "kek": _b64(k.kek),
                        "index_key": _b64(k.index_key),
                        "created_at": None if k.created_at is None else k.created_at.isoformat(),
                    }
                    for v, k in sorted(self.versions.items())
                },
                "retired": {str(v): at.isoformat() for v, at in sorted(self.retired.items())},
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, source: str) -> Keyring:
        try:
            data = json.loads(text)
            if data.get("format") == KEYRING_FORMAT_1:
                index_key = _unb64(data["index_key"])
                versions = {
                    int(v): KeyVersion(_unb64(k), index_key) for v, k in data["keks"].items()
                }
                ring = cls(versions, int(data["current_kek"]), {}, source)
            elif data.get("format") == KEYRING_FORMAT:
                versions = {
                    int(v): KeyVersion(
                        _unb64(k["kek"]),
                        _unb64(k["index_key"]),
                        None if k["created_at"] is None else _when(k["created_at"]),
                    )
                    for v, k in data["versions"].items()
                }
                retired = {int(v): _when(at) for v, at in data.get("retired", {}).items()}
                ring = cls(versions, int(data["current"]), retired, source)
            else:
                raise ValueError("unknown format")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeyringError(
                f"keyring from {source} is not a valid {KEYRING_FORMAT}: {exc}"
            ) from None
        if ring.current_version not in ring.versions or any(
            len(key) != KEY_BYTES for k in ring.versions.values() for key in (k.kek, k.index_key)
        ):
            raise KeyringError(f"keyring from {source} has a missing or wrong-sized key")
        return ring


def load_or_create_keyring(path: Path, environ: dict[str, str] | None = None) -> Keyring:
    """The keyring from the environment if set there, else from `path`, created
    with mode 0600 on first run. A file others can read is refused."""
    env = os.environ if environ is None else environ
    if env.get(KEYRING_ENV):
        return Keyring.from_json(env[KEYRING_ENV], source=f"${KEYRING_ENV}")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_keyring(path, Keyring.generate())
    return read_keyring(path)


def read_keyring(path: Path) -> Keyring:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # The message is the whole answer a person gets (the CLI prints it as
        # one line): what is wrong, and the command that fixes it.
        raise KeyringError(
            f"keyring file {path} can be read by others (mode {mode:o}); "
            f"make it yours alone: chmod 600 {path}"
        )
    return Keyring.from_json(path.read_text(), source=str(path))


def write_keyring(path: Path, ring: Keyring) -> None:
    """Write atomically with mode 0600: a new file, fsynced, then renamed over
    the old, and the directory fsynced so the rename survives a crash."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(ring.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class KeyringSource:
    """The keyring as it is now. Built from a file, it re-reads the file when it
    was replaced (looked at no more than once a `check_every` seconds, and at
    once by `refresh`, which a lookup of a version the ring lacks calls). Built
    from a keyring alone (given whole in $CONSENT_VAULT_KEYRING, or in a test)
    it never changes, and `replace` refuses; `of` makes one that lives in memory
    alone (tools, tests), where `replace` swaps the ring."""

    def __init__(
        self,
        ring: Keyring,
        path: Path | None = None,
        *,
        in_memory: bool = False,
        check_every: float = CHECK_EVERY_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ring = ring
        self.path = path
        self._in_memory = in_memory and path is None
        self._check_every = check_every
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # The file as last looked at, and the file `_ring` was read from (they
        # differ while a replaced file does not read): `replace` writes only
        # over the one it read.
        self._stamp = _stamp(path) if path is not None else None
        self._read_stamp = self._stamp
        self._checked = monotonic()

    @classmethod
    def of(cls, ring: Keyring | KeyringSource) -> KeyringSource:
        return ring if isinstance(ring, KeyringSource) else cls(ring, in_memory=True)

    @property
    def changeable(self) -> bool:
        """Whether the keyring can change (it is a file, or lives in memory alone)."""
        return self.path is not None or self._in_memory

    def current(self) -> Keyring:
        if self.path is not None and self._monotonic() - self._checked >= self._check_every:
            return self.refresh()
        return self._ring

    def refresh(self) -> Keyring:
        """The keyring, the file re-read now if it was replaced since last read."""
        if self.path is None:
            return self._ring
        with self._lock:
            self._checked = self._monotonic()
            try:
                stamp = _stamp(self.path)
                if stamp != self._stamp:
                    self._stamp = stamp
                    self._ring = read_keyring(self.path)
                    self._read_stamp = stamp
            except (OSError, KeyringError) as error:
                # The ring in hand still opens what it opened: a file made
                # unreadable by mistake must not stop a running server.
                _log.warning("keyring %s not re-read, the one in use is kept: %s", self.path, error)
            return self._ring

    def check_changeable(self) -> None:
        """KeyringError, in one line, unless the keyring can change: one given
        whole cannot change under a running server, so it cannot be rotated."""
        if not self.changeable:
            raise KeyringError(given_whole(self._ring.source))

    def replace(self, ring: Keyring) -> None:
        """Save `ring` as the keyring (rotation, retirement) and use it from now on.

        Only over the file this source last read: KeyringReplaced, writing
        nothing, if another process replaced the file since (build `ring` from
        `refresh()` and try again). One process changes the keyring at a time
        (the rotation lease), so this is a last check, not a lock."""
        if self._in_memory:
            self._ring = ring
            return
        self.check_changeable()
        assert self.path is not None
        with self._lock:
            if _stamp(self.path) != self._read_stamp:
                raise KeyringReplaced(
                    f"keyring file {self.path} was replaced by another process since it "
                    "was read: not overwritten, so no version it holds is lost; run again"
                )
            write_keyring(self.path, ring)
            self._ring = Keyring.from_json(ring.to_json(), source=str(self.path))
            self._stamp = self._read_stamp = _stamp(self.path)
            self._checked = self._monotonic()


class KeyringReplaced(KeyringError):
    """The keyring file changed since it was read: `KeyringSource.replace` did
    not write over it."""


def given_whole(source: str) -> str:
    """Why a keyring given whole (in $CONSENT_VAULT_KEYRING) cannot be rotated."""
    return (
        f"the keyring is given whole ({source}), so it cannot change under a running "
        "server: rotation needs a keyring file (--keyring) that every server reads; "
        f"move the keyring into a file of mode 0600 and unset ${KEYRING_ENV}"
    )


def _stamp(path: Path) -> tuple[int, int, int, int]:
    """What tells a replaced file: `write_keyring` renames a new inode over the old."""
    st = path.stat()
    # ctime too: a chmod that makes an unreadable file readable again is seen.
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _when(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return moment


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
