"""Purposes, consent as evidence and the policy versions consent is given
under: `purposes` (the configured catalogue), `model` (events, standings,
versions), `history` (recording and reading a person's consent), `policy`
(publishing versions, who must consent again), `dpv` (the standard consent
record, the DPV profile of ISO/IEC TS 27560) and `export` (a person's records
in it), `usage` (the records' purposes checked against the configuration),
`store` (what a storage engine keeps).
"""
