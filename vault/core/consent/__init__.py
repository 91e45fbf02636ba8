"""Purposes, consent as evidence and the policy versions consent is given
under: `purposes` (the configured catalogue), `model` (events, standings,
versions), `history` (recording and reading a person's consent), `policy`
(publishing versions, who must consent again), `dpv` (the standard consent
record), `store` (what a storage engine keeps).
"""
