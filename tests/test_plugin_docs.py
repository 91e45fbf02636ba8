"""Every hook is documented with its exact signature, and implemented by a tested plugin."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from vault.plugins import hookspecs
from vault.plugins.manager import make_plugin_manager

DOCS = (Path(__file__).resolve().parent.parent / "docs" / "plugins.md").read_text()
HOOKS = [
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("vault_")
]


def test_there_are_hooks() -> None:
    assert HOOKS == ["vault_register_connectors"]


def test_every_hook_is_documented_with_its_signature() -> None:
    for name in HOOKS:
        assert f"### {name}" in DOCS, f"{name} has no section in docs/plugins.md"
        signature = str(inspect.signature(getattr(hookspecs, name))).replace("'", "")
        documented = re.search(rf"def {name}(\(.*?\)[^\n]*)", DOCS)
        assert documented is not None and documented[1] == signature, (
            f"{name}'s documented signature is stale"
        )


def test_every_hook_has_an_implementation_among_the_installed_plugins() -> None:
    manager = make_plugin_manager()
    for name in HOOKS:
        assert getattr(manager.hook, name).get_hookimpls(), f"no installed plugin implements {name}"
