"""A minimal third-party connector, shipped as its own package: a newsletter list.

It is installed in the tests the way pip installs a package (a module plus a
dist-info with an entry point in the `consent_vault` group), never imported
by name, so the vault finds it exactly as it finds any installed plugin.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from vault.connectors import Connector, ExportItem, HeldCategory, Holdings, Outcome, Removed
from vault.core.identities import Identity, IdentityKind
from vault.core.model import LegalBasis
from vault.plugins import hookimpl


class NewsletterConnector(Connector):
    name = "newsletter"
    version = "0.1"

    def __init__(self, settings):  # type: ignore[no-untyped-def]
        super().__init__(settings)
        self.subscribers = {e.lower() for e in settings.get("subscribers", [])}

    def holdings(self) -> Holdings:
        return Holdings(
            "newsletter",
            "Newsletter mailing list",
            str(self.settings.get("location", "SE")),
            (
                HeldCategory(
                    "marketing",
                    "Subscribed e-mail address",
                    "marketing_email",
                    LegalBasis.CONSENT,
                    "as long as the consent stands",
                ),
            ),
        )

    def _emails(self, identities: list[Identity]) -> set[str]:
        return {i.value for i in identities if i.kind is IdentityKind.EMAIL} & self.subscribers

    def find(self, identities: list[Identity]) -> list[str]:
        return sorted(self._emails(identities))

    def export(self, identities: list[Identity]) -> Iterator[ExportItem]:
        for email in sorted(self._emails(identities)):
            yield ExportItem("marketing", {"email": email})

    def erase(self, identities: list[Identity], today: dt.date) -> list[Outcome]:
        gone = self._emails(identities)
        self.subscribers -= gone
        return [Removed("marketing", "newsletter subscription") for _ in gone]


@hookimpl
def vault_register_connectors(host):  # type: ignore[no-untyped-def]
    return [NewsletterConnector]
