"""A contract test suite every connector should pass; connector authors reuse it.

Subclass `ConnectorContract` in a test module and provide three fixtures:

    class TestMyConnector(ConnectorContract):
        @pytest.fixture
        def connector(self):            # a connector talking to a test system
            ...
        @pytest.fixture
        def known_identities(self):     # someone the test system holds data about
            ...
        @pytest.fixture
        def unknown_identities(self):   # someone it does not know
            ...

Each test may change the test system, so the fixtures should give a fresh one.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

from vault.connectors.base import (
    Capability,
    Connector,
    ExportItem,
    Identity,
    ManualAction,
    Match,
    Outcome,
    Removed,
    Retained,
    takes_references,
    validate_holdings,
)

__all__ = [
    "ConnectorContract",
    "erase_as_the_vault_does",
    "export_as_the_vault_does",
    "takes_references",
]


def erase_as_the_vault_does(
    connector: Connector, identities: list[Identity], today: dt.date, references: list[str]
) -> list[Outcome]:
    if takes_references(connector.erase):
        return connector.erase(identities, today, references=references)
    return connector.erase(identities, today)


def export_as_the_vault_does(
    connector: Connector, identities: list[Identity], references: list[str]
) -> list[ExportItem]:
    if takes_references(connector.export):
        return list(connector.export(identities, references=references))
    return list(connector.export(identities))


def _in_any_order(items: list[ExportItem]) -> list[str]:
    # Items hold mappings, which do not hash; their reprs compare the same.
    return sorted(repr((i.category, sorted(dict(i.data).items()), i.files)) for i in items)


def _retained(outcomes: list[Outcome]) -> Counter[tuple[str, dt.date, str]]:
    return Counter(
        (o.category, o.until, o.legal_reason) for o in outcomes if isinstance(o, Retained)
    )


class ConnectorContract:
    """The contract: valid holdings, matches that agree with find(), declared
    categories only, an export by find()'s references that gives what the
    identities give (and nothing for no references), idempotent erasure, a
    re-run with the first attempt's references that reports the same retained
    items, and after erasure nothing left but what is retained; for a connector
    that declares it is told of withdrawals, a withdrawal that erases one
    purpose's categories alone, idempotently."""

    today = dt.date.today()

    def test_holdings_are_valid(self, connector: Connector) -> None:
        holdings = connector.holdings()
        validate_holdings(holdings)
        assert holdings.system == connector.name

    def test_health_check_answers(self, connector: Connector) -> None:
        assert connector.health().healthy

    def test_find_knows_the_known_person_and_not_the_unknown(
        self,
        connector: Connector,
        known_identities: list[Identity],
        unknown_identities: list[Identity],
    ) -> None:
        found = connector.find(known_identities)
        assert found and all(isinstance(ref, str) and ref for ref in found)
        assert connector.find(unknown_identities) == []

    def test_match_leads_to_the_records_find_returns(
        self,
        connector: Connector,
        known_identities: list[Identity],
        unknown_identities: list[Identity],
    ) -> None:
        # The vault seals match()'s references and hands them to erase(), so
        # they must be the ones find() returns.
        matches = connector.match(known_identities)
        assert sorted(m.reference for m in matches) == sorted(connector.find(known_identities))
        for match in matches:
            assert isinstance(match, Match)
            assert match.matched_by, f"{match.reference} says no identity found it"
            assert set(match.matched_by) <= set(known_identities)
            assert all(isinstance(held, Identity) for held in match.holds)
        assert connector.match(unknown_identities) == []

    def test_export_returns_only_declared_categories(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        declared = {c.category for c in connector.holdings().categories}
        items = list(connector.export(known_identities))
        assert items, "the test system should hold something about the known person"
        for item in items:
            assert isinstance(item, ExportItem)
            assert item.category in declared, f"exported undeclared category {item.category}"
            assert isinstance(dict(item.data), dict)

    def test_export_by_the_references_find_returned_gives_what_the_identities_do(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        # The vault exports the records it examined for someone else's, by the
        # references match() returned, without the system being searched again.
        references = connector.find(known_identities)
        by_identities = list(connector.export(known_identities))
        by_references = export_as_the_vault_does(connector, known_identities, references)
        assert _in_any_order(by_references) == _in_any_order(by_identities)
        if takes_references(connector.export):
            assert list(connector.export(known_identities, references=[])) == [], (
                "exported records that no reference names"
            )

    def test_a_person_the_system_does_not_know_has_nothing(
        self, connector: Connector, unknown_identities: list[Identity]
    ) -> None:
        assert list(connector.export(unknown_identities)) == []
        outcomes = connector.erase(unknown_identities, self.today)
        assert not [o for o in outcomes if isinstance(o, Removed | Retained)]

    def test_erase_reports_valid_outcomes_and_is_idempotent(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        holdings = connector.holdings()
        first = connector.erase(known_identities, self.today)
        assert first, "erasing a known person should report what happened"
        for outcome in first:
            assert isinstance(outcome, Removed | Retained | ManualAction)
            held = holdings.category(outcome.category)
            assert held is not None, f"outcome for undeclared category {outcome.category}"
            assert outcome.description.strip()
            if isinstance(outcome, Retained):
                assert outcome.until >= self.today and outcome.legal_reason.strip()
            if isinstance(outcome, ManualAction):
                assert outcome.instructions.strip()
            if isinstance(outcome, Removed):
                assert held.erasable, f"{outcome.category} is under a legal hold but was removed"
        # "Already gone" is success: nothing more to remove, and no error.
        second = connector.erase(known_identities, self.today)
        assert not [o for o in second if isinstance(o, Removed)]

    def test_after_erasure_only_retained_items_remain(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        outcomes = connector.erase(known_identities, self.today)
        retained = {o.category for o in outcomes if isinstance(o, Retained)}
        left = {item.category for item in connector.export(known_identities)}
        assert left <= retained, f"still exported after erasure: {sorted(left - retained)}"
        if not retained:
            assert connector.find(known_identities) == [], "found again after a complete erasure"

    def test_a_re_run_with_the_references_reports_the_same_retained_items(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        # A step retried after a crash: the first attempt may have blanked the
        # identifiers the system is searched by, and the references it began
        # with, kept sealed in the job, still reach what is kept.
        references = connector.find(known_identities)
        first = erase_as_the_vault_does(connector, known_identities, self.today, references)
        second = erase_as_the_vault_does(connector, known_identities, self.today, references)
        assert _retained(second) == _retained(first), "a re-run lost or changed retained items"
        assert not [o for o in second if isinstance(o, Removed)], "removed again on a re-run"

    def test_a_withdrawal_erases_what_is_held_for_that_purpose_alone(
        self, connector: Connector, known_identities: list[Identity]
    ) -> None:
        # Only a connector that declares the capability is ever told.
        if Capability.WITHDRAW_CONSENT not in connector.capabilities:
            return
        holdings = connector.holdings()
        references = connector.find(known_identities)
        before = {
            i.category for i in export_as_the_vault_does(connector, known_identities, references)
        }
        purpose = next(c.purpose for c in holdings.categories if c.category in before)
        categories = [c.category for c in holdings.categories if c.purpose == purpose]
        first = connector.withdraw_consent(
            known_identities, purpose, categories, self.today, references=references
        )
        assert first, f"withdrawing {purpose} should report what happened"
        for outcome in first:
            assert isinstance(outcome, Removed | Retained | ManualAction)
            assert outcome.category in categories, (
                f"a withdrawal of {purpose} reported {outcome.category}, held for another purpose"
            )
            assert outcome.description.strip()
        # What is held for other purposes stays.
        left = {
            i.category for i in export_as_the_vault_does(connector, known_identities, references)
        }
        assert before - set(categories) <= left, (
            f"a withdrawal of {purpose} took {sorted(before - set(categories) - left)}"
        )
        again = connector.withdraw_consent(
            known_identities, purpose, categories, self.today, references=references
        )
        assert not [o for o in again if isinstance(o, Removed)], "removed again on a re-run"
