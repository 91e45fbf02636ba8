"""Calls made at once from threads, for the contract suites' races.

Every call waits at one barrier, so they start together and overlap as much
as threads can. A race is bounded: a call that never returns fails the test
instead of hanging the suite, and nothing is asserted about how long any took.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

# Far beyond what any call here needs: only a call that is stuck reaches it.
BOUND_SECONDS = 60.0


def race(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run `calls` at once, each on a thread of its own; their results, in order.

    The first call that raised has its exception raised here, once all are done.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException | None] = [None] * len(calls)

    def run(n: int) -> None:
        try:
            barrier.wait(BOUND_SECONDS)
            results[n] = calls[n]()
        except BaseException as exc:  # reported to the test, not lost in the thread
            errors[n] = exc

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    give_up = time.monotonic() + BOUND_SECONDS
    for thread in threads:
        thread.join(max(0.0, give_up - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    assert stuck == 0, f"{stuck} of {len(calls)} racing calls never returned"
    for error in errors:
        if error is not None:
            raise error
    return results
