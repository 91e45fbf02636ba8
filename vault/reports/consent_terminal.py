"""What the CLI prints about purposes, consent and policy versions: a
person's standing per purpose, their restrictions and objections, their
history, what was recorded, the configured purposes, the policy versions
and who must consent again.

Tables are plain text in columns that fit the console's width (80 columns,
or a pipe's): a purpose's or a subject's name is never wrapped or cut, so it
can be copied; the words beside it wrap in their own column. Nothing here is
coloured, so a pipe reads the same as a terminal. `--json` output is the
CLI's own, not drawn here.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from collections.abc import Sequence

from rich.console import Console

from vault.core.consent.model import LimitKind
from vault.reports import words
from vault.reports.words import count
from vault_client import ConsentEvent, PolicyVersion, Purpose, PurposeConsent, ReconsentNeeded
from vault_client.consent import ProcessingLimit

# The channels, by the client's codes: the word a person names each by (what
# `consent record --channel` takes, and what the tables print), and how it
# reads in a sentence ("given ... through a web form").
CHANNELS: dict[str, tuple[str, str]] = {
    "web_form": ("web form", "through a web form"),
    "email": ("e-mail", "by e-mail"),
    "in_person": ("in person", "in person"),
    "phone": ("phone", "by phone"),
    "paper_form": ("paper form", "on a paper form"),
    "sms": ("SMS", "by SMS"),
    "other": ("other", "another way"),
}
_GAP = "  "


def day(moment: dt.datetime | None) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d}" if moment else "-"


def minute(moment: dt.datetime) -> str:
    return f"{moment.astimezone(dt.UTC):%Y-%m-%d %H:%M}"


def channel(code: str) -> str:
    known = CHANNELS.get(code)
    return known[0] if known else code.replace("_", " ")


def _channel_phrase(code: str) -> str:
    known = CHANNELS.get(code)
    return known[1] if known else f"by {channel(code)}"


def basis(code: str) -> str:
    """A legal basis (a LegalBasis value) with its article, in the core's words."""
    # Read from the core when asked (purposes list): its model is slow to load,
    # and the consent commands print no basis.
    from vault.core.consent.purposes import BASIS_WORDS
    from vault.core.model import LegalBasis

    try:
        return BASIS_WORDS[LegalBasis(code)]
    except ValueError:
        return code.replace("_", " ")


def condition(letter: str) -> str:
    """An art. 9(2) condition for special categories, by its letter, in the core's words."""
    from vault.core.consent.purposes import SPECIAL_CATEGORY_CONDITIONS

    return SPECIAL_CATEGORY_CONDITIONS.get(letter, letter)


def version(name: str) -> str:
    """A policy version, or the word for none."""
    return name or "none"


def standing(state: PurposeConsent) -> str:
    """A standing in words: "given", "given until 2027-06-30", "not asked",
    "re-consent needed (policy 2026-02 changed it)"."""
    if state.standing == "reconsent_needed":
        changed = state.changed_by_version
        return (
            f"re-consent needed (policy {changed} changed it)" if changed else "re-consent needed"
        )
    said = state.standing.replace("_", " ")
    latest = state.latest
    if state.standing in ("given", "renewed") and latest and latest.expire_time:
        return f"{said} until {day(latest.expire_time)}"
    return said


# ---------------------------------------------------------------- tables
def table(
    console: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    wrapped: Sequence[int] = (),
) -> None:
    """`rows` in columns under `headers`, each line at most the console's
    width: the columns in `wrapped` wrap at words when the line would be
    longer (the widest first), the others keep their width, so a name in
    them is never broken."""
    for line in table_lines(headers, rows, console.width, wrapped):
        _line(console, line)


def table_lines(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    wrapped: Sequence[int] = (),
) -> list[str]:
    heading, laid_out = table_rows(headers, rows, width, wrapped)
    return [heading, *(line for row in laid_out for line in row)]


def table_rows(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    width: int,
    wrapped: Sequence[int] = (),
) -> tuple[str, list[list[str]]]:
    """The heading line, and each row's lines (more than one where a cell wrapped)."""
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    room = width - len(_GAP) * (len(headers) - 1)
    # Shrink the widest wrapping column a character at a time until the line fits.
    while sum(widths) > room:
        shrinkable = [i for i in wrapped if widths[i] > max(len(headers[i]), 8)]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    laid_out = []
    for row in rows:
        cells = [
            textwrap.wrap(text, widths[i], break_on_hyphens=False) or [""]
            if i in wrapped
            else [text]
            for i, text in enumerate(row)
        ]
        laid_out.append(
            [
                _joined([cell[depth] if depth < len(cell) else "" for cell in cells], widths)
                for depth in range(max(len(cell) for cell in cells))
            ]
        )
    return _joined(list(headers), widths), laid_out


def _joined(cells: list[str], widths: list[int]) -> str:
    return _GAP.join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def wrapped(console: Console, text: str, indent: int = 2, hanging: int = 0) -> None:
    """`text` wrapped at words to the console's width, indented; a word longer
    than the line (a token's name, a URL) is never broken."""
    for line in textwrap.wrap(
        text,
        width=max(console.width - 1, 20),
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + hanging),
        break_long_words=False,
        break_on_hyphens=False,
    ):
        _line(console, line)


def _facts(console: Console, facts: list[tuple[str, str]], indent: int = 2) -> None:
    """Label and text side by side, the text wrapped at words beside the labels."""
    label_width = max(len(label) for label, _ in facts)
    margin = indent + label_width + 2
    width = max(console.width - 1 - margin, 20)
    for label, text in facts:
        lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]
        _line(console, f"{' ' * indent}{label.ljust(label_width)}  {lines[0]}".rstrip())
        for more in lines[1:]:
            _line(console, " " * margin + more)


def _line(console: Console, text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


# -------------------------------------------------------------- consent
def print_recorded(
    console: Console,
    subject: str,
    events: list[ConsentEvent],
    erasure_requests: Sequence[str] = (),
) -> None:
    """What was recorded, in words: a sentence a purpose; then what a
    withdrawal set going, each erasure request with the command that follows it.
    The answer names the requests only, so nothing is claimed done: the vault's
    step may still be retried, and a request may have no other system's step."""
    _line(console, subject)
    for event in events:
        how = _channel_phrase(event.channel)
        said = f"{event.purpose}: {event.status} on {minute(event.time)} UTC {how}"
        said += (
            f", under policy {event.policy_version}"
            if event.policy_version
            else ", under no published policy"
        )
        if event.expire_time:
            said += f", until {minute(event.expire_time)} UTC"
        if event.evidence:
            said += f"; evidence: {event.evidence}"
        wrapped(console, said, hanging=2)
    if erasure_requests:
        wrapped(
            console,
            "What was held for the purposes whose consent no longer stands is being "
            "erased, the vault's part first, by these requests; follow each with "
            "consent-vault requests show NAME:",
        )
        for request in erasure_requests:
            _line(console, f"  {request}")


def print_state(
    console: Console,
    subject: str,
    states: list[PurposeConsent],
    *,
    only_some_asked: bool = False,
) -> None:
    """purpose / standing / since / policy / channel, a purpose a row.
    `only_some_asked`: other purposes rest on consent than the token may ask
    about (an integrator's, whose system processes for none of them)."""
    _line(console, subject)
    if not states:
        _line(
            console,
            "none of the purposes this token may ask about rest on consent"
            if only_some_asked
            else "no purposes rest on consent",
        )
        return
    rows = []
    for state in states:
        latest = state.latest
        # An expired consent stands so since its end; any other since its event.
        expired = state.standing == "expired" and latest is not None and latest.expire_time
        since = day(latest.expire_time if expired else latest.time) if latest else "-"
        rows.append(
            [
                state.purpose,
                standing(state),
                since,
                version(latest.policy_version) if latest else "-",
                channel(latest.channel) if latest else "-",
            ]
        )
    table(console, ["purpose", "standing", "since", "policy", "channel"], rows, wrapped=[1, 3])


def print_history(console: Console, subject: str, events: list[ConsentEvent]) -> None:
    """An event a row, oldest first (time, purpose, status, policy, channel),
    and under it who recorded it, from which system, with what evidence."""
    _line(console, subject)
    if not events:
        _line(console, "no consent events")
        return
    rows: list[list[str]] = []
    notes: list[str] = []
    for event in events:
        rows.append(
            [
                minute(event.time),
                event.purpose,
                event.status,
                version(event.policy_version),
                channel(event.channel),
            ]
        )
        note = f"recorded by {event.recorded_by}"
        if event.source_system:
            note += f" from {event.source_system}"
        note += f" on {minute(event.record_time)} UTC"
        if event.expire_time:
            note += f"; until {minute(event.expire_time)} UTC"
        if event.evidence:
            note += f"; evidence: {event.evidence}"
        notes.append(note)
    heading, laid_out = table_rows(
        ["time (UTC)", "purpose", "status", "policy", "channel"], rows, console.width, [3]
    )
    _line(console, heading)
    for lines, note in zip(laid_out, notes, strict=True):
        for line in lines:
            _line(console, line)
        wrapped(console, note, indent=2, hanging=3)


# ------------------------------------------------------------- purposes
def print_purposes(console: Console, purposes: list[Purpose], language: str) -> None:
    """Each purpose's name on a line of its own, and beneath it its legal
    basis, description, categories and systems, wrapped beside their labels."""
    if not purposes:
        _line(console, "no purposes configured")
    for purpose in purposes:
        _line(console, purpose.name)
        description = (
            purpose.description.get(language)
            or purpose.description.get("en")
            or next(iter(purpose.description.values()), "")
        )
        facts = [("legal basis", basis(purpose.legal_basis)), ("description", description)]
        if purpose.special_category_condition:
            letter = purpose.special_category_condition
            facts.append(("special data", f"GDPR art. 9(2)({letter}): {condition(letter)}"))
        facts += [
            ("categories", ", ".join(purpose.categories) or "-"),
            ("systems", ", ".join(purpose.systems) or "-"),
        ]
        if purpose.compatible_purposes:
            facts.append(("also serves", ", ".join(purpose.compatible_purposes)))
        if purpose.direct_marketing:
            facts.append(
                ("marketing", "direct marketing: an objection to it is absolute (art. 21(3))")
            )
        if purpose.legal_basis == "consent":
            facts.append(
                (
                    "changes",
                    "material: consent given before a change must be given again"
                    if purpose.material_changes
                    else "not material, unless a policy version says so",
                )
            )
        _facts(console, facts)
        _line(console, "")


# --------------------------------------------------------------- policy
def effective(policy: PolicyVersion) -> str:
    return f"effective from {policy.effective_date.isoformat()}"


def changes(policy: PolicyVersion) -> list[tuple[str, str]]:
    """The purposes a version changed, materially and not, as labelled facts."""
    material = policy.material_purposes
    other = [p for p in policy.changed_purposes if p not in material]
    facts = [("material", ", ".join(material) or "none")]
    if other:
        facts.append(("not material", ", ".join(other)))
    return facts


def print_published(console: Console, policy: PolicyVersion) -> None:
    _line(console, f"policy {policy.version} published, {effective(policy)}")
    _facts(console, [*changes(policy), *_policy_facts(policy)])
    if policy.material_purposes:
        wrapped(
            console,
            "Consents given under an earlier version for the purposes changed materially "
            f"must be given again from {policy.effective_date.isoformat()}: "
            "`consent-vault policy affected` lists the people.",
            indent=0,
        )


def print_policies(console: Console, policies: list[PolicyVersion]) -> None:
    if not policies:
        _line(console, "no policy versions published")
    for policy in policies:
        _line(console, f"{policy.version}  {effective(policy)}")
        _facts(console, [*changes(policy), *_policy_facts(policy)])


def _policy_facts(policy: PolicyVersion) -> list[tuple[str, str]]:
    facts = [
        ("published", f"{minute(policy.publish_time)} UTC by {policy.published_by}"),
        ("text SHA-256", policy.text_sha256),
    ]
    if policy.url:
        facts.append(("at", policy.url))
    if policy.summary:
        facts.append(("summary", policy.summary))
    return facts


def print_affected(console: Console, person: ReconsentNeeded) -> None:
    """One person who must consent again: their name whole on a line with the
    purpose, and beneath it when and under what they consented."""
    _line(console, f"{person.subject}  {person.purpose}")
    wrapped(
        console,
        f"consented {day(person.consent_time)} under policy "
        f"{version(person.given_under_version)}; policy {person.changed_by_version} "
        "changed the purpose",
        indent=2,
        hanging=2,
    )


def affected_count(people: int, consents: int) -> str:
    said = f"{words.people(people)} must consent again"
    if consents != people:
        said += f" ({count(consents, 'consent')})"
    return said


# ------------------------------------------------ restrictions, objections
# What a limit does to reads, in the words of the refusal a reader meets.
_STOPS = {
    "restriction": "reads for its purposes are refused (RESTRICTED) until it is lifted",
    "objection": (
        "reads for its purposes are refused (OBJECTED) until the person withdraws it or, for "
        "a purpose resting on legitimate interest or a public task, a privacy officer "
        "records overriding grounds; an objection to direct marketing is absolute: only "
        "the person's withdrawal ends it"
    ),
}


def limit_scope(limit: ProcessingLimit) -> str:
    """ "restriction of every purpose", "objection to statistics, alumni_offers"."""
    if limit.kind == "restriction":
        return f"restriction of {', '.join(limit.purposes) or 'every purpose'}"
    return f"{limit.kind} to {', '.join(limit.purposes)}"


def limit_lifted(limit: ProcessingLimit) -> str:
    """What lifting the limit meant: "lifted", or for an objection "withdrawn by the person"."""
    return LimitKind(limit.kind).lifted


def limit_state(limit: ProcessingLimit) -> str:
    """In effect, lifted (an objection: withdrawn by the person) or
    overridden, and since when."""
    if limit.lift_time is not None:
        return f"{limit_lifted(limit)} on {minute(limit.lift_time)} UTC"
    if limit.override_time is not None:
        return f"overridden on {minute(limit.override_time)} UTC"
    return "in effect"


def _limit_lines(limit: ProcessingLimit) -> list[str]:
    """Who did what to the limit, when, and why, a sentence each."""
    lines = [
        f"recorded on {minute(limit.record_time)} UTC by {limit.recorded_by}; "
        f"reason: {limit.reason or '-'}"
    ]
    if limit.lift_time is not None:
        # An objection's withdrawal is the person's: who lifted it only put it on record.
        by = " by" if limit.kind == "restriction" else ", recorded by"
        lines.append(
            f"{limit_lifted(limit)} on {minute(limit.lift_time)} UTC{by} {limit.lifted_by}; "
            f"reason: {limit.lift_reason or '-'}"
        )
    if limit.override_time is not None:
        lines.append(
            f"overriding grounds recorded on {minute(limit.override_time)} UTC by "
            f"{limit.overridden_by}: {limit.override_reason or '-'}"
        )
    return lines


def print_limit(console: Console, limit: ProcessingLimit, done: str) -> None:
    """A limit just recorded, lifted or overridden (`done` says which): its
    name whole on a line, then what it covers, who did what and why, and
    what it does to reads now."""
    _line(console, limit.name)
    wrapped(console, f"{limit_scope(limit)} {done}", hanging=2)
    for line in _limit_lines(limit):
        wrapped(console, line, hanging=2)
    if limit.in_effect:
        wrapped(console, f"Now {_STOPS.get(limit.kind, 'it stops processing')}.", hanging=2)
    else:
        wrapped(console, "Now it stops nothing; it stays in the person's history.", hanging=2)


def print_limits(console: Console, limits: list[ProcessingLimit]) -> None:
    """The person's restrictions and objections under their consent state,
    oldest first: each name whole on a line, what it covers and how it
    stands beneath it, then who did what and why. Nothing when there are none."""
    if not limits:
        return
    restrictions = sum(1 for limit in limits if limit.kind == "restriction")
    in_effect = sum(1 for limit in limits if limit.in_effect)
    _line(console, "")
    _line(
        console,
        f"{count(restrictions, 'restriction')} and "
        f"{count(len(limits) - restrictions, 'objection')}, {in_effect} in effect",
    )
    for limit in limits:
        _line(console, f"  {limit.name}")
        wrapped(console, f"{limit_scope(limit)}: {limit_state(limit)}", indent=4, hanging=2)
        for line in _limit_lines(limit):
            wrapped(console, line, indent=4, hanging=2)
