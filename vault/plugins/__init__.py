"""The plugin system: pluggy hooks under the project name `consent_vault`.

Plugins import `hookimpl` from here and never touch pluggy themselves.
"""

import pluggy

PROJECT_NAME = "consent_vault"
ENTRY_POINT_GROUP = "consent_vault"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["ENTRY_POINT_GROUP", "PROJECT_NAME", "hookimpl"]
