"""Page tokens (AIP-158), one format for every list: where the last page ended, and
for which query, so a token is never read as a page of another list.

A token is base64url JSON `{"q": <the query>, "a": <the last item's key>}`; it
holds ids and times, never personal data. Forged or foreign tokens are
INVALID_ARGUMENT, never a server error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any

from vault.core.errors import InvalidArgument

_RULE = "not a next_page_token from an earlier call with the same {what}"


def token(query: Mapping[str, str], after: Sequence[str | int]) -> str:
    """The token for the page after the item whose key is `after`."""
    raw = json.dumps({"q": dict(query), "a": list(after)}, sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read(
    value: str, query: Mapping[str, str], shape: Sequence[type], what: str = "query"
) -> list[Any] | None:
    """The key a token continues after (None for no token), checked against the query it
    must have been made for and the key's shape (the type of each part)."""
    if not value:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        data = None
    after = data.get("a") if isinstance(data, dict) else None
    valid = (
        isinstance(data, dict)
        and data.get("q") == dict(query)
        and isinstance(after, list)
        and len(after) == len(shape)
        # bool is an int to Python, not to a client.
        and all(type(part) is kind for part, kind in zip(after, shape, strict=True))
        and all(0 <= part < 2**63 for part in after if type(part) is int)
    )
    if not valid:
        raise InvalidArgument("page_token", _RULE.format(what=what))
    return list(after)  # type: ignore[arg-type]
