"""Named crash points, for the tests that kill the server mid-erasure.

When `CONSENT_VAULT_CRASH_AT` names a point, the process kills itself with
SIGKILL there, exactly as `kill -9` would; otherwise a point does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "CONSENT_VAULT_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
