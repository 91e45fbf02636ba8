"""Builds the plugin manager: hook specs, installed plugins from the entry-point group, extras."""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from vault.plugins import ENTRY_POINT_GROUP, PROJECT_NAME, hookspecs


def make_plugin_manager(
    extra_plugins: Iterable[object] = (), *, load_installed: bool = True
) -> pluggy.PluginManager:
    """Installed plugins (built-in connectors included) come from the entry-point
    group; `extra_plugins` are registered too, for tests and embedding."""
    manager = pluggy.PluginManager(PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    if load_installed:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        manager.register(plugin)
    # A misspelt hook name in a plugin fails here, not silently.
    manager.check_pending()
    return manager
