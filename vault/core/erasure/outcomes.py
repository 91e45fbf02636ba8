"""A system's erasure outcomes: checked as they come back, kept as the step's report.

The report holds kinds, categories, counts, reasons and dates, never personal
data; a manual action's instructions (which may name a profile page) are
sealed under the job's key beside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zoneinfo
from collections.abc import Sequence

from vault.connectors.base import Holdings, ManualAction, NeedsAttention, Outcome, Removed, Retained
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.model import AlreadyRemoved, NoMatch
from vault.core.steps import StepReport, StoredAction

Reported = Outcome | NoMatch | AlreadyRemoved


def checked(holdings: Holdings, result: object) -> list[Outcome]:
    """What a connector's erase() returned, or NeedsAttention naming what is wrong with it."""
    if not isinstance(result, list):
        raise NeedsAttention(f"connector returned {type(result).__name__}, not a list of outcomes")
    for index, outcome in enumerate(result):
        where = f"outcome {index}"
        if not isinstance(outcome, Removed | Retained | ManualAction):
            raise NeedsAttention(
                f"{where} is a {type(outcome).__name__}, not Removed, Retained or ManualAction"
            )
        if holdings.category(outcome.category) is None:
            raise NeedsAttention(
                f"{where} names category {outcome.category!r}, which the connector does not declare"
            )
        if not _text(outcome.description):
            raise NeedsAttention(f"{where} has no description")
        if isinstance(outcome, Retained) and (
            not isinstance(outcome.until, dt.date) or not _text(outcome.legal_reason)
        ):
            raise NeedsAttention(f"{where} is retained without a date or a legal reason")
        if isinstance(outcome, ManualAction) and not _text(outcome.instructions):
            raise NeedsAttention(f"{where} asks for a manual action without instructions")
    return result


def report(
    request_id: str,
    system: str,
    outcomes: Sequence[Reported],
    keys: JobKeys,
    time_zone: str,
    now: dt.datetime,
) -> StepReport:
    """The step's report, and the manual actions it leaves (instructions sealed)."""
    entries = []
    actions = []
    for index, outcome in enumerate(outcomes):
        entry: dict[str, object] = {
            "kind": kind_of(outcome),
            "category": outcome.category,
            "description": outcome.description,
        }
        if isinstance(outcome, NoMatch):
            entry["tried"] = [kind.value for kind in outcome.tried]
        if isinstance(outcome, Retained):
            entry["legal_reason"] = outcome.legal_reason
            entry["until"] = last_day_kept(outcome.until, time_zone).isoformat()
        if isinstance(outcome, ManualAction):
            # Derived from the request, system and position, so a re-run step
            # names the same action and it is kept once.
            action_id = hashlib.sha256(f"{request_id}|{system}|{index}".encode()).hexdigest()[:24]
            entry["action_id"] = action_id
            actions.append(
                StoredAction(
                    action_id,
                    request_id,
                    system,
                    outcome.category,
                    outcome.description,
                    keys.seal(
                        request_id,
                        outcome.instructions.encode(),
                        "job-instructions",
                        request_id,
                        action_id,
                    ),
                    now,
                    None,
                    None,
                )
            )
        entries.append(entry)
    return StepReport(json.dumps(entries), tuple(actions))


def last_day_kept(until: dt.date, time_zone: str) -> dt.date:
    """A datetime is a date too: its day in the controller's time zone."""
    if isinstance(until, dt.datetime):
        if until.tzinfo is not None:
            until = until.astimezone(zoneinfo.ZoneInfo(time_zone))
        return until.date()
    return until


def kind_of(outcome: Reported) -> str:
    if isinstance(outcome, Removed):
        return "removed"
    if isinstance(outcome, Retained):
        return "retained"
    if isinstance(outcome, NoMatch):
        return "no_match"
    if isinstance(outcome, AlreadyRemoved):
        return "already_removed"
    return "manual_action"


def _text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
