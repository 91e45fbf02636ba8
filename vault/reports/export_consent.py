"""A person's consent in their export, in words: for each purpose that rests
on consent, what it is for, how it stands now and each thing they said, when,
how and under which policy version; and each restriction of processing and
objection, what it covers, why, and whether it was lifted (an objection:
withdrawn by the person) or overridden.
export.json carries this section; the page is built from it; consent.jsonld
carries the consent (not the limits) as standard records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vault.core.consent.model import (
    ConsentEvent,
    ConsentStatus,
    LimitKind,
    ProcessingLimit,
    PurposeConsent,
    Standing,
)
from vault.core.export import ConsentPart
from vault.reports.words import listed, words

# The archive member holding the standard consent records.
CONSENT_FILE = "consent.jsonld"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# How a purpose stands now, for the person it is about.
STANDING_WORDS: dict[str, str] = {
    Standing.NOT_ASKED.value: "you have not been asked",
    Standing.GIVEN.value: "given, and it stands",
    Standing.RENEWED.value: "renewed, and it stands",
    Standing.REFUSED.value: "refused",
    Standing.WITHDRAWN.value: "withdrawn",
    Standing.EXPIRED.value: "expired: the end it was given until has passed",
    Standing.RECONSENT_NEEDED.value: (
        "we must ask you again: a later version of the policy changed this purpose "
        "in a way your consent did not cover"
    ),
}


def consent_section(part: ConsentPart, language: str = "en") -> dict[str, Any]:
    """export.json's "consent": every purpose the person's standing covers, in
    the standing's order, each with its events oldest first and a summary."""
    purposes = []
    for state in part.standings:
        purpose = part.purposes.get(state.purpose)
        description = purpose.described(language) if purpose else words(state.purpose)
        events = [_event(e) for e in part.events if e.purpose == state.purpose]
        entry: dict[str, Any] = {
            "purpose": state.purpose,
            "description": description,
            "standing": state.standing.value,
            "summary": summary(description, events, state),
            "events": events,
        }
        if state.changed_by:
            entry["changed_by"] = state.changed_by
        purposes.append(entry)
    limits = [limit_entry(limit, part, language) for limit in part.limits]
    return {"records": CONSENT_FILE, "purposes": purposes, "limits": limits}


def limit_entry(limit: ProcessingLimit, part: ConsentPart, language: str = "en") -> dict[str, Any]:
    """One restriction or objection as export.json has it: every field, the
    purposes with what they are for, and what it means in a sentence."""
    described = {
        name: found.described(language) if (found := part.purposes.get(name)) else words(name)
        for name in limit.purposes
    }
    entry: dict[str, Any] = {
        "id": limit.limit_id,
        "kind": limit.kind.value,
        "purposes": [{"purpose": name, "description": text} for name, text in described.items()],
        "in_effect": limit.in_effect,
        "reason": limit.reason,
        "recorded_at": limit.recorded_at.isoformat(),
        "recorded_by": limit.recorded_by,
    }
    if limit.lifted_at is not None:
        entry |= {
            "lifted_at": limit.lifted_at.isoformat(),
            "lifted_by": limit.lifted_by,
            "lift_reason": limit.lift_reason,
        }
    if limit.overridden_at is not None:
        entry |= {
            "overridden_at": limit.overridden_at.isoformat(),
            "overridden_by": limit.overridden_by,
            "override_reason": limit.override_reason,
        }
    entry["summary"] = limit_summary(entry, list(described.values()))
    return entry


def limit_summary(entry: dict[str, Any], described: list[str]) -> str:
    """ "On 24 November 2026 processing was restricted for marketing by
    e-mail: we keep your data for it but do not use it. Why: accuracy
    contested. Lifted on 2 December 2026: corrected." """
    covered = listed(map(_in_sentence, described), "and") if described else "every purpose"
    on = day(entry["recorded_at"])
    if entry["kind"] == LimitKind.RESTRICTION.value:
        text = (
            f"On {on} processing of your data was restricted for {covered}: we keep it, "
            "but do not otherwise use it while the restriction stands."
        )
    else:
        text = (
            f"On {on} you objected to processing of your data for {covered}: "
            "we stopped processing it for that."
        )
    text += f" Why: {_sentence(entry['reason'])}"
    if "lifted_at" in entry:
        # An objection is the person's: lifting it recorded that they withdrew it.
        lifted = "Lifted" if entry["kind"] == LimitKind.RESTRICTION.value else "You withdrew it"
        text += f" {lifted} on {day(entry['lifted_at'])}: {_sentence(entry['lift_reason'])}"
    if "overridden_at" in entry:
        text += (
            f" On {day(entry['overridden_at'])} we recorded compelling legitimate grounds "
            "that override your objection, so that processing goes on: "
            f"{_sentence(entry['override_reason'])}"
        )
    return text


def limit_recorded(entry: dict[str, Any]) -> str:
    """Who put the limit on record, lifted it (or put the person's withdrawal
    of their objection on record) or overrode it, and when."""
    text = f"recorded on {day(entry['recorded_at'])} by {entry['recorded_by']}"
    if "lifted_at" in entry:
        on = day(entry["lifted_at"])
        if entry["kind"] == LimitKind.RESTRICTION.value:
            text += f"; lifted on {on} by {entry['lifted_by']}"
        else:
            text += f"; withdrawn by the person on {on}, recorded by {entry['lifted_by']}"
    if "overridden_at" in entry:
        text += f"; overridden on {day(entry['overridden_at'])} by {entry['overridden_by']}"
    return text


def _in_sentence(description: str) -> str:
    """A purpose's description inside a sentence: "marketing by e-mail", but
    an abbreviation ("SMS marketing") as it is."""
    if description[1:2].isupper():
        return description
    return description[:1].lower() + description[1:]


def _sentence(text: str) -> str:
    text = text or "not said"
    return text if text.endswith((".", "!", "?")) else text + "."


def summary(description: str, events: list[dict[str, Any]], state: PurposeConsent) -> str:
    """ "Marketing by e-mail: given on 24 November 2026 via web form under
    policy 2026-01; withdrawn on 2 December 2026 via e-mail." """
    if not events:
        return f"{description}: {STANDING_WORDS[state.standing.value]}."
    text = f"{description}: " + "; ".join(said(event) for event in events) + "."
    if state.standing is Standing.RECONSENT_NEEDED:
        changed = f"policy {state.changed_by}" if state.changed_by else "a later policy version"
        text += f" Now we must ask you again: {changed} changed this purpose materially."
    elif state.standing is Standing.EXPIRED:
        text += " It has expired since."
    return text


def said(event: dict[str, Any]) -> str:
    """One event as the person said it: "given on 24 November 2026 via web
    form under policy 2026-01, until 1 June 2027"."""
    text = f"{event['status']} on {day(event['given_at'])} via {event['channel']}"
    # What the person was shown matters for what they agreed to or refused; a
    # withdrawal ends whatever it was.
    if event["policy_version"] and event["status"] != ConsentStatus.WITHDRAWN.value:
        text += f" under policy {event['policy_version']}"
    if event.get("expires_at"):
        text += f", until {day(event['expires_at'])}"
    return text


def recorded(event: dict[str, Any]) -> str:
    """Who put the event on record, when, from where, with what proof."""
    text = f"recorded on {day(event['recorded_at'])} by {event['recorded_by']}"
    if event["source_system"]:
        text += f", from {words(event['source_system'])}"
    if event["evidence"]:
        text += f"; evidence: {event['evidence']}"
    return text


def day(moment: dt.datetime | str) -> str:
    """A time's day as people write it: "24 November 2026" (UTC, as the page says)."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    moment = moment.astimezone(dt.UTC)
    return f"{moment.day} {_MONTHS[moment.month - 1]} {moment.year}"


def _event(event: ConsentEvent) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": event.event_id,
        "status": event.status.value,
        "given_at": event.given_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "policy_version": event.policy_version,
        "channel": event.channel.value,
        "evidence": event.evidence,
        "recorded_by": event.recorded_by,
        "source_system": event.source_system,
    }
    if event.expires_at is not None:
        entry["expires_at"] = event.expires_at.isoformat()
    return entry
