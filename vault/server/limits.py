"""ConsentService's calls on restrictions and objections (GDPR arts. 18 and
21): a thin translator over vault.core.consent.limits."""

from __future__ import annotations


class ProcessingLimitCalls:
    """RecordRestriction, RecordObjection, LiftProcessingLimit and
    RecordOverridingGrounds, mixed into ConsentService."""
