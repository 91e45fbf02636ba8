"""Roles an earlier release kept in the clear, sealed under each subject's
identity key, and the clear column blanked (the scrub then takes the old bytes
out of the files: `Vault.upgrade` wakes it).

The subjects left to do are found through a partial index of those with roles
in the clear, empty once done, so an upgraded vault's check at every opening is
one cheap query. Each batch is sealed outside the write, then each subject is
stored only if its clear roles are still the ones read (`seal_clear_roles`):
two processes upgrading at once, or an update meanwhile, change each subject
once, and a crash part-way leaves the rest for the next opening. A subject
whose keys are gone (erased, or being erased) keeps no roles.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vault.core.errors import SubjectErased
from vault.core.model import SubjectState
from vault.storage.base import ClearRoles

if TYPE_CHECKING:
    from vault.core.upgrades import UpgradeContext

BATCH = 500

_log = logging.getLogger(__name__)


def seal_clear_roles(context: UpgradeContext) -> int:
    changed = 0
    while True:
        batch = context.records.subjects.subjects_with_clear_roles(BATCH)
        if not batch:
            return changed
        sealed = [(subject, _sealed(context, subject)) for subject in batch]
        with context.records.write() as tx:
            stored = sum(
                tx.subjects.seal_clear_roles(subject.subject_id, subject.roles, roles)
                for subject, roles in sealed
            )
        if not stored:
            # Every one changed under us and yet still shows roles in the clear:
            # never seen, but no reason to loop for ever at opening.
            _log.warning("roles in the clear left on %s subjects", f"{len(batch):,}")
            return changed
        changed += stored


def _sealed(context: UpgradeContext, subject: ClearRoles) -> bytes | None:
    if subject.state is SubjectState.ERASED:
        return None
    try:
        return context.sealing.seal_roles(subject.subject_id, subject.roles)
    except SubjectErased:
        return None
