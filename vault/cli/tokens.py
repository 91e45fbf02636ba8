"""tokens create, list and revoke: API tokens made and revoked on the data
directory (or the database URLs), with no server to call, so the first admin
token can be made before any server runs.

`create` prints the secret once, alone on the last line of its output (so
`$(consent-vault tokens create ... | tail -1)` takes it); a server refuses a
revoked token within moments (vault.core.tokens.VERIFIED_FOR).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
from typing import TYPE_CHECKING, Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.markup import escape

    from vault.cli import _fail, _print_json, console, errors
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from collections.abc import Callable

    from vault.core.errors import VaultError
    from vault.core.tokens import Token
    from vault.core.vault import Vault

# The roles a token grants, as `--role` takes them (a hyphen for the underscore too).
ROLES = ["integrator", "privacy_officer", "auditor", "admin"]

# The core's fields, as the options (or arguments) that gave them.
_CREATE_OPTIONS = {
    "role": "--role",
    "system": "--system",
    "expires": "--expires",
    "name": "--name",
    "default_purpose": "--default-purpose",
}
_REVOKE_OPTIONS = {"name": "NAME"}
# A token's name in form, whatever its id: `tokens/` and one segment.


def role_word(text: str) -> str:
    return text.strip().lower().replace("-", "_")


# ------------------------------------------------------------- commands
def _tokens_create(args: argparse.Namespace) -> int:
    from vault.core.actor import LOCAL, Role
    from vault.core.errors import InvalidArgument
    from vault.core.rotation import duration
    from vault.settings import SettingsError

    # Checked before the vault is opened, so a mistyped command makes no vault.
    # The core checks the same rules again; these say them in the options' words.
    refused = None
    if args.role == "integrator" and not args.system:
        refused = InvalidArgument(
            "system", "an integrator's token names its source system, such as --system lms"
        )
    elif args.role != "integrator" and args.system:
        refused = InvalidArgument("system", "only an integrator's token names a system")
    try:
        expires_in = None if args.expires is None else duration(args.expires, "expires")
    except ValueError as error:
        refused = InvalidArgument("expires", str(error).removeprefix("expires "))
    if refused is not None:
        _refused(refused, _CREATE_OPTIONS)
        return 2
    try:
        unconfigured = _no_purposes_warning(args)
    except SettingsError as error:
        _fail(str(error))
        return 2

    def create(vault: Vault) -> int:
        issued = vault.tokens.create(
            LOCAL,
            Role(args.role),
            system=args.system,
            expires_in=expires_in,
            name=args.name,
            default_purpose=args.default_purpose,
        )
        errors.print(
            "[yellow]warning:[/yellow] the token's secret is shown only now and cannot be "
            "shown again: keep it in a secret store, or a file only you can read; lost, "
            f"revoke it (consent-vault tokens revoke {issued.token.resource_name}) and make another",
            highlight=False,
        )
        if unconfigured:
            errors.print(f"[yellow]warning:[/yellow] {escape(unconfigured)}", highlight=False)
        if args.json:
            _print_json({**_as_json(issued.token, vault.clock.now()), "secret": issued.secret})
            return 0
        from vault.reports.tokens import grants, minute

        token = issued.token
        expiry = f"expires {minute(token.expires_at)}" if token.expires_at else "never expires"
        label = f', "{token.name}"' if token.name else ""
        console.print(
            f"{token.resource_name}: {grants(token)}{label}, {expiry}",
            highlight=False,
            markup=False,
        )
        # Alone on the last line, nothing around it: `| tail -1` takes it whole.
        sys.stdout.flush()
        sys.stdout.write(issued.secret + "\n")
        return 0

    # A first token may be made in a new data directory: the vault is made there.
    return _with_vault(args, create, existing=False, options=_CREATE_OPTIONS)


def _tokens_list(args: argparse.Namespace) -> int:
    from vault.core.actor import LOCAL

    def listing(vault: Vault) -> int:
        now = vault.clock.now()
        tokens = vault.tokens.list(LOCAL, show_inactive=args.all)
        if args.json:
            _print_json([_as_json(token, now) for token in tokens])
            return 0
        from vault.reports.tokens import print_tokens
        from vault.reports.words import count

        print_tokens(console, tokens, now)
        # Said whenever the list leaves some out, so a revoked token missing
        # from it does not read as a token that never was.
        hidden = 0 if args.all else len(vault.tokens.list(LOCAL, show_inactive=True)) - len(tokens)
        if hidden:
            console.print(
                f"({count(hidden, 'revoked or expired token')} not shown: --all lists "
                + ("it)" if hidden == 1 else "them)"),
                highlight=False,
            )
        return 0

    return _with_vault(args, listing, existing=True, options={})


def _tokens_revoke(args: argparse.Namespace) -> int:
    from vault.core.actor import LOCAL
    from vault.core.tokens import VERIFIED_FOR

    def revoke(vault: Vault) -> int:
        token = vault.tokens.revoke(LOCAL, args.name)
        if args.json:
            _print_json(_as_json(token, vault.clock.now()))
            return 0
        from vault.reports.tokens import minute

        assert token.revoked_at is not None
        console.print(
            f"{token.resource_name}: revoked on {minute(token.revoked_at)}; running servers "
            f"refuse it within {VERIFIED_FOR.seconds} seconds",
            highlight=False,
            markup=False,
        )
        return 0

    return _with_vault(args, revoke, existing=True, options=_REVOKE_OPTIONS)


# The commands that call no server (vault.cli.main checks no --server for them).
OFFLINE = (_tokens_create, _tokens_list, _tokens_revoke)


# -------------------------------------------------------------- helpers
def _no_purposes_warning(args: argparse.Namespace) -> str | None:
    """What to warn of when the integrator's system has no purposes: none of
    the configured purposes (the --config's [purposes] file, or the school's)
    names it among its systems and no [systems.NAME] purposes lists any. The
    token works, but the server refuses every record it writes. Or when its
    --default-purpose is not one of them: every read that names none is
    refused. Raises SettingsError when the --config does not read."""
    from vault import settings as configuration

    system = args.system
    if args.role != "integrator":
        return None
    loaded = configuration.load(config=args.config, data_dir_flag=args.data_dir)
    purposes = loaded.server.access.purposes.get(system)
    where = f"in {args.config}" if args.config else "(pass the server's --config to check it)"
    if not purposes:
        return (
            f"no configured purpose names {system} among its systems and no "
            f"[systems.{system}] purposes are set {where}: the server refuses every record "
            "this token writes until they are"
        )
    default = args.default_purpose
    if default and default not in purposes:
        return (
            f"{system} is not configured for {default} {where}: every read that names no "
            "purpose is refused (PURPOSE_NOT_ALLOWED) until it is; its purposes: "
            + ", ".join(sorted(purposes))
        )
    return None


def _with_vault(
    args: argparse.Namespace,
    command: Callable[[Vault], int],
    *,
    existing: bool,
    options: dict[str, str],
) -> int:
    """Open the vault the options name (made there if not `existing`), run
    `command` on it and close it; every refusal one line on stderr, naming
    the option (of `options`, by the core's field) that gave what was refused."""
    from vault import settings as configuration
    from vault.cli.offline import open_vault
    from vault.core.errors import VaultError
    from vault.crypto import KeyringError

    directory = configuration.data_dir(args.data_dir)
    opened = open_vault(
        args, directory, configuration.keyring_settings(directory, args.keyring), existing=existing
    )
    if opened is None:
        return 2
    runtime, vault = opened
    with contextlib.closing(runtime):
        try:
            return command(vault)
        except VaultError as error:
            _refused(error, options)
            return 1
        except KeyringError as error:
            # The keyring is behind the key database (another process retired its version).
            _fail(error.message)
            return 2


def _refused(error: VaultError, options: dict[str, str]) -> None:
    """A refusal by the core in one line: its message, naming the option that
    gave the field, and its stable reason, dim, for scripts and support."""
    message = error.message
    field = error.metadata.get("field", "")
    option = options.get(field)
    if option and message.startswith(f"{field}:"):
        message = option + message.removeprefix(field)
    errors.print(
        f"[red]error:[/red] {escape(message)} [dim](reason: {escape(str(error.reason))})[/dim]",
        highlight=False,
    )


def _as_json(token: Token, now: dt.datetime) -> dict[str, Any]:
    from vault.reports.tokens import state

    words = state(token, now)
    return {
        "name": token.resource_name,
        "label": token.name,
        "role": token.role.value,
        "system": token.system,
        "default_purpose": token.default_purpose,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "last_used_at": token.last_used_at,
        "state": words.split(" ")[0],
    }
