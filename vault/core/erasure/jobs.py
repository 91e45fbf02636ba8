"""A new erasure job, of either kind: its own key made, the person's
identities sealed under it, and its request as the step engine keeps it."""

from __future__ import annotations

import datetime as dt
import secrets

from vault.core.actor import Actor
from vault.core.erasure.jobkeys import JobKeys
from vault.core.erasure.model import one_month_after
from vault.core.erasure.systems import sealed_identities
from vault.core.model import Subject
from vault.core.steps import RequestState, StoredRequest


def new_request(
    keys: JobKeys, kind: str, person: Subject, actor: Actor, now: dt.datetime
) -> StoredRequest:
    """A pending request of `kind` about `person`, asked by `actor`, due in a
    month. Its key exists from here on: a caller that does not commit the
    request destroys it."""
    job_id = secrets.token_hex(16)
    keys.create(job_id)
    sealed = keys.seal(
        job_id,
        sealed_identities(person.identities, person.protected_identity),
        "job-identities",
        job_id,
    )
    return StoredRequest(
        job_id,
        kind,
        person.subject_id,
        RequestState.PENDING,
        now,
        one_month_after(now),
        None,
        sealed,
        now,
        actor,
    )
