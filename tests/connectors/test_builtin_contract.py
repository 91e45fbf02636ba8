"""The connector contract suite against each built-in connector and its stand-in."""

from __future__ import annotations

import pytest

from vault.connectors import Connector
from vault.connectors.registry import ConnectorRegistry
from vault.connectors.testing import ConnectorContract
from vault.core.identities import Identity, IdentityKind

ANNA = [
    Identity(IdentityKind.PERSONNUMMER, "198112189876"),
    Identity(IdentityKind.EMAIL, "anna.andersson@example.se"),
    Identity(IdentityKind.PHONE, "+46701234567"),
]
BO = [
    Identity(IdentityKind.EMAIL, "bo.berg@example.com"),
    Identity(IdentityKind.PHONE, "+4640123456"),
]
CECILIA = [
    Identity(IdentityKind.EMAIL, "cecilia@example.org"),
    Identity(IdentityKind.EXTERNAL_ID, "https://www.facebook.com/example.cecilia", "facebook"),
]
NOBODY = [
    Identity(IdentityKind.EMAIL, "nobody@example.net"),
    Identity(IdentityKind.PERSONNUMMER, "191212121212"),
]


class BuiltIn(ConnectorContract):
    system = ""
    known: list[Identity] = []

    @pytest.fixture
    def connector(self, registry: ConnectorRegistry) -> Connector:
        installed = registry.get(self.system)
        assert installed is not None and installed.connector is not None
        return installed.connector

    @pytest.fixture
    def known_identities(self) -> list[Identity]:
        return self.known

    @pytest.fixture
    def unknown_identities(self) -> list[Identity]:
        return NOBODY


class TestLMSContract(BuiltIn):
    system, known = "lms", ANNA


class TestAccountingContract(BuiltIn):
    system, known = "accounting", ANNA


class TestSalonCustomerContract(BuiltIn):
    system, known = "salon", BO


class TestSalonStudentContract(BuiltIn):
    system, known = "salon", ANNA


class TestFacebookGroupContract(BuiltIn):
    system, known = "facebook_group", CECILIA
