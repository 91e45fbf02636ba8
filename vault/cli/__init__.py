"""The `consent-vault` command: run the server, and talk to one through the Python client."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    import grpc
    from rich.console import Console
    from rich.markup import escape

    from vault.demo_tokens import OFFICER_TOKEN
    from vault_client import Content, Identity, PlaintextRefused, VaultClient, VaultClientError
    from vault_client.credentials import TOKEN_ENV, TOKEN_FILE_ENV, CredentialsError, is_local
    from vault_client.errors import RateLimitedError, ServerUnreachableError
except KeyboardInterrupt:
    raise SystemExit(130) from None

SERVER_ENV = "CONSENT_VAULT_SERVER"
DEFAULT_ADDRESS = "127.0.0.1:50051"
# The demo's privacy officer's token, in the data directory: the CLI's default.
DEMO_TOKEN = OFFICER_TOKEN
# What to do about a missing token, said after where the CLI looked.
_TOKEN_HINT = f"pass --token-file or set {TOKEN_ENV}; `consent-vault tokens create` makes one"
# A token the server refused, by the reason it gave.
_REFUSED_WORDS = {
    "TOKEN_REVOKED": "was revoked",
    "TOKEN_EXPIRED": "has expired",
    "TOKEN_MALFORMED": "is not a token at all (a consent-vault token starts cvt_)",
}

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    try:
        # The commands load late, under this guard: Ctrl-C while they do is quiet.
        from vault.cli.audit import _audit_verify
        from vault.cli.offline import _migrate, _retire_kek, _rotate_kek, _serve
        from vault.cli.parser import _parser
        from vault.cli.purposes import _purposes_check
        from vault.cli.tokens import OFFLINE as token_commands

        parser = _parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return 2
        offline = (
            _serve,
            _rotate_kek,
            _retire_kek,
            _migrate,
            _audit_verify,
            _purposes_check,
            *token_commands,
        )
        if args.handler not in offline and not _ADDRESS.fullmatch(args.server):
            _fail(
                f"--server {args.server!r}: write the address as HOST:PORT, "
                f"such as {DEFAULT_ADDRESS} (no http://, no trailing /)"
            )
            return 2
        return _run(args)
    except KeyboardInterrupt:
        return 130


# HOST:PORT as gRPC takes it: a name or IPv4 address, or an IPv6 one in brackets.
_ADDRESS = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):\d{1,5}")


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.handler(args) or 0)
    except ServerUnreachableError:
        if getattr(args, "tls", False):
            _fail(
                f"no server answers at {args.server} over TLS, or its certificate is not "
                "signed by the roots of --ca-file (or $CONSENT_VAULT_TLS_CA); start one "
                f"with `consent-vault serve`, or name yours with --server or ${SERVER_ENV}"
            )
            return 1
        _fail(
            f"no server answers at {args.server}; start one with `consent-vault serve` "
            f"(or `make run`), or name yours with --server or ${SERVER_ENV}"
        )
        return 1
    except PlaintextRefused as refused:
        _fail(
            f"{refused.source} would go unencrypted to {args.server}, another machine: speak "
            "TLS with --ca-file (or $CONSENT_VAULT_TLS_CA) or --tls, or pass --insecure-plaintext"
        )
        return 1
    except VaultClientError as error:
        if error.code == grpc.StatusCode.UNIMPLEMENTED and not error.reason:
            _fail(f"the server at {args.server} does not answer the consent-vault API")
            return 1
        # The message in words, naming the option the user typed rather than
        # the API's field; the stable reason stays, dim, for scripts and support.
        message = _access_message(error, args) or _whole_names(error.message, args)
        if error.reason == "TOKEN_MISSING" and getattr(args, "demo_token_withheld", False):
            message += (
                f" (the demo's token goes only to a server on this machine, not {args.server})"
            )
        option = _option_for(error.field, args) if error.field else None
        if error.field and option:
            # "record.legal_basis: must be ..." reads "--basis: must be ...";
            # a message that does not start with its field keeps its words.
            if message.startswith(f"{error.field}:"):
                message = option + message.removeprefix(error.field)
            else:
                message = f"{option}: {message}"
        reason = f" [dim](reason: {escape(error.reason)})[/dim]" if error.reason else ""
        errors.print(f"[red]error:[/red] {escape(message)}{reason}", highlight=False)
        return 1
    except OSError as error:
        # A file the user named (or a place to write one) is not usable.
        _fail(str(error))
        return 1


def _access_message(error: VaultClientError, args: argparse.Namespace) -> str | None:
    """What a refused token or role means, and what to do, in one line; None
    for other errors. `args.token_source` says where the token came from."""
    reason = error.reason
    source = getattr(args, "token_source", None)
    token = f"{source} ({error.metadata['token']})" if "token" in error.metadata else source
    if error.code == grpc.StatusCode.UNAUTHENTICATED:
        if reason == "TOKEN_MISSING" or source is None:
            return f"no token: {_looked_for(args)}; {_TOKEN_HINT}"
        why = _REFUSED_WORDS.get(reason, "is not a token this vault issued")
        return f"{token} {why}: {_token_advice(args)}"
    if reason == "ROLE_NOT_ALLOWED":
        role = error.metadata.get("role", "").removeprefix("ROLE_").lower()
        method = error.metadata.get("method", "")
        may = _roles_allowed(method)
        instead = f"use a token of a role that may ({may})" if may else "no token's role may"
        call = method.rsplit(".", 1)[-1] or "this call"
        return f"{token} is {_a(role or 'unknown')}'s, which may not call {call}: {instead}"
    if isinstance(error, RateLimitedError) and error.retry_after_seconds is not None:
        return f"{error.message}; try again in {max(error.retry_after_seconds, 0.1):.1f} s"
    return None


def _whole_names(message: str, args: argparse.Namespace) -> str:
    """The server's message with each bare id it names ("record 9e43... does
    not exist") written as the whole name the user gave for it
    (subjects/.../records/9e43...), so it can be copied back into a command."""
    for given in (getattr(args, a, None) for a in ("name", "subject", "action")):
        if not isinstance(given, str) or "/" not in given:
            continue
        bare = given.rstrip("/").rsplit("/", 1)[-1]
        if bare and given not in message:
            message = re.sub(rf"(?<![\w/]){re.escape(bare)}(?![\w/])", given, message, count=1)
    return message


def _roles_allowed(method: str) -> str:
    """The roles that may call `method`, in words, as this version's table has them."""
    from vault.server.permissions import ALLOWED

    return " or ".join(sorted(role.value for role in ALLOWED.get(method, ())))


def _a(role: str) -> str:
    article = "an" if role[:1] in "aeiou" else "a"
    return f"{article} {role.replace('_', ' ')}"


def _option_for(field: str, args: argparse.Namespace) -> str | None:
    """The CLI option (or argument) that gave the API field `field`, if the
    command knows it: the longest field path that `field` starts with."""
    given: list[str] = getattr(args, "identity_options", [])
    indexed = re.match(r"identities\[(\d+)\]", field)
    if indexed and int(indexed[1]) < len(given):
        return given[int(indexed[1])]
    if field.startswith("identity") and len(given) == 1:
        return given[0]
    options: dict[str, str] = getattr(args, "options", {})
    for path in sorted(options, key=len, reverse=True):
        if field == path or field.startswith((f"{path}.", f"{path}[")):
            return options[path]
    return None


def _fail(message: str) -> None:
    """One line on stderr; the message printed as it is, never read as markup
    nor coloured by rich's guesses (an address, a number, a path)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def _print_json(data: object) -> None:
    # Plain text on stdout for scripts: no colours, no wrapping.
    sys.stdout.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")


def _plain(value: Any) -> Any:
    """The client's data classes as JSON values: times in ISO 8601, content as
    its media type, file name and size (the bytes themselves are not printed)."""
    if isinstance(value, Content):
        # `size`, not the bytes' length: a write's answer carries no bytes.
        return {"media_type": value.media_type, "filename": value.filename, "size": value.size}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    return value


def _identities(args: argparse.Namespace) -> list[Identity]:
    """The identities the options give, in order; `args.identity_options`
    notes which option gave each, so an error about one can name it."""
    found = [Identity("personnummer", v) for v in args.pnr]
    found += [Identity("email", v) for v in args.email]
    found += [Identity("phone", v) for v in args.phone]
    for value in args.external:
        system, _, external_id = value.partition(":")
        found.append(Identity("external_id", external_id, system))
    args.identity_options = (
        ["--pnr"] * len(args.pnr)
        + ["--email"] * len(args.email)
        + ["--phone"] * len(args.phone)
        + ["--external"] * len(args.external)
    )
    return found


def _client(args: argparse.Namespace) -> VaultClient:
    """The client for `--server`, its token from --token-file, $CONSENT_VAULT_TOKEN
    or the file $CONSENT_VAULT_TOKEN_FILE names, else the demo's privacy
    officer's file in the data directory if there is one and the server is on
    this machine (a loopback address or localhost); TLS with --ca-file
    (or $CONSENT_VAULT_TLS_CA) or --tls, mutual with --cert-file and --key-file.
    Notes on `args` where the token came from and whether TLS is spoken, so an
    error can say."""
    if args.token_file is not None and not args.token_file.strip():
        # `--token-file "$EMPTY"` is a mistake to say, not a wish for the demo's token.
        raise CredentialsError("--token-file is empty: name the file that holds the token")
    demo = None if args.token_file is not None else _demo_token()
    # The demo's token is for the demo on this machine: never sent elsewhere.
    args.demo_token_withheld = demo is not None and not is_local(args.server)
    client = VaultClient(
        args.server,
        token_file=args.token_file
        if args.token_file is not None
        else (None if args.demo_token_withheld else demo),
        ca_file=args.ca_file,
        tls=args.system_roots,
        cert_file=args.cert_file,
        key_file=args.key_file,
        insecure=args.insecure_plaintext,
    )
    args.tls = client.tls
    # The CLI's words for where the token came from: the option or the demo's
    # file, which the client knows only as "the token file".
    args.token_origin = (
        "option"
        if args.token_file is not None
        else "demo"
        if client.token_source and demo
        else None
    )
    path = args.token_file or demo
    args.token_source = {
        "option": f"the token file {path} (--token-file)",
        "demo": f"the demo's token file {path}",
    }.get(args.token_origin or "", client.token_source)
    return client


def _token_advice(args: argparse.Namespace) -> str:
    """What to do about a token the server refused, by where it came from."""
    make = "`consent-vault tokens create` makes a new one"
    origin = getattr(args, "token_origin", None)
    if origin == "option":
        return f"check the file --token-file names, or {make}"
    if origin == "demo":
        return (
            "`make run` issues the demo's tokens afresh at its start (this one may be of "
            f"another vault); or pass --token-file or set {TOKEN_ENV}: {make}"
        )
    if TOKEN_ENV in os.environ:
        return f"check ${TOKEN_ENV}, or set it to a new token: {make}"
    return f"check the file ${TOKEN_FILE_ENV} names, or {make}"


def _looked_for(args: argparse.Namespace) -> str:
    """Where the CLI looked for a token and found none, in words (the demo's
    file withheld from another machine is said apart)."""
    from vault.settings import data_dir

    looked = f"none in --token-file, ${TOKEN_ENV} or ${TOKEN_FILE_ENV}"
    if getattr(args, "demo_token_withheld", False):
        return looked
    return f"{looked}, nor the demo's {data_dir() / DEMO_TOKEN}"


def _demo_token() -> Path | None:
    """The demo's privacy officer's token, unless the environment names one:
    a variable set, even empty, is the user's choice (the client refuses an
    empty one), never a reason to fall back to the demo's."""
    if TOKEN_ENV in os.environ or TOKEN_FILE_ENV in os.environ:
        return None
    from vault.settings import data_dir  # as the offline commands default it

    path = data_dir() / DEMO_TOKEN
    return path if path.is_file() else None
