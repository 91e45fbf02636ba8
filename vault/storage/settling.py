"""Settling event-loop futures from a writer's thread, for both engines: a
grouped append commits on its store's writer thread while its caller awaits a
future on an event loop, and `Settler` wakes that loop once for all the
futures one commit finished, rather than once for each.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any


class Settler:
    """Settles an event loop's futures from the writer's thread, with one
    wake-up of the loop for all the writes one commit finished."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._due: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []

    def settle_later(
        self, future: asyncio.Future[Any], result: Any, error: BaseException | None
    ) -> None:
        with self._lock:
            self._due.append((future, result, error))
            if len(self._due) > 1:
                return  # a wake-up is already on its way
        self.loop.call_soon_threadsafe(self._settle)

    def _settle(self) -> None:
        with self._lock:
            due, self._due = self._due, []
        for future, result, error in due:
            if future.done():  # its caller gave up; the write stands regardless
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


class LoopSettlers:
    """The Settler of the event loop a caller awaits on, made the first time
    that loop asks (a store serves one loop at a time: the server's)."""

    def __init__(self) -> None:
        self._settler: Settler | None = None

    def current(self) -> Settler:
        loop = asyncio.get_running_loop()
        settler = self._settler
        if settler is None or settler.loop is not loop:
            settler = self._settler = Settler(loop)
        return settler
