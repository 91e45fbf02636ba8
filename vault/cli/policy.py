"""policy publish, list and affected: the privacy policy's versions, and the
people who must consent again after one changed a purpose materially.

`affected` streams (StreamReconsentNeeded): a long list starts at once, a
person at a time, and its count comes last, on stderr, so the list itself
pipes clean (with --json, one JSON object a line).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import _client, _fail, _plain, _print_json, console, errors
except KeyboardInterrupt:
    raise SystemExit(130) from None

# The API's fields, as the options (or arguments) that gave them.
PUBLISH_OPTIONS = {
    "version": "VERSION",
    "effective_date": "--effective",
    "text": "--text-file",
    "text_sha256": "--sha256",
    "url": "--url",
    "changed_purposes": "--changed",
    "material_purposes": "--material",
    "summary": "--summary",
    "request_id": "--request-id",
}
AFFECTED_OPTIONS = {"purpose": "--purpose"}
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def effective_date(text: str) -> dt.date | None:
    """YYYY-MM-DD as a date; None when it is not one."""
    if not _DATE.fullmatch(text.strip()):
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


# --------------------------------------------------------------- publish
def _policy_publish(args: argparse.Namespace) -> int:
    effective = effective_date(args.effective)
    if effective is None:
        _fail(f"--effective: {args.effective!r} is not a date, YYYY-MM-DD, such as 2026-12-01")
        return 2
    text = ""
    if args.text_file is not None:
        if args.sha256 or args.url:
            _fail(
                "--text-file: give the text, or its --sha256 and --url, not both "
                "(the vault computes the hash of a text it is given)"
            )
            return 2
        try:
            text = args.text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            why = getattr(error, "strerror", None) or "not UTF-8 text"
            _fail(f"--text-file: {args.text_file} cannot be read ({why})")
            return 2
    elif not (args.sha256 and args.url):
        missing = "--url" if args.sha256 else "--sha256" if args.url else "--text-file"
        _fail(
            f"{missing}: publish the policy's text (--text-file FILE), or its SHA-256 "
            "and the URL it is published at (--sha256 HEX --url URL)"
        )
        return 2
    with _client(args) as client:
        published = client.publish_policy(
            args.version,
            effective,
            text=text,
            text_sha256=args.sha256 or "",
            url=args.url or "",
            changed_purposes=args.changed,
            material_purposes=args.material,
            summary=args.summary,
            request_id=args.request_id,
        )
    if args.json:
        _print_json(published)
        return 0
    from vault.reports.consent_terminal import print_published

    print_published(console, published)
    return 0


# ------------------------------------------------------------------ list
def _policy_list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        versions = client.policy_versions()
    if args.json:
        _print_json(versions)
        return 0
    from vault.reports.consent_terminal import print_policies

    print_policies(console, versions)
    return 0


# -------------------------------------------------------------- affected
def _policy_affected(args: argparse.Namespace) -> int:
    from vault.reports.consent_terminal import affected_count, print_affected

    people: set[str] = set()
    consents = 0
    try:
        with _client(args) as client:
            for person in client.stream_reconsent_needed(args.purpose):
                if args.json:
                    sys.stdout.write(json.dumps(_plain(person), ensure_ascii=False) + "\n")
                    sys.stdout.flush()
                else:
                    print_affected(console, person)
                people.add(person.subject)
                consents += 1
    except BrokenPipeError:
        # The reader stopped (`| head`): what it took was shown, nothing is wrong.
        _quiet_stdout()
        return 0
    if not consents:
        errors.print("nobody must consent again", highlight=False, markup=False)
    else:
        errors.print(affected_count(len(people), consents), highlight=False, markup=False)
    return 0


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the
    closed pipe says nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
