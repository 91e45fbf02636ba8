"""Every hook, every method of the connector class and the values a connector
exchanges are documented with their exact signatures; every hook is implemented
by a tested plugin."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

from vault.connectors import Connector, ConnectorSettings, Holdings, Match, normal_form
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


# ------------------------------------------------------- the connector API
def _literal(value: object) -> str:
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _signature(function: object) -> str:
    """A signature as the docs write it (annotations are strings here, the code
    using `from __future__ import annotations`)."""
    signature = inspect.signature(function)  # type: ignore[arg-type]
    parameters = []
    for parameter in signature.parameters.values():
        text = parameter.name
        if parameter.annotation is not parameter.empty:
            text += f": {parameter.annotation}"
        if parameter.default is not parameter.empty:
            text += f" = {_literal(parameter.default)}"
        parameters.append(text)
    return f"({', '.join(parameters)}) -> {signature.return_annotation}"


def _documented_signature(name: str, text: str) -> str | None:
    """The signature of `def name(...)` in `text`, laid out on one line."""
    found = re.search(rf"def {name}(\(.*?\)\s*->\s*[^:\n]+)", text, re.DOTALL)
    if found is None:
        return None
    flat = re.sub(r"\s+", " ", found[1]).strip()
    return re.sub(r",\s*\)", ")", flat.replace("( ", "("))


def _code_block(opening: str) -> str:
    start = DOCS.index(opening)
    return DOCS[start : DOCS.index("```", start)]


def test_every_connector_method_is_documented_with_its_signature() -> None:
    block = _code_block("class CrmConnector(Connector):")
    methods = [
        name
        for name, member in vars(Connector).items()
        if inspect.isfunction(member) and (not name.startswith("_") or name == "__init__")
    ]
    assert {"find", "match", "erase"} <= set(methods)
    for name in methods:
        assert _documented_signature(name, block) == _signature(getattr(Connector, name)), (
            f"Connector.{name}'s documented signature is stale"
        )


def test_normal_form_is_documented_with_its_signature() -> None:
    assert _documented_signature("normal_form", DOCS) == _signature(normal_form)


def test_match_holdings_and_the_time_zone_are_documented_field_by_field() -> None:
    for cls in (Match, Holdings):
        block = _code_block(f"class {cls.__name__}:").split("\n\n")[0]
        documented = [line.strip() for line in block.splitlines()[1:] if line.strip()]
        assert documented == [_field(f) for f in dataclasses.fields(cls)], (
            f"{cls.__name__}'s documented fields are stale"
        )
    settings = _code_block("class ConnectorSettings:")
    time_zone = next(f for f in dataclasses.fields(ConnectorSettings) if f.name == "time_zone")
    assert _field(time_zone) in settings


def _field(field: dataclasses.Field) -> str:  # type: ignore[type-arg]
    text = f"{field.name}: {field.type}"
    if field.default is not dataclasses.MISSING:
        text += f" = {_literal(field.default)}"
    return text
