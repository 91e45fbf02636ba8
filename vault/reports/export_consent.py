"""A person's consent in their export, in words: for each purpose that rests
on consent, what it is for, how it stands now and each thing they said, when,
how and under which policy version. export.json carries this section; the
page is built from it; consent.jsonld carries the same as standard records.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vault.core.consent.model import ConsentEvent, ConsentStatus, PurposeConsent, Standing
from vault.core.export import ConsentPart
from vault.reports.words import words

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
    return {"records": CONSENT_FILE, "purposes": purposes}


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
