"""purposes list and check: the purposes the vault processes for, and the
records that the configured purposes do not allow.

`list` asks a server (PolicyService.ListPurposes). `check` asks none: it
reads the record database the options name (a stopped vault's, or a running
one's) and changes nothing. It counts the records by (purpose, legal basis,
source system) and lists each use whose purpose is not configured or whose
basis contradicts the configured purpose's, with the reason in words, and
with --records the name of each of its records, on stdout; what it found,
in a sentence, on stderr. Its exit code says what it found: 0 nothing, 1
some, 2 it could not check.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TYPE_CHECKING

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import _client, _fail, _print_json, console, errors
    from vault.reports.words import count
except KeyboardInterrupt:
    raise SystemExit(130) from None

if TYPE_CHECKING:
    from vault.core.consent.usage import PurposeUsageReads, Unconfigured

# Exit codes of `purposes check`.
ALL_CONFIGURED = 0
NOT_CONFIGURED = 1
NOT_CHECKED = 2


# ------------------------------------------------------------------ list
def _purposes_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        purposes = client.list_purposes()
    language = "en"
    if args.language is not None:
        # A language tag in any case (SV is sv), as the descriptions have it.
        described = sorted({tag for p in purposes for tag in p.description})
        found = [tag for tag in described if tag.lower() == args.language.strip().lower()]
        if not found:
            _fail(
                f"--language: no purpose is described in {args.language!r} "
                f"(they are described in {', '.join(described) or 'no language'})"
            )
            return 2
        language = found[0]
    if args.json:
        _print_json(purposes)
        return 0
    from vault.reports.consent_terminal import print_purposes

    print_purposes(console, purposes, language)
    return 0


# ----------------------------------------------------------------- check
def _purposes_check(args: argparse.Namespace) -> int:
    from vault import bootstrap
    from vault import settings as configuration
    from vault.core.consent.usage import judged

    try:
        purposes = configuration.purposes_in(args.config)
        storage = configuration.storage_settings(
            configuration.data_dir(args.data_dir), args.database, args.key_database
        )
    except configuration.SettingsError as error:
        _fail(str(error))
        return NOT_CHECKED
    # As for any command on an existing vault: a place with no vault is said,
    # and nothing is made there.
    if not bootstrap.may_hold_keys(storage.key_url or storage.url):
        _fail(
            f"no vault there ({storage.where}): name the vault's --data-dir "
            "(or its --database and --key-database)"
        )
        return NOT_CHECKED
    try:
        stores = bootstrap.open_stores(storage.url, storage.key_url)
    except (bootstrap.UnknownStorage, *bootstrap.STORAGE_ERRORS) as error:
        _fail(str(error))
        return NOT_CHECKED
    # Open while the output is printed: --records reads the names as they go out.
    with contextlib.closing(stores):
        reads = stores.records.records
        usage = reads.purpose_usage()
        found = judged(usage, purposes.catalogue)
        checked = sum(records for *_, records in usage)
        named = reads if args.records else None
        if args.json:
            _print_json([_use_json(use, named) for use in found])
        if not found:
            _summary(
                f"{count(checked, 'record')} checked against the purposes of {purposes.source}: "
                "every one's purpose is configured, on its legal basis"
            )
            return ALL_CONFIGURED
        if not args.json:
            _print_uses(found, named)
    records = sum(use.records for use in found)
    _summary(
        f"{count(records, 'record')} of {checked:,} not allowed by the purposes of "
        f"{purposes.source}; nothing was changed: configure the purpose, or rectify or "
        "erase the records"
    )
    return NOT_CONFIGURED


def _summary(said: str) -> None:
    """What the check found, found or not, on stderr (the uses listed are
    stdout's, to pipe), wrapped at words to the width (80 through a pipe)."""
    from vault.reports.consent_terminal import wrapped

    wrapped(errors, said, indent=0)


def _print_uses(found: list[Unconfigured], named: PurposeUsageReads | None) -> None:
    """A use a line in columns (purpose, basis, system, records), and under
    it the reason, wrapped; with `named`, then each of its records' names,
    whole, printed as they are read."""
    from vault.core.consent.usage import records_of
    from vault.reports.consent_terminal import table_rows, wrapped
    from vault.reports.words import basis

    heading, rows = table_rows(
        ["purpose", "legal basis", "system", "records"],
        [
            [
                use.purpose,
                basis(use.legal_basis.value),
                use.source_system or "-",
                f"{use.records:,}",
            ]
            for use in found
        ],
        console.width,
    )
    _line(heading)
    for lines, use in zip(rows, found, strict=True):
        for line in lines:
            _line(line)
        wrapped(console, use.reason, indent=2, hanging=2)
        if named is not None:
            for name in records_of(named, use):
                _line(f"  {name}")


def _use_json(use: Unconfigured, named: PurposeUsageReads | None) -> dict[str, object]:
    from vault.core.consent.usage import records_of

    said: dict[str, object] = {
        "purpose": use.purpose,
        "legal_basis": use.legal_basis.value,
        "source_system": use.source_system,
        "records": use.records,
        "problem": use.problem.value,
        "reason": use.reason,
    }
    if named is not None:
        # `records` is the count (as without --records); the names beside it.
        said["record_names"] = list(records_of(named, use))
    return said


def _line(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)
