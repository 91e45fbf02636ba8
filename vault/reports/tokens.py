"""What the CLI prints about API tokens: a token's state in words, and the list.

Each token's name (`tokens/…`, what `tokens revoke` takes) starts a line of
its own with its state; the rest follows indented, a fact a line, so the list
reads at 80 columns and through a pipe and no name is ever wrapped or cut.
No secret is ever printed here: a listed token has none.
"""

from __future__ import annotations

import datetime as dt

from rich.console import Console

from vault.core.tokens import Token
from vault.reports.words import role

# Longest first-line name, `tokens/` and a 12-character id: the states line up.
_NAME_WIDTH = len("tokens/") + 12


def day(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d}"


def minute(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"


def state(token: Token, now: dt.datetime) -> str:
    """active, revoked on DATE or expired on DATE (revoked wins: it was done on purpose)."""
    if token.revoked_at is not None:
        return f"revoked on {day(token.revoked_at)}"
    if token.expires_at is not None and now >= token.expires_at:
        return f"expired on {day(token.expires_at)}"
    return "active"


def grants(token: Token) -> str:
    """What the token lets its holder be: "admin", "integrator for lms",
    "integrator for lms, reading for course_delivery by default"."""
    words = role(token.role.value)
    if token.system:
        words += f" for {token.system}"
    if token.default_purpose:
        words += f", reading for {token.default_purpose} by default"
    return words


def print_tokens(console: Console, tokens: list[Token], now: dt.datetime) -> None:
    if not tokens:
        console.print("no tokens", highlight=False, markup=False)
    for token in tokens:
        console.print(
            f"{token.resource_name:<{_NAME_WIDTH}}  {state(token, now)}",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )
        facts = [
            ("label", token.name or "-"),
            ("role", grants(token)),
            ("created", minute(token.created_at)),
            ("expires", minute(token.expires_at) if token.expires_at else "never"),
            ("last used", minute(token.last_used_at) if token.last_used_at else "never"),
        ]
        for label, value in facts:
            console.print(f"  {label:<11}{value}", soft_wrap=True, highlight=False, markup=False)
