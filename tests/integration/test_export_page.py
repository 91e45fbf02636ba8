"""Through the real server and the four stand-in systems: the readable page of a
demo person's export shows what the connected systems hold, not only the vault."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator

import grpc
import pytest

from tests.helpers import pnr
from tests.readable_page import read_page
from vault import demo
from vault.connectors.registry import ConnectorRegistry
from vault.core.erasure import ErasureSettings
from vault.core.model import LegalBasis
from vault.core.vault import Vault
from vault.server.app import ServerSettings, create_server
from vault.server.context import VaultServices
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_standins import demo as standins
from vault_standins.people import DEMO_PEOPLE

ANNA = DEMO_PEOPLE[0]


@pytest.fixture
def subjects(vault: Vault, registry: ConnectorRegistry) -> Iterator[pb_grpc.SubjectServiceStub]:
    demo.seed(vault)
    services = VaultServices.build(vault, registry, ErasureSettings(call_timeout_seconds=5))
    running = create_server(services, "127.0.0.1:0", ServerSettings(maintenance_interval_s=0))
    with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield pb_grpc.SubjectServiceStub(channel)
    running.stop(grace=None)


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
        assert f"<dt>DocumentNumber</dt><dd>{number}</dd>" in markup
    assert LegalBasis.LEGAL_OBLIGATION.describe() in page.text
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
