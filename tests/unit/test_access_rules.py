"""The core's record-level rules (vault.core.access) on real stores: an
integrator's own system and purposes, protected identities masked in every read
path, and every access to one noted as sensitive."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vault import __version__
from vault.connectors import Connector, HeldCategory, Holdings, ManualAction, Match
from vault.connectors.registry import ConnectorRegistry
from vault.core.access import WITHHELD, LoggedAccessNotes
from vault.core.actor import LOCAL, Actor, Role
from vault.core.erasure import ErasureCoordinator, ErasureSettings
from vault.core.errors import (
    NotYourSystem,
    PurposeNotAllowed,
    RecordNotFound,
    RoleNotAllowed,
    VaultError,
)
from vault.core.fanout import export_everywhere
from vault.core.identities import Identity, IdentityKind
from vault.core.model import Content, LegalBasis, Record, RecordDraft, Subject
from vault.core.vault import IdentityInput, NewSubject, RecordChanges, SubjectBatch, Vault
from vault.plugins import hookimpl
from vault.plugins.host import VaultHost
from vault.plugins.manager import make_plugin_manager
from vault.runtime import build_services

# Its token reads for course delivery unless a read names another purpose.
LMS = Actor("lms-sync", Role.INTEGRATOR, "lms", frozenset({"course_delivery"}), "course_delivery")
OFFICER = Actor("dpo@school.se", Role.PRIVACY_OFFICER)
AUDITOR = Actor("auditor", Role.AUDITOR)

EVA = [
    IdentityInput(IdentityKind.PERSONNUMMER, "811218-9876"),
    IdentityInput(IdentityKind.EXTERNAL_ID, "lms-4711", "lms"),
]
BO = [IdentityInput(IdentityKind.EMAIL, "bo@example.se")]


def draft(system: str = "lms", purpose: str = "course_delivery", **fields: object) -> RecordDraft:
    return RecordDraft(
        "contact",
        purpose,
        LegalBasis.CONTRACT,
        system,
        dict(fields or {"city": "Malmö"}),
        Content(b"\x89PNG photo", "image/png", "eva.png"),
    )


def refusal(call: Callable[[], object]) -> VaultError:
    with pytest.raises(VaultError) as raised:
        call()
    return raised.value


def whole(error: VaultError) -> tuple[object, ...]:
    """Everything a client learns from an error."""
    return type(error), error.reason, error.message, error.metadata


def notes(vault: Vault) -> list[tuple[str, Role, str, str]]:
    assert isinstance(vault.access_notes, LoggedAccessNotes)
    return [(n.who, n.role, n.subject_id, n.action) for n in vault.access_notes.recent]


# ------------------------------------------------------------ integrator
def test_an_integrator_writes_its_own_systems_records_for_its_purposes(vault: Vault) -> None:
    bo = vault.create_subject(LMS, BO, []).subject_id
    created = vault.create_record(LMS, bo, draft())
    assert (created.source_system, created.fields) == ("lms", {"city": "Malmö"})
    assert vault.import_records(LMS, [(bo, draft()), (bo, draft(city="Lund"))]) == 2
    updated = vault.update_record(LMS, created.record_id, RecordChanges(fields={"city": "Ystad"}))
    assert updated.fields == {"city": "Ystad"}

    other = refusal(lambda: vault.create_record(LMS, bo, draft("crm")))
    assert isinstance(other, NotYourSystem)
    assert other.metadata == {"field": "record.source_system", "system": "lms"}
    purpose = refusal(lambda: vault.create_record(LMS, bo, draft(purpose="billing")))
    assert isinstance(purpose, PurposeNotAllowed)
    assert purpose.metadata == {"field": "record.purpose", "purpose": "billing"}
    imported = refusal(lambda: vault.import_records(LMS, [(bo, draft()), (bo, draft("crm"))]))
    assert isinstance(imported, NotYourSystem)
    assert imported.metadata["field"] == "records[1].record.source_system"
    moved = refusal(
        lambda: vault.update_record(LMS, created.record_id, RecordChanges(source_system="crm"))
    )
    assert isinstance(moved, NotYourSystem) and moved.metadata["field"] == "record.source_system"
    repurposed = refusal(
        lambda: vault.update_record(LMS, created.record_id, RecordChanges(purpose="billing"))
    )
    assert isinstance(repurposed, PurposeNotAllowed)
    # Nothing refused was stored: the integrator's three records, the first as updated.
    assert [r.fields for r in vault.stream_records(OFFICER, bo, None)] == [
        {"city": "Ystad"},
        {"city": "Malmö"},
        {"city": "Lund"},
    ]
    # The privacy officer is bound by neither rule.
    assert vault.create_record(OFFICER, bo, draft("crm", purpose="billing")).source_system


def test_another_systems_record_reads_exactly_like_a_missing_one(vault: Vault) -> None:
    bo = vault.create_subject(OFFICER, BO, []).subject_id
    theirs = vault.create_record(OFFICER, bo, draft("crm")).record_id
    missing = "0" * 32
    for parent in (bo, None):
        foreign = refusal(lambda p=parent: vault.get_record(LMS, theirs, p))
        absent = refusal(lambda p=parent: vault.get_record(LMS, missing, p))
        assert isinstance(foreign, RecordNotFound)
        # The same but for the id asked for, which the caller sent itself.
        assert whole(foreign) == (
            *whole(absent)[:2],
            f"record {theirs} does not exist",
            {"record": theirs},
        )
        assert whole(absent)[2:] == (f"record {missing} does not exist", {"record": missing})
    change = RecordChanges(fields={"city": "Lund"})
    foreign = refusal(lambda: vault.update_record(LMS, theirs, change, subject_id=bo))
    absent = refusal(lambda: vault.update_record(LMS, missing, change, subject_id=bo))
    assert whole(foreign)[:2] == whole(absent)[:2] == (RecordNotFound, "RECORD_NOT_FOUND")
    assert vault.get_record(OFFICER, theirs).fields == {"city": "Malmö"}  # untouched


def test_an_integrator_lists_and_streams_its_own_systems_records_a_page_at_a_time(
    vault: Vault,
) -> None:
    bo = vault.create_subject(OFFICER, BO, []).subject_id
    ours = []
    # Runs of the other system's records longer than a page, between ours.
    for index in range(13):
        system = "lms" if index in (0, 4, 5, 11) else "crm"
        record = vault.create_record(OFFICER, bo, draft(system, n=index))
        if system == "lms":
            ours.append(record.record_id)
    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        page = vault.list_records(LMS, bo, None, 1, token)
        pages += 1
        assert len(page.records) <= 1
        seen += [r.record_id for r in page.records]
        token = page.next_page_token
        if not token:
            break
    assert (seen, pages) == (ours, 4)
    assert [r.record_id for r in vault.list_records(LMS, bo, None, 3, "").records] == ours[:3]
    assert [r.record_id for r in vault.stream_records(LMS, bo, "contact")] == ours
    assert {r.source_system for r in vault.stream_records(LMS, bo, None)} == {"lms"}
    assert vault.count_records(LMS, bo) == 4
    assert vault.count_records(OFFICER, bo) == 13
    assert len(vault.list_records(OFFICER, bo, None, 100, "").records) == 13


# ----------------------------------------------------- protected identity
def protected_eva(vault: Vault) -> tuple[Subject, Record, Record]:
    """Eva, a protected identity, with a record the lms wrote and one the crm wrote."""
    eva = vault.create_subject(OFFICER, EVA, ["student"], protected_identity=True)
    own = vault.create_record(OFFICER, eva.subject_id, draft("lms", city="Kiruna"))
    other = vault.create_record(OFFICER, eva.subject_id, draft("crm", city="Kiruna"))
    return eva, own, other


def test_a_protected_identity_is_masked_in_every_subject_answer_but_the_officers(
    vault: Vault,
) -> None:
    eva, _, _ = protected_eva(vault)
    assert not eva.masked and eva.roles == ("student",)
    assert [i.value for i in eva.identities] == ["198112189876", "lms-4711"]
    reads = {
        "get": lambda actor: vault.get_subject(actor, eva.subject_id),
        "find": lambda actor: vault.find_subject(actor, EVA[0]),
        "add identity": lambda actor: vault.add_identity(
            actor,
            eva.subject_id,
            # What an integrator may add: its own system's id.
            IdentityInput(IdentityKind.EXTERNAL_ID, f"eva-{actor.role.value}", "lms"),
        ),
    }
    for path, read in reads.items():
        for actor in (LMS, AUDITOR):
            shown = read(actor)
            assert shown.masked, path
            assert shown.roles == (), path
            assert {i.kind for i in shown.identities} >= {IdentityKind.PERSONNUMMER}, path
            assert all(i.value == "" for i in shown.identities), path
            assert ("", "lms") in [(i.value, i.system) for i in shown.identities], path
        unmasked = read(OFFICER)
        assert not unmasked.masked and unmasked.roles == ("student",), path
        assert "198112189876" in [i.value for i in unmasked.identities], path
    # The answer to its own CreateSubject too: the integrator does not read back who it is.
    created = vault.create_subject(LMS, BO, ["student"], protected_identity=True)
    assert created.masked and [i.value for i in created.identities] == [""]
    assert vault.get_subject(OFFICER, created.subject_id).identities[0].value == "bo@example.se"
    # An unprotected subject is never masked.
    assert not vault.create_subject(LMS, [IdentityInput(IdentityKind.EMAIL, "a@b.se")], []).masked


def test_an_integrator_changes_only_its_own_systems_external_ids_whatever_the_edge_allows(
    vault: Vault,
) -> None:
    bo = vault.create_subject(OFFICER, BO, []).subject_id
    own = IdentityInput(IdentityKind.EXTERNAL_ID, "lms-17", "lms")
    crm = IdentityInput(IdentityKind.EXTERNAL_ID, "crm-17", "crm")
    refused = {
        "add": refusal(lambda: vault.add_identity(LMS, bo, crm)),
        "remove": refusal(lambda: vault.remove_identity(LMS, bo, BO[0])),
        "rectify": refusal(lambda: vault.rectify_identity(LMS, bo, own, crm)),
    }
    assert {path: (type(e), e.metadata["field"]) for path, e in refused.items()} == {
        "add": (NotYourSystem, "identity.system"),
        "remove": (NotYourSystem, "identity.kind"),
        "rectify": (NotYourSystem, "new_identity.system"),
    }
    assert len(vault.add_identity(LMS, bo, own).identities) == 2
    assert [i.value for i in vault.remove_identity(LMS, bo, own).identities] == ["bo@example.se"]


def test_a_protected_identitys_records_are_masked_but_an_integrators_own(
    vault: Vault,
) -> None:
    eva, own, other = protected_eva(vault)
    subject_id = eva.subject_id
    # Both records are held for course delivery, the purpose they are read for.
    purpose = own.purpose
    for read in (
        lambda actor: [
            vault.get_record(actor, own.record_id, purpose=purpose),
            vault.get_record(actor, other.record_id, purpose=purpose),
        ],
        lambda actor: vault.list_records(actor, subject_id, None, 10, "", purpose).records,
        lambda actor: list(vault.stream_records(actor, subject_id, None, purpose)),
    ):
        # A role that may not see who this is (none the edge allows to read
        # records does, but the core does not count on that) sees no data.
        for record in read(AUDITOR):
            assert record.masked and record.fields == {}
            assert record.content == Content(b"", "image/png")
        for record in read(OFFICER):
            assert not record.masked and record.fields == {"city": "Kiruna"}
            assert record.content == Content(b"\x89PNG photo", "image/png", "eva.png")
    # The integrator reads what its own system wrote, in full; the other does not exist for it.
    assert vault.get_record(LMS, own.record_id) == own
    assert vault.list_records(LMS, subject_id, None, 10, "").records == [own]
    assert list(vault.stream_records(LMS, subject_id, None)) == [own]
    with pytest.raises(RecordNotFound):
        vault.get_record(LMS, other.record_id)
    written = vault.create_record(LMS, subject_id, draft(city="Abisko"))
    assert not written.masked and written.fields == {"city": "Abisko"}


def test_a_protected_identity_never_appears_in_an_import_answer_to_who_may_not_see_them(
    vault: Vault,
) -> None:
    def people(start: int) -> list[NewSubject]:
        return [
            NewSubject(
                [IdentityInput(IdentityKind.EMAIL, f"p{start + i}@example.se")],
                protected_identity=i == 1,
                records=[draft()],
            )
            for i in range(3)
        ]

    officers = vault.import_subjects(OFFICER, [SubjectBatch(people(0))])
    assert all(officers.subject_ids) and len(officers.subject_ids) == 3
    integrators = vault.import_subjects(LMS, [SubjectBatch(people(10), "batch-1")])
    assert integrators.subject_ids[1] == "" and all(integrators.subject_ids[::2])
    again = vault.import_subjects(LMS, [SubjectBatch(people(10), "batch-1")])
    assert again.subject_ids == integrators.subject_ids
    # It was stored all the same.
    assert vault.find_subject(OFFICER, IdentityInput(IdentityKind.EMAIL, "p11@example.se"))
    refused = refusal(
        lambda: vault.import_subjects(LMS, [SubjectBatch([NewSubject(BO, records=[draft("crm")])])])
    )
    assert isinstance(refused, NotYourSystem)
    assert refused.metadata["field"] == "subjects[0].records[0].source_system"


def test_every_access_to_a_protected_identity_is_noted_as_sensitive(
    vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    plain = vault.create_subject(OFFICER, BO, [])
    vault.create_record(LMS, plain.subject_id, draft())
    vault.get_subject(LMS, plain.subject_id)
    assert notes(vault) == []  # nobody protected, nothing sensitive

    caplog.set_level(logging.INFO, logger="vault.access")
    eva, own, _ = protected_eva(vault)
    subject_id = eva.subject_id
    assert notes(vault) == [
        ("dpo@school.se", Role.PRIVACY_OFFICER, subject_id, "create_subject"),
        ("dpo@school.se", Role.PRIVACY_OFFICER, subject_id, "create_record"),
        ("dpo@school.se", Role.PRIVACY_OFFICER, subject_id, "create_record"),
    ]
    calls: list[tuple[str, Callable[[], object]]] = [
        ("get_subject", lambda: vault.get_subject(LMS, subject_id)),
        ("find_subject", lambda: vault.find_subject(LMS, EVA[1])),
        ("get_record", lambda: vault.get_record(LMS, own.record_id)),
        ("list_records", lambda: vault.list_records(LMS, subject_id, None, 10, "")),
        ("stream_records", lambda: list(vault.stream_records(LMS, subject_id, None))),
        ("create_record", lambda: vault.create_record(LMS, subject_id, draft())),
        ("import_records", lambda: vault.import_records(LMS, [(subject_id, draft())])),
        (
            "update_record",
            lambda: vault.update_record(LMS, own.record_id, RecordChanges(fields={"a": "b"})),
        ),
        ("update_subject", lambda: vault.update_subject(OFFICER, subject_id, ["pupil"], None)),
        (
            "add_identity",
            lambda: vault.add_identity(
                OFFICER, subject_id, IdentityInput(IdentityKind.EMAIL, "eva@example.se")
            ),
        ),
        ("export_subject", lambda: list(vault.export_subject(OFFICER, subject_id).records)),
        ("erase_category", lambda: vault.erase_category(OFFICER, subject_id, "contact")),
    ]
    for action, call in calls:
        before = len(notes(vault))
        call()
        made = notes(vault)[before:]
        assert made, action
        assert {(n[2], n[3]) for n in made} == {(subject_id, action)}, action
    # Taking the flag off is itself an access; afterwards nothing is sensitive.
    before = len(notes(vault))
    vault.update_subject(OFFICER, subject_id, None, False)
    assert notes(vault)[before:] == [
        ("dpo@school.se", Role.PRIVACY_OFFICER, subject_id, "update_subject")
    ]
    vault.get_subject(LMS, subject_id)
    assert len(notes(vault)) == before + 1
    # One line each on `vault.access`, naming the caller, never the person.
    lines = [r.getMessage() for r in caplog.records if r.name == "vault.access"]
    assert len(lines) == len(notes(vault))
    assert f"sensitive access: lms-sync (integrator) get_record subjects/{subject_id}" in lines
    assert not any("9876" in line or "Kiruna" in line or "lms-4711" in line for line in lines)


def test_the_notes_kept_in_memory_are_bounded() -> None:
    kept = LoggedAccessNotes(keep=3)
    for index in range(5):
        kept.note(LMS, f"s{index}", "get_subject")
    assert [n.subject_id for n in kept.recent] == ["s2", "s3", "s4"]


# ---------------------------------------------------------- connectors
class Group(Connector):
    """A system that answers every erasure with a manual action, and counts
    the calls that reach it."""

    name = "group"
    calls: list[str] = []

    def holdings(self) -> Holdings:
        return Holdings(
            "group",
            "a group",
            "SE",
            (HeldCategory("membership", "membership", "m", LegalBasis.CONSENT, "while"),),
        )

    def find(self, identities):  # type: ignore[no-untyped-def]
        type(self).calls.append("find")
        return []

    def match(self, identities: list[Identity]) -> list[Match]:
        type(self).calls.append("match")
        return [Match("member:1", tuple(identities))]

    def export(self, identities):  # type: ignore[no-untyped-def]
        type(self).calls.append("export")
        return iter(())

    def erase(self, identities, today):  # type: ignore[no-untyped-def]
        type(self).calls.append("erase")
        return [ManualAction("membership", "group membership", "remove Eva's post by hand")]


class GroupPlugin:
    @hookimpl
    def vault_register_connectors(self, host):  # type: ignore[no-untyped-def]
        return [Group]


@pytest.fixture
def coordinator(vault: Vault, tmp_path: Path) -> Iterator[ErasureCoordinator]:
    Group.calls = []
    registry = ConnectorRegistry.load(
        {"group": {}}, make_plugin_manager([GroupPlugin()]), VaultHost(__version__), tmp_path, {}
    )
    services = build_services(vault, registry, ErasureSettings(call_timeout_seconds=5))
    yield services.coordinator
    services.coordinator.close()
    registry.close()


def test_an_integrator_reaches_no_connector_exports_and_erasures_are_refused_to_it(
    vault: Vault, coordinator: ErasureCoordinator
) -> None:
    eva, own, _ = protected_eva(vault)
    vault.create_subject(LMS, BO, [])
    vault.get_subject(LMS, eva.subject_id)
    vault.find_subject(LMS, EVA[0])
    list(vault.stream_records(LMS, eva.subject_id, None))
    vault.update_record(LMS, own.record_id, RecordChanges(fields={"a": "b"}))
    connectors, holdings = coordinator.connectors, coordinator.holdings
    assert list(connectors) == ["group"]
    for actor in (LMS, AUDITOR):
        for call in (
            lambda a=actor: export_everywhere(a, vault, connectors, holdings, eva.subject_id),
            lambda a=actor: coordinator.request(a, eva.subject_id),
            lambda a=actor: vault.export_subject(a, eva.subject_id),
        ):
            refused = refusal(call)
            assert isinstance(refused, RoleNotAllowed)
            assert refused.metadata["role"] == actor.role.value
    assert Group.calls == []
    assert vault.get_subject(OFFICER, eva.subject_id).state.value == "active"


def test_a_protected_identitys_erasure_request_shows_the_auditor_no_free_text(
    vault: Vault, coordinator: ErasureCoordinator
) -> None:
    eva, _, _ = protected_eva(vault)
    plain = vault.create_subject(OFFICER, BO, []).subject_id
    requests = [coordinator.request(OFFICER, s).request_id for s in (eva.subject_id, plain)]
    for request_id in requests:
        coordinator.run_pending()
        assert coordinator.get(OFFICER, request_id).state == "awaiting_manual_action"
    assert Group.calls.count("erase") == 2  # the officer's order reached the system

    def instructions(view_steps: object) -> list[str]:
        return [o.instructions for s in view_steps for o in s.outcomes if o.action_id]  # type: ignore[attr-defined]

    protected, unprotected = requests
    assert instructions(coordinator.get(OFFICER, protected).steps) == ["remove Eva's post by hand"]
    before = len(notes(vault))
    assert instructions(coordinator.get(AUDITOR, protected).steps) == [WITHHELD]
    listed = {v.request_id: v for v in coordinator.list_requests(AUDITOR, 10, "", None)[0]}
    assert instructions(listed[protected].steps) == [WITHHELD]
    (group,) = [s for s in listed[protected].steps if s.system == "group"]
    assert [o.description for o in group.outcomes] == [WITHHELD]
    watched = next(iter(coordinator.watch(AUDITOR, protected, poll_seconds=0.01)))
    assert instructions(watched.steps) == [WITHHELD]
    assert [n[1:] for n in notes(vault)[before:]] == [
        (Role.AUDITOR, eva.subject_id, "get_erasure_request"),
        (Role.AUDITOR, eva.subject_id, "list_erasure_requests"),
        (Role.AUDITOR, eva.subject_id, "watch_erasure_request"),
    ]
    # Someone unprotected's request reads in full, and is nothing sensitive.
    assert instructions(coordinator.get(AUDITOR, unprotected).steps) == [
        "remove Eva's post by hand"
    ]
    assert instructions(listed[unprotected].steps) == ["remove Eva's post by hand"]
    assert LOCAL.sees_protected
