"""Through the real server and the four stand-in systems: the readable page of a
demo person's export shows what the connected systems hold, not only the vault."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import pytest

from tests.helpers import pnr
from tests.readable_page import read_page
from tests.serving import channel_to, served
from vault import demo
from vault.connectors.registry import ConnectorRegistry
from vault.core.actor import LOCAL
from vault.core.erasure import ErasureSettings
from vault.core.fanout import export_everywhere
from vault.core.identities import IdentityKind
from vault.core.model import Controller, LegalBasis
from vault.core.vault import IdentityInput, Vault
from vault.reports import words
from vault.reports.archive import export_archive
from vault.runtime import build_services
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins.people import DEMO_PEOPLE

ANNA = DEMO_PEOPLE[0]


@pytest.fixture
def subjects(vault: Vault, registry: ConnectorRegistry) -> Iterator[pb_grpc.SubjectServiceStub]:
    demo.seed(vault)
    services = build_services(vault, registry, ErasureSettings(call_timeout_seconds=5))
    with served(services) as running, channel_to(running) as channel:
        yield pb_grpc.SubjectServiceStub(channel)


def exported(subjects: pb_grpc.SubjectServiceStub, personnummer: str) -> zipfile.ZipFile:
    name = subjects.FindSubject(pb.FindSubjectRequest(identity=pnr(personnummer))).subject.name
    messages = subjects.ExportSubject(pb.ExportSubjectRequest(name=name), timeout=30)
    return zipfile.ZipFile(io.BytesIO(b"".join(m.archive_chunk for m in messages)))


def test_annas_page_shows_her_invoices_from_the_accounting_system(
    subjects: pb_grpc.SubjectServiceStub, systems: standins.DemoSystems
) -> None:
    archive = exported(subjects, ANNA.personnummer)
    markup = archive.read("index.html").decode()
    page = read_page(markup)
    # Invoice numbers exist only in the accounting stand-in, never in the vault.
    customer = next(c for c in systems.accounting.customers.values() if c["Email"] == ANNA.email)
    invoices = [
        v["DocumentNumber"]
        for v in systems.accounting.invoices.values()
        if v["CustomerNumber"] == customer["CustomerNumber"]
    ]
    assert len(invoices) == 2
    for number in invoices:
        assert f"<dt>Document number</dt><dd>{number}</dd>" in markup
    assert words.legal_basis(LegalBasis.LEGAL_OBLIGATION.value) in page.text
    assert "Invoices, with instalment and credit-check results" in page.text  # the holding's words
    page.files(archive)  # every file link is a member of the archive


def test_every_system_in_export_json_has_its_section_on_the_page(
    subjects: pb_grpc.SubjectServiceStub,
) -> None:
    archive = exported(subjects, ANNA.personnummer)
    page = read_page(archive.read("index.html").decode())
    systems = json.loads(archive.read("export.json"))["systems"]
    assert set(systems) == {"lms", "salon", "accounting", "facebook_group"}
    assert {f"system-{name}" for name in systems} <= page.ids
    assert {f"#system-{name}" for name in systems} <= set(page.links)
    for part in systems.values():
        assert part["description"] in page.text


def test_annas_page_reads_in_words_and_names_the_school(
    vault: Vault, registry: ConnectorRegistry
) -> None:
    """What a new user found on Anna's page: raw keys, system codes, a bare
    personnummer, no "how long" for the vault's records, nobody named as "we"."""
    demo.seed(vault)
    services = build_services(vault, registry)
    school = Controller("Leep Yrkesutbildning AB, Malmö (demo)", "dataskydd@example.se")
    anna = vault.find_subject(LOCAL, IdentityInput(IdentityKind.EMAIL, ANNA.email)).subject_id
    events = export_archive(
        export_everywhere(
            LOCAL, vault, services.connectors, services.holdings, anna, 10, controller=school
        )
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(e for e in events if isinstance(e, bytes))))
    markup = archive.read("index.html").decode()
    page = read_page(markup)
    assert "We are Leep Yrkesutbildning AB, Malmö (demo)" in page.text
    assert "mailto:dataskydd@example.se" in page.links
    for raw in ("phone1", "last_ip", "set_on", "graded_on", "model_consented", "VoucherSeries"):
        assert f"<dt>{raw}</dt>" not in markup
    assert "<dt>Last IP</dt>" in markup and "<dt>Graded on</dt>" in markup
    assert "<dt>Table</dt>" not in markup and "From its table salon_days" in page.text
    assert "19811218-9876" in page.text and "198112189876" not in page.text
    assert "<code>lms</code>, which gave it" not in markup
    assert "From Learning platform (Moodle) , which gave it to the vault" in page.text
    assert "From Website, which gave it to the vault" in page.text
    assert "No one was found in this system by e-mail." in page.text  # the Facebook group
    document = json.loads(archive.read("export.json"))
    assert document["controller"]["contact"] == "dataskydd@example.se"
    assert "198112189876" in {i["value"] for i in document["subject"]["identities"]}


def test_a_server_without_a_controller_says_so_on_the_page(
    subjects: pb_grpc.SubjectServiceStub,
) -> None:
    archive = exported(subjects, ANNA.personnummer)
    page = read_page(archive.read("index.html").decode())
    assert "This vault has not been told who is responsible for your data" in page.text
    assert "Integritetsskyddsmyndigheten (IMY)" in page.text
