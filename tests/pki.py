"""The tests' certificates, made afresh by a throwaway CA (bench.tls): a
server's for localhost, a client's of the same CA, and another CA with a
client's certificate of its own, which a mutual-TLS server must refuse."""

from __future__ import annotations

from dataclasses import dataclass

from bench.tls import Authority, Issued

__all__ = ["Issued", "Pki", "make_pki"]


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    client: Issued  # CN=lms-sync, O=Skolan AB
    other_ca: Issued  # trusting it, a client must refuse the server
    stranger: Issued  # the client's name, signed by the other CA


def make_pki() -> Pki:
    authority, other = Authority("vault test CA"), Authority("someone else's CA")
    return Pki(
        authority.issued,
        authority.server(),
        authority.client("lms-sync", "Skolan AB"),
        other.issued,
        other.client("lms-sync", "Skolan AB"),
    )
