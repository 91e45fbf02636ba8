"""consent contactable: who may be contacted for a purpose, for a mailing run.

The people go to stdout, one subject a line (or one JSON object a line with
--json), for a pipe into whatever sends the mail; what the run has reached
goes to stderr, a line a page with the token that continues after it, so a
run that breaks (Ctrl-C, a lost server, even a killed process whose stderr
went to a log) continues with --resume. A page broken off in the middle is
given again from its start: at most one page of people is given twice,
nobody is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

# Ctrl-C while the libraries load is as quiet as Ctrl-C later: no traceback.
try:
    from vault.cli import _client, _fail, _plain, errors
    from vault.cli.policy import _quiet_stdout
    from vault_client import VaultClientError
except KeyboardInterrupt:
    raise SystemExit(130) from None

# The API's fields, as the arguments and options that gave them.
OPTIONS = {"purpose": "PURPOSE", "resume_token": "--resume", "page_size": "--page-size"}

DESCRIPTION = """\
The people who may be contacted for PURPOSE now, by subject: with consent
that stands (given or renewed, not expired, not outdated by a policy version
that changed the purpose materially), or for a purpose on another basis the
people the vault holds data of for it; in either case with no restriction or
objection in effect for it, and not being erased. An integrator asks for its
system's purposes, and never reaches a protected identity.

One subject a line on stdout. On stderr, after each page, how many so far
and the token that continues after them; at the end, how many in all. A run
that stopped continues with --resume TOKEN, the last token it printed.
"""


def add_contactable(commands: Any, online: Sequence[argparse.ArgumentParser]) -> None:
    """`consent contactable`, beside the other consent commands."""
    contactable = commands.add_parser(
        "contactable",
        parents=online,
        help="who may be contacted for a purpose, one subject a line, for a mailing run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    contactable.add_argument("purpose", metavar="PURPOSE", help="the purpose of the mailing")
    contactable.add_argument(
        "--resume",
        default=None,
        metavar="TOKEN",
        help="continue a run that stopped, after the people the token was printed with",
    )
    contactable.add_argument(
        "--page-size",
        type=int,
        default=0,
        metavar="N",
        help="people a page, 1 to 1000 (default, or 0: 500): how often stderr says where "
        "the run is",
    )
    contactable.add_argument(
        "--json", action="store_true", help="one JSON object a line, with what each rests on"
    )
    contactable.set_defaults(handler=_contactable, options=OPTIONS)


def _contactable(args: argparse.Namespace) -> int:
    if args.resume is not None and not args.resume.strip():
        # An empty token (a script's file left blank) would start the whole
        # mailing over: a run starts without --resume, never with an empty one.
        _fail("--resume: empty; leave --resume out to start from the first person")
        return 2
    given = 0
    with _client(args) as client:
        stream = client.contactable(args.purpose, args.resume or "", args.page_size)
        told = stream.resume_token
        try:
            for person in stream:
                line = (
                    json.dumps(_plain(person), ensure_ascii=False) if args.json else person.subject
                )
                sys.stdout.write(line + "\n")
                given += 1
                if stream.resume_token != told and not stream.finished:
                    # The page's last person is out: the run may continue after it.
                    sys.stdout.flush()
                    told = stream.resume_token
                    _say(f"{_people(given)} so far; --resume {told}")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader stopped (`| head`): what it took was given; say where it was.
            _quiet_stdout()
            _stopped(args, told)
            return 0
        except (KeyboardInterrupt, VaultClientError):
            # A refusal of the request itself is only the error; a run broken
            # off says where it was too.
            if given:
                _stopped(args, told)
            raise
    more = " more" if args.resume else ""
    if not given:
        _say(f"nobody{more} may be contacted for {args.purpose}")
    else:
        _say(f"{_people(given)}{more} may be contacted for {args.purpose}")
    return 0


def _people(number: int) -> str:
    return "1 person" if number == 1 else f"{number:,} people"


def _stopped(args: argparse.Namespace, token: str) -> None:
    if token:
        _say(
            f"stopped; to continue: consent-vault consent contactable {args.purpose} --resume {token}"
        )
    else:
        _say("stopped before the first page was whole; run it again as it was")


def _say(line: str) -> None:
    errors.print(line, highlight=False, markup=False)
