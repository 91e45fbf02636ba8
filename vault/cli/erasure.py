"""The erasure commands: erase a subject everywhere, and list, follow, retry,
confirm and decide the erasure requests."""

from __future__ import annotations

import argparse
import contextlib
import sys

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from rich.live import Live

    from vault.reports import terminal
    from vault_client import ErasureRequest
except KeyboardInterrupt:
    raise SystemExit(130) from None


from vault.cli import _client, _fail, _print_json, console, errors


def _erase(args: argparse.Namespace) -> int:
    if not args.yes:
        if not sys.stdin.isatty():
            errors.print("error: erasure cannot be undone; pass --yes to confirm")
            return 2
        answer = input(f"Erase {args.subject} everywhere, for good? Type 'erase' to confirm: ")
        if answer.strip() != "erase":
            errors.print("not erased")
            return 1
    accepted: list[ErasureRequest] = []

    def follow(request: ErasureRequest) -> None:
        accepted[:] = [request]
        _show_progress(live, request)

    # The live table only in a terminal; through a pipe, the report alone.
    live = Live(console=errors, transient=True) if errors.is_terminal else None
    try:
        with _client(args) as client, live or contextlib.nullcontext():
            request = client.erase_subject(args.subject, progress=follow, wait=not args.no_wait)
    except KeyboardInterrupt:
        if accepted:
            name = accepted[0].name
            _fail(
                f"interrupted: the erasure goes on at the server; "
                f"follow it with `consent-vault requests show {name}`"
            )
        else:
            _fail(
                "interrupted before the server answered; if it accepted the erasure, "
                "`consent-vault requests list` shows it"
            )
        return 130
    _print_request(request, args.json)
    if args.no_wait and not args.json:
        # Not waited for, it goes on at the server: say how to see where it got to.
        console.print(
            f"\nIt goes on at the server; follow it with `consent-vault requests show {request.name}`",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
    return 0


def _show_progress(live: Live | None, request: ErasureRequest) -> None:
    if live is not None:
        live.update(terminal.steps_table(request))


def _print_request(request: ErasureRequest, as_json: bool = False) -> None:
    if as_json:
        _print_json(request)
    else:
        terminal.print_request(console, request)


def _requests_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        requests = list(client.list_erasure_requests(args.state))
    if args.json:
        _print_json(requests)
        return 0
    terminal.print_requests(console, requests)
    return 0


def _requests_show(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.get_erasure_request(args.name), args.json)
    return 0


def _requests_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.retry_erasure_request(args.name), args.json)
    return 0


def _requests_confirm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        _print_request(client.confirm_manual_action(args.action, args.by), args.json)
    return 0


def _requests_decide(args: argparse.Namespace) -> int:
    decision = args.decision.replace("-", "_")
    with _client(args) as client:
        _print_request(client.decide_match(args.name, args.system, decision, args.by), args.json)
    return 0
