"""Whether the records a system found are this person's, before anything is exported or erased.

A connector finds records by the person's identities. A record can still be
someone else's: the demo's own README once erased Bo's accounting record for
"Eva", because Eva's personnummer had been typed as Bo's. So every match is
examined. It is a **conflict** when a unique identifier the vault holds for
the person (the personnummer or samordningsnummer, the system's own user id)
differs from the one the record holds, or when two of the person's identities
lead to different records and one of those records carries another value of
the other identity's kind (an e-mail leads to one customer, the personnummer
to a customer with another e-mail). Records that only complement each other
(a customer row found by e-mail, a student row found by personnummer, neither
holding the other's kind) are one person's. A different e-mail or phone alone
is no conflict, but is noted for the privacy officer. Texts name identity
kinds, never values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vault.connectors.base import Holdings, Match
from vault.core.identities import Identity, IdentityKind


@dataclass(frozen=True)
class MatchReport:
    """What examining a system's matches showed."""

    conflicts: tuple[str, ...] = ()
    conflict_kinds: tuple[IdentityKind, ...] = ()
    notes: tuple[str, ...] = ()


def examine(system: str, identities: Sequence[Identity], matches: Sequence[Match]) -> MatchReport:
    conflicts: list[str] = []
    kinds: list[IdentityKind] = []
    notes: list[str] = []

    def add(target: list[str], text: str, *about: IdentityKind) -> None:
        if text not in target:
            target.append(text)
            kinds.extend(k for k in about if target is conflicts and k not in kinds)

    for match in matches:
        found_by = _kinds_in_words(i.kind for i in match.matched_by)
        for kind, own_system in (
            (IdentityKind.PERSONNUMMER, ""),
            (IdentityKind.EXTERNAL_ID, system),
        ):
            if _differs(identities, match.holds, kind, own_system):
                add(
                    conflicts,
                    f"the {_label(kind, system)} on a record found by {found_by} "
                    "differs from the vault's",
                    kind,
                    *(i.kind for i in match.matched_by),
                )
        for kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
            if _differs(identities, match.holds, kind, ""):
                add(
                    notes,
                    f"the {_label(kind, system)} on a record found by {found_by} "
                    "differs from the vault's",
                )

    # Two of the person's identities that lead to different records, where a
    # record one of them found carries another value of the other's kind: two
    # people, not one person's complementary records (a salon customer row found
    # by e-mail and a student row found by personnummer hold nothing in common).
    leads: dict[Identity, set[str]] = {}
    holds = {m.reference: m.holds for m in matches}
    for match in matches:
        for identity in match.matched_by:
            leads.setdefault(identity, set()).add(match.reference)

    def disowns(references: set[str], identity: Identity) -> bool:
        return any(
            any(h.kind is identity.kind and h.system == identity.system for h in holds[r])
            and identity not in holds[r]
            for r in references
        )

    found = list(leads.items())
    for index, (first, first_refs) in enumerate(found):
        for second, second_refs in found[index + 1 :]:
            # A record they share does not make the others one person's: a
            # household phone leads to Eva's row and to Bo's, which holds another e-mail.
            apart = first_refs - second_refs, second_refs - first_refs
            if not (disowns(apart[0], second) or disowns(apart[1], first)):
                continue
            one, other = _label(first.kind, system), _label(second.kind, system)
            pair = f"two {one}s" if one == other else f"the {one} and the {other}"
            add(conflicts, f"{pair} lead to different records", first.kind, second.kind)
    return MatchReport(tuple(conflicts), tuple(kinds), tuple(notes))


def tried_kinds(holdings: Holdings, identities: Sequence[Identity]) -> tuple[IdentityKind, ...]:
    """The identity kinds a system that found nobody was searched by: those of the
    person's it declares it finds people by, or, when it declares none of them,
    all the person's kinds (it was handed every identity). A user id counts only
    when it is one of this system's: another system's id was never searched."""
    held = tuple(
        dict.fromkeys(
            i.kind
            for i in identities
            if i.kind is not IdentityKind.EXTERNAL_ID or i.system == holdings.system
        )
    )
    return tuple(k for k in holdings.identified_by if k in held) or held


def no_match_text(
    holdings: Holdings, identities: Sequence[Identity], tried: Sequence[IdentityKind]
) -> str:
    searchable = [k for k in holdings.identified_by if k in tried]
    if holdings.identified_by and not searchable:
        return (
            f"no one found: the system finds people by "
            f"{_kinds_in_words(holdings.identified_by, 'or')}, and the vault holds none of "
            "those for this person"
        )
    return f"no one found by {_kinds_in_words(tried, 'or')}"


def _differs(
    identities: Sequence[Identity], holds: Sequence[Identity], kind: IdentityKind, system: str
) -> bool:
    """True when both sides hold this kind of identity and share no value of it."""

    def values(items: Iterable[Identity]) -> set[str]:
        return {i.value for i in items if i.kind is kind and (not system or i.system == system)}

    ours, theirs = values(identities), values(holds)
    return bool(ours and theirs and not ours & theirs)


_LABELS = {
    IdentityKind.PERSONNUMMER: "personnummer",
    IdentityKind.EMAIL: "e-mail",
    IdentityKind.PHONE: "phone number",
}


def _label(kind: IdentityKind, system: str) -> str:
    return _LABELS.get(kind, f"{system} user id")


def _kinds_in_words(kinds: Iterable[IdentityKind], conjunction: str = "and") -> str:
    words = list(dict.fromkeys(_LABELS.get(k, "user id") for k in kinds))
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
