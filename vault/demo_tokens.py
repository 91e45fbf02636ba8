"""The demo's API tokens: one for each role, in files of the data directory,
so that the CLI (which takes the privacy officer's by default) and the
README's examples work against `make run` as written.

At every demo start a token whose file is there and still verifies is kept;
any other (no file, revoked, expired, another vault's) is issued afresh.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vault.core.actor import LOCAL, Role
from vault.core.errors import Unauthenticated

if TYPE_CHECKING:
    from vault.core.vault import Vault

TOKENS_DIR = "tokens"


@dataclass(frozen=True)
class DemoRole:
    role: Role
    system: str = ""  # an integrator's source system
    # An integrator's purpose for the reads that name none.
    default_purpose: str = ""

    @property
    def file_name(self) -> str:
        if self.system:
            return f"{self.role.value}-{self.system}.token"
        return f"{self.role.value}.token"

    @property
    def called(self) -> str:
        """The role in words: "privacy officer", "integrator for lms"."""
        words = self.role.value.replace("_", " ")
        return f"{words} for {self.system}" if self.system else words


# The integrator is the learning platform's: the demo's busiest source
# system, which reads its records to deliver courses unless a read says otherwise.
ROLES = (
    DemoRole(Role.PRIVACY_OFFICER),
    DemoRole(Role.ADMIN),
    DemoRole(Role.AUDITOR),
    DemoRole(Role.INTEGRATOR, "lms", "course_delivery"),
)
# The token the CLI uses when it is given none (relative to the data directory).
OFFICER_TOKEN = Path(TOKENS_DIR) / ROLES[0].file_name


@dataclass(frozen=True)
class DemoToken:
    role: DemoRole
    path: Path
    issued: bool  # made at this start; False: kept from an earlier one


class DemoTokenError(Exception):
    """The demo's token files cannot be written; the message is one line."""


def keep_tokens(vault: Vault, directory: Path) -> list[DemoToken]:
    """A working token for each of the demo's roles in `directory`/tokens
    (the folder 0700, each file 0600), issuing those that are missing or no
    longer verify. Raises DemoTokenError."""
    folder = directory / TOKENS_DIR
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # a folder made looser by hand is tightened again
        kept = []
        for demo_role in ROLES:
            path = folder / demo_role.file_name
            if _still_works(vault, path, demo_role):
                path.chmod(0o600)
                kept.append(DemoToken(demo_role, path, issued=False))
                continue
            issued = vault.tokens.create(
                LOCAL,
                demo_role.role,
                system=demo_role.system,
                name=f"demo {demo_role.called}",
                default_purpose=demo_role.default_purpose,
            )
            _write_secret(path, issued.secret)
            kept.append(DemoToken(demo_role, path, issued=True))
        return kept
    except OSError as error:
        raise DemoTokenError(
            f"cannot write the demo's tokens in {folder}: {error.strerror or error}"
        ) from None


def _still_works(vault: Vault, path: Path, demo_role: DemoRole) -> bool:
    """Whether the file holds a token of this vault that verifies, for the
    role and system its name says."""
    try:
        secret = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return False
    try:
        token = vault.tokens.verify(secret)
    except Unauthenticated:
        return False
    return (
        token.role is demo_role.role
        and token.system == demo_role.system
        and token.default_purpose == demo_role.default_purpose
    )


def _write_secret(path: Path, secret: str) -> None:
    # Written aside, 0600 from the first byte, and renamed: a crash never
    # leaves half a token, nor a moment where others may read it.
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secret + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(part, path)
