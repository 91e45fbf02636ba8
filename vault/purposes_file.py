"""The purposes' configuration file: `[purposes] file` in the settings, or
the school's (vault/school_purposes.toml), which ships as the default. The
core takes the parsed catalogue (vault.core.consent.purposes) and reads no
files; this module is where the file is read."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path

from vault.core.consent.purposes import Purposes, PurposesError

SCHOOL_FILE = "school_purposes.toml"


def load(path: Path) -> Purposes:
    """The catalogue in `path`; PurposesError names what is wrong, in one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PurposesError(f"{path}: cannot be read ({error.strerror})") from None
    return _parsed(text, str(path))


@functools.cache
def school() -> Purposes:
    """The school's purposes, the default."""
    text = resources.files("vault").joinpath(SCHOOL_FILE).read_text(encoding="utf-8")
    return _parsed(text, SCHOOL_FILE)


def _parsed(text: str, where: str) -> Purposes:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PurposesError(f"{where}: not TOML ({error})") from None
    return Purposes.from_mapping(data, where)
