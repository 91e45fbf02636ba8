"""The connector commands: the systems the server reaches, and a check of one."""

from __future__ import annotations

import argparse

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.reports import terminal
except KeyboardInterrupt:
    raise SystemExit(130) from None


from vault.cli import _client, _print_json, console


def _connectors_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connectors = client.list_connectors(check_health=args.check)
    if args.json:
        _print_json(connectors)
        return 0
    terminal.print_connectors(console, connectors, checked=args.check)
    return 0


def _connectors_check(args: argparse.Namespace) -> int:
    with _client(args) as client:
        connector = client.check_connector(args.name)
    if args.json:
        _print_json(connector)
        return 0 if connector.healthy else 1
    terminal.print_connector_check(console, connector)
    return 0 if connector.healthy else 1
