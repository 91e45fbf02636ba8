"""Through the real server: a person's restrictions and objections are in
their ExportSubject archive, every one whole in export.json (in effect,
lifted, withdrawn by the person or overridden, with each reason and who
recorded what) and in words
for the person on index.html; a person with none has an empty list and no
such section."""

from __future__ import annotations

import io
import json
import zipfile

import grpc
import pytest

from tests.readable_page import read_page
from tests.serving import channel_to
from vault.core.actor import Actor, Role
from vault.core.clock import FixedClock
from vault.core.consent.model import LimitKind
from vault.core.identities import IdentityKind
from vault.core.vault import IdentityInput, Vault
from vault.server.app import RunningServer
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc

OFFICER = Actor("dpo (tokens/officer)", Role.PRIVACY_OFFICER)
RESTRICTED = (
    "On 24 November 2026 processing of your data was restricted for every purpose: we keep "
    "it, but do not otherwise use it while the restriction stands. Why: you contest the "
    "accuracy of your address. Lifted on 26 November 2026: the address was corrected."
)
OVERRIDDEN = (
    "On 26 November 2026 you objected to processing of your data for statistics and "
    "segment analysis on aggregated data: we stopped processing it for that. Why: letter of "
    "26 November. On 1 December 2026 we recorded compelling legitimate grounds that "
    "override your objection, so that processing goes on: the national agency requires "
    "the figures."
)
OBJECTED = (
    "On 1 December 2026 you objected to processing of your data for follow-up offers of "
    "further courses to former students: we stopped processing it for that. Why: no offers, "
    "please."
)


def person(vault: Vault, email: str = "anna@example.se") -> str:
    identities = [IdentityInput(IdentityKind.EMAIL, email)]
    return vault.create_subject(OFFICER, identities, ["student"]).subject_id


def exported(server: RunningServer, subject_id: str) -> zipfile.ZipFile:
    with channel_to(server, Role.PRIVACY_OFFICER) as channel:
        messages = pb_grpc.SubjectServiceStub(channel).ExportSubject(
            pb.ExportSubjectRequest(name=f"subjects/{subject_id}"), timeout=30
        )
        return zipfile.ZipFile(io.BytesIO(b"".join(m.archive_chunk for m in messages)))


def test_the_export_carries_every_limit_whole_and_says_each_in_words(
    server: RunningServer, vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    restriction = vault.record_restriction(
        OFFICER, anna, [], "you contest the accuracy of your address"
    )
    clock.advance(days=2)
    vault.lift_processing_limit(
        OFFICER, anna, restriction.limit_id, LimitKind.RESTRICTION, "the address was corrected"
    )
    statistics = vault.record_objection(OFFICER, anna, ["statistics"], "letter of 26 November")
    clock.advance(days=5)
    vault.record_overriding_grounds(
        OFFICER, anna, statistics.limit_id, "the national agency requires the figures"
    )
    offers = vault.record_objection(OFFICER, anna, ["alumni_offers"], "no offers, please")

    archive = exported(server, anna)
    limits = json.loads(archive.read("export.json"))["consent"]["limits"]
    assert [entry["id"] for entry in limits] == [
        restriction.limit_id,
        statistics.limit_id,
        offers.limit_id,
    ]
    assert [entry["summary"] for entry in limits] == [RESTRICTED, OVERRIDDEN, OBJECTED]
    first, second, third = limits
    assert (first["kind"], first["purposes"], first["in_effect"]) == ("restriction", [], False)
    assert (first["reason"], first["lift_reason"]) == (
        "you contest the accuracy of your address",
        "the address was corrected",
    )
    assert first["recorded_by"] == first["lifted_by"] == OFFICER.who
    assert first["lifted_at"].startswith("2026-11-26") and "overridden_at" not in first
    assert second["purposes"] == [
        {
            "purpose": "statistics",
            "description": "Statistics and segment analysis on aggregated data",
        }
    ]
    assert second["override_reason"] == "the national agency requires the figures"
    assert second["overridden_by"] == OFFICER.who and "lifted_at" not in second
    assert third["in_effect"] is True and set(third) >= {"recorded_at", "recorded_by", "reason"}

    page = read_page(archive.read("index.html").decode())
    assert "limits" in page.ids and "#limits" in page.links
    for summary in (RESTRICTED, OVERRIDDEN, OBJECTED):
        assert summary in page.text
    assert "Restrictions and objections : 3, 1 in effect" in page.text
    assert "Now overridden: processing goes on" in page.text
    assert f"Recorded on 1 December 2026 by {OFFICER.who}." in page.text


def test_an_objection_lifted_is_said_to_be_withdrawn_by_the_person(
    server: RunningServer, vault: Vault, clock: FixedClock
) -> None:
    anna = person(vault)
    offers = vault.record_objection(OFFICER, anna, ["alumni_offers"], "no offers, please")
    clock.advance(days=4)
    vault.lift_processing_limit(
        OFFICER, anna, offers.limit_id, LimitKind.OBJECTION, "your letter of 28 November"
    )
    archive = exported(server, anna)
    [entry] = json.loads(archive.read("export.json"))["consent"]["limits"]
    assert (entry["in_effect"], entry["lift_reason"]) == (False, "your letter of 28 November")
    assert entry["summary"].endswith(
        "Why: no offers, please. You withdrew it on 28 November 2026: your letter of 28 November."
    )
    page = read_page(archive.read("index.html").decode())
    assert "Now withdrawn by the person" in page.text
    assert (
        f"Recorded on 24 November 2026 by {OFFICER.who}; withdrawn by the person on "
        f"28 November 2026, recorded by {OFFICER.who}."
    ) in page.text


def test_a_person_with_no_limits_has_an_empty_list_and_no_section(
    server: RunningServer, vault: Vault
) -> None:
    archive = exported(server, person(vault))
    assert json.loads(archive.read("export.json"))["consent"]["limits"] == []
    page = read_page(archive.read("index.html").decode())
    assert "limits" not in page.ids and "Restrictions and objections" not in page.text


def test_an_integrator_may_not_export_anyones_limits(server: RunningServer, vault: Vault) -> None:
    anna = person(vault)
    vault.record_restriction(OFFICER, anna, [], "contested")
    with channel_to(server, Role.INTEGRATOR, "lms") as channel:
        stub = pb_grpc.SubjectServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            list(stub.ExportSubject(pb.ExportSubjectRequest(name=f"subjects/{anna}")))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
