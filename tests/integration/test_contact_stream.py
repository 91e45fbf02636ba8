"""Who may be contacted (ConsentService.StreamContactable) over real gRPC, on
both engines, over about 2,000 people in every state a person's consent and
limits can be in: the stream gives exactly the people a read for the purpose
would be allowed for, by subject, a page at a time; a stream resumed from a
token mid-way gives exactly the rest; a token of another purpose is refused;
an integrator reaches no protected identity and only its system's purposes;
each page is one audit event naming how many, never who. The Python client
and the CLI continue a run that broke.

The people are built once per engine, with no RPC each: the core's bulk
import; the plain consent most of them give first written in batches, as the
consent history stores it; then what else their state needs through the
core's own calls (a renewal, a withdrawal, a consent that ends or was given
under an older version, a restriction or objection and its lifting or
overriding grounds, an erasure), with the test's clock: consent that expires
is given before the clock moves past its end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests import postgres
from tests.access import token_for, with_token
from tests.conftest import START
from tests.helpers import error_info
from tests.serving import UNLIMITED, channel_to, served
from vault import bootstrap
from vault.cli import main
from vault.core.actor import LOCAL, Role
from vault.core.audit.events import AuditEvent, Operation
from vault.core.audit.store import AuditQuery
from vault.core.clock import FixedClock
from vault.core.consent import history
from vault.core.consent.grounds import Grounds
from vault.core.consent.model import (
    Channel,
    ConsentEvent,
    ConsentInput,
    ConsentStatus,
    LimitKind,
    PolicyDraft,
)
from vault.core.identities import IdentityKind
from vault.core.model import LegalBasis, RecordDraft, SubjectState
from vault.core.subject_import import NewSubject, SubjectBatch
from vault.core.subjects import IdentityInput
from vault.core.vault import Vault
from vault.runtime import build_services
from vault.server.app import RunningServer
from vault.settings import ServerSettings
from vault.v1 import vault_pb2 as pb
from vault.v1 import vault_pb2_grpc as pb_grpc
from vault_client import InvalidArgumentError, VaultClient

# The mailing's purpose rests on consent; the follow-up's on legitimate
# interest, so who may be contacted for it is who the vault holds data of for it.
MAILING = "marketing_email"
FOLLOW_UP = "internship_followup"
WEBSITE_PURPOSES = frozenset({"marketing_email", "marketing_sms", "customer_surveys"})
SETTINGS = ServerSettings(
    address="127.0.0.1:0",
    access=dataclasses.replace(UNLIMITED, purposes={"website": WEBSITE_PURPOSES}),
)
# Given with an end: the clock moves past it once everyone is built.
ENDS = START + dt.timedelta(hours=1)
BUILT = START + dt.timedelta(hours=2)


@dataclass(frozen=True)
class State:
    """One state a person can be in, and whether they may be contacted in it
    for the mailing and (when the vault holds data of theirs for it) the follow-up."""

    name: str
    mailing: bool
    follow_up: bool = True
    protected: bool = False


STATES = [
    State("given", True),
    State("renewed", True),
    State("refused", False),
    State("withdrawn", False),
    State("expired", False),
    State("ends later", True),
    State("given under the version before a material change", False),
    State("given again after the material change", True),
    State("not asked", False),
    State("given for another purpose only", False),
    State("objected to the mailing", False),
    State("objection to the mailing lifted", True),
    State("objected to the follow-up", True, follow_up=False),
    State("objection to the follow-up overridden", True),
    State("restricted for the mailing", False),
    State("restricted for every purpose", False, follow_up=False),
    State("restricted for another purpose", True),
    State("restriction lifted", True),
    State("restricted for the follow-up", True, follow_up=False),
    State("erasure pending", False, follow_up=False),
    State("erased", False, follow_up=False),
    State("protected identity", True, protected=True),
    State("protected identity, restricted", False, follow_up=False, protected=True),
]
# About 2,000 people; an odd number of states, so that the people the vault
# holds follow-up data of (every other one) meet every state.
PEOPLE = 2_001
assert len(STATES) % 2 == 1


@dataclass
class Population:
    vault: Vault
    server: RunningServer
    state_of: dict[str, State]
    # The people the vault holds follow-up data of.
    follow_up_holders: set[str]

    def expected(self, purpose: str, *, sees_protected: bool = True) -> list[str]:
        if purpose == MAILING:
            wanted = [s for s, state in self.state_of.items() if state.mailing]
        else:
            wanted = [
                s
                for s, state in self.state_of.items()
                if state.follow_up and s in self.follow_up_holders
            ]
        return sorted(s for s in wanted if sees_protected or not self.state_of[s].protected)


def _person(n: int, state: State, holds_follow_up: bool) -> NewSubject:
    record = (
        RecordDraft("internship", FOLLOW_UP, LegalBasis.LEGITIMATE_INTEREST, "vault", {"n": n})
        if holds_follow_up
        else RecordDraft("contact", "course_delivery", LegalBasis.CONTRACT, "lms", {"n": n})
    )
    return NewSubject(
        identities=[IdentityInput(IdentityKind.EMAIL, f"person{n}@contact.example")],
        protected_identity=state.protected,
        records=[record],
    )


def _publish(vault: Vault, version: str, effective: dt.date) -> None:
    vault.policies.publish(
        LOCAL,
        PolicyDraft(
            version,
            effective,
            text=f"The school's privacy policy, version {version}.",
            changed_purposes=(MAILING,),
            material_purposes=(MAILING,),
        ),
    )


class Builder:
    """Puts one person in one state, through the core's own calls."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    def consent(
        self, subject: str, status: ConsentStatus, purpose: str = MAILING, **more: Any
    ) -> None:
        given = ConsentInput((purpose,), status, Channel.WEB_FORM, evidence="form 4711", **more)
        self.vault.record_consent(LOCAL, subject, given)

    def limit(self, subject: str, kind: LimitKind, *purposes: str) -> str:
        if kind is LimitKind.RESTRICTION:
            made = self.vault.limits.record_restriction(LOCAL, subject, purposes, "contested")
        else:
            made = self.vault.limits.record_objection(LOCAL, subject, purposes, "no thanks")
        return made.limit_id

    def put(self, subject: str, state: State) -> None:
        given = ConsentStatus.GIVEN
        name = state.name
        if name == "not asked":
            return
        if name == "given for another purpose only":
            self.consent(subject, given, "marketing_sms")
            return
        if name == "refused":
            self.consent(subject, ConsentStatus.REFUSED)
            return
        if name == "expired":
            self.consent(subject, given, expires_at=ENDS)
            return
        if name == "ends later":
            self.consent(subject, given, expires_at=START + dt.timedelta(days=30))
            return
        if name.startswith("given under the version before") or name.startswith("given again"):
            self.consent(subject, given, policy_version="2026-01")
            if name.startswith("given again"):
                self.consent(subject, ConsentStatus.RENEWED)
            return
        # The rest gave consent first, in batches (given_in_batches).
        limits = self.vault.limits
        if name == "renewed":
            self.consent(subject, ConsentStatus.RENEWED)
        elif name == "withdrawn":
            self.consent(subject, ConsentStatus.WITHDRAWN)
        elif name == "objected to the mailing":
            self.limit(subject, LimitKind.OBJECTION, MAILING)
        elif name == "objection to the mailing lifted":
            made = self.limit(subject, LimitKind.OBJECTION, MAILING)
            limits.lift(LOCAL, subject, made, LimitKind.OBJECTION, "asked again")
        elif name == "objected to the follow-up":
            self.limit(subject, LimitKind.OBJECTION, FOLLOW_UP)
        elif name == "objection to the follow-up overridden":
            made = self.limit(subject, LimitKind.OBJECTION, FOLLOW_UP)
            limits.override(LOCAL, subject, made, "the internship contract requires it")
        elif name == "restricted for the mailing":
            self.limit(subject, LimitKind.RESTRICTION, MAILING)
        elif name in ("restricted for every purpose", "protected identity, restricted"):
            self.limit(subject, LimitKind.RESTRICTION)
        elif name == "restricted for another purpose":
            self.limit(subject, LimitKind.RESTRICTION, "marketing_sms")
        elif name == "restriction lifted":
            made = self.limit(subject, LimitKind.RESTRICTION, MAILING, FOLLOW_UP)
            limits.lift(LOCAL, subject, made, LimitKind.RESTRICTION, "accuracy verified")
        elif name == "restricted for the follow-up":
            self.limit(subject, LimitKind.RESTRICTION, FOLLOW_UP)
        elif name == "erasure pending":
            # The state an accepted erasure puts the person in until its steps have run.
            with self.vault.records.write() as tx:
                tx.subjects.set_subject_state(
                    subject, SubjectState.ERASURE_PENDING, self.vault.clock.now()
                )
        elif name == "erased":
            self.vault.erase_subject(LOCAL, subject)


# The states whose consent comes first and plainly (given now, under the
# version in effect): written in batches rather than a call a person.
GIVEN_FIRST = {state.name for state in STATES} - {
    "not asked",
    "given for another purpose only",
    "refused",
    "expired",
    "ends later",
    "given under the version before a material change",
    "given again after the material change",
}


def given_in_batches(vault: Vault, subjects: list[str]) -> None:
    """Consent to the mailing given now by each of `subjects`, 500 events a
    transaction, each event as the consent history stores it (sealed under
    the person's consent key) but without an audit event of its own."""
    now = vault.clock.now()
    version = vault.policies.in_effect(vault.policies.day_of(now))
    assert version is not None
    for first in range(0, len(subjects), 500):
        rows = []
        for subject in subjects[first : first + 500]:
            key = vault.keys.data_key(
                subject, history.CONSENT_CATEGORY, history.CONSENT_PURPOSE, create=True
            )
            event = ConsentEvent(
                event_id=str(uuid.uuid4()),
                subject_id=subject,
                purpose=MAILING,
                status=ConsentStatus.GIVEN,
                given_at=now,
                recorded_at=now,
                policy_version=version.version,
                channel=Channel.WEB_FORM,
                evidence="form 4711",
                recorded_by=LOCAL.who,
            )
            rows.append(history._row(event, version.seq, key))
        with vault.records.write() as tx:
            tx.consents.append(rows)


def build(vault: Vault, clock: FixedClock) -> tuple[dict[str, State], set[str]]:
    # 2026-02 changed the mailing materially and is in effect; 2027-01 will, but is not yet.
    _publish(vault, "2026-01", dt.date(2026, 1, 1))
    _publish(vault, "2026-02", dt.date(2026, 11, 1))
    _publish(vault, "2027-01", dt.date(2027, 1, 1))
    states = [STATES[n % len(STATES)] for n in range(PEOPLE)]
    people = [_person(n, states[n], n % 2 == 0) for n in range(PEOPLE)]
    subject_ids: list[str] = []
    for first in range(0, PEOPLE, 500):
        batch = SubjectBatch(people[first : first + 500])
        subject_ids += vault.import_subjects(LOCAL, [batch]).subject_ids
    given_in_batches(
        vault,
        [s for s, state in zip(subject_ids, states, strict=True) if state.name in GIVEN_FIRST],
    )
    # Each person's calls are their own: made from a few threads at once, as
    # a server's callers would, so the build is no slower than it must be.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(Builder(vault).put, subject_ids, states))
    clock.advance(seconds=(BUILT - START).total_seconds())
    holders = {s for n, s in enumerate(subject_ids) if n % 2 == 0}
    return dict(zip(subject_ids, states, strict=True)), holders


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def population(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Population]:
    with _database(request.param) as database:
        clock = FixedClock(START)
        data_dir = tmp_path_factory.mktemp(f"contact-{request.param}") / "vault-data"
        vault = bootstrap.open_vault(data_dir, clock=clock, database=database)
        try:
            state_of, holders = build(vault, clock)
            services = build_services(vault, stores_embedded=database is None)
            with served(services, SETTINGS) as server:
                yield Population(vault, server, state_of, holders)
        finally:
            bootstrap.close_vault(vault)


@contextmanager
def _database(engine: str) -> Iterator[str | None]:
    """None for the data directory's SQLite files, or a PostgreSQL schema of the module's own."""
    if engine == "sqlite":
        yield None
        return
    with postgres.fresh_schema() as url:
        yield url


# ------------------------------------------------------------------ calls
def stub(
    population: Population, role: Role = Role.PRIVACY_OFFICER, system: str = ""
) -> AbstractContextManager[grpc.Channel]:
    return channel_to(population.server, role, system)


def pages(
    channel: grpc.Channel, purpose: str, page_size: int = 0, resume_token: str = ""
) -> list[pb.StreamContactableResponse]:
    request = pb.StreamContactableRequest(
        purpose=purpose, page_size=page_size, resume_token=resume_token
    )
    return list(pb_grpc.ConsentServiceStub(channel).StreamContactable(request, timeout=60))


def people_of(answer: list[pb.StreamContactableResponse]) -> list[str]:
    return [p.subject.removeprefix("subjects/") for page in answer for p in page.people]


def refused(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    info = error_info(raised.value)
    return raised.value.code(), info.reason, info.metadata.get("field", "")


def last_row(vault: Vault) -> int:
    rows = vault.records.audit.query(AuditQuery(limit=1_000_000))
    return rows[-1].row_id if rows else 0


def streamed_events(vault: Vault, after_row: int) -> list[AuditEvent]:
    query = AuditQuery(
        after_row=after_row, limit=10_000, operation=Operation.STREAM_CONTACTABLE.value
    )
    return [AuditEvent.from_entry(stored.entry) for stored in vault.records.audit.query(query)]


def allowed_by_reads(vault: Vault, purpose: str, subjects: list[str]) -> set[str]:
    """The people a read for `purpose` would be allowed for now, as every
    record read judges it (vault.core.consent.grounds)."""
    grounds = Grounds(vault.records, vault.purposes, vault.policies, vault.clock, vault.audit)
    active = [
        s
        for s in subjects
        if (row := vault.records.subjects.subject(s)) and row.state is SubjectState.ACTIVE
    ]
    return {s for s in active if grounds.stopped(grounds.of(s), purpose) is None}


# ------------------------------------------------------------------ tests
def test_the_stream_gives_exactly_who_may_be_contacted_for_a_purpose_on_consent(
    population: Population,
) -> None:
    vault = population.vault
    before = last_row(vault)
    with stub(population) as channel:
        answer = pages(channel, MAILING, page_size=97)
    given = people_of(answer)
    expected = population.expected(MAILING)
    assert given == expected
    # Every state that may be contacted is there, and none that may not.
    assert {population.state_of[s].name for s in given} == {
        state.name for state in STATES if state.mailing
    }
    # Exactly the people a read for the mailing would be allowed for.
    assert set(given) == allowed_by_reads(vault, MAILING, list(population.state_of))
    # Pages of at most the size asked, each but the last with the token that
    # continues after it; every person's consent with its time and version.
    assert [len(page.people) for page in answer[:-1]] == [97] * (len(answer) - 1)
    assert 0 < len(answer[-1].people) <= 97
    assert all(page.resume_token for page in answer[:-1]) and answer[-1].resume_token == ""
    for page in answer:
        for person in page.people:
            assert person.legal_basis == pb.LEGAL_BASIS_CONSENT
            assert person.policy_version == "2026-02"
            assert START <= person.consent_time.ToDatetime(tzinfo=dt.UTC) <= BUILT
    # One audit event a page, naming the purpose and how many, never who.
    events = streamed_events(vault, before)
    assert len(events) == len(answer)
    assert {e.purpose for e in events} == {MAILING}
    assert all(e.subject == "" and e.actor and e.result == "ok" for e in events)
    assert events[0].detail == "97 people"
    assert sum(int(e.detail.split()[0].replace(",", "")) for e in events) == len(given)
    # The protected identities given to the officer make their pages sensitive.
    assert any(e.sensitive for e in events)


def test_a_purpose_on_another_basis_gives_the_people_the_vault_holds_data_of_for_it(
    population: Population,
) -> None:
    with stub(population) as channel:
        answer = pages(channel, FOLLOW_UP)
    given = people_of(answer)
    assert given == population.expected(FOLLOW_UP)
    assert set(given) == allowed_by_reads(
        population.vault, FOLLOW_UP, sorted(population.follow_up_holders)
    )
    # An objection overridden by compelling grounds no longer stops contact.
    assert "objection to the follow-up overridden" in {population.state_of[s].name for s in given}
    # 500 a page unless asked.
    assert [len(page.people) for page in answer] == [500, len(given) - 500]
    person = answer[0].people[0]
    assert person.legal_basis == pb.LEGAL_BASIS_LEGITIMATE_INTEREST
    assert not person.HasField("consent_time") and person.policy_version == ""


def test_an_integrator_never_reaches_a_protected_identity_nor_another_systems_purpose(
    population: Population,
) -> None:
    with stub(population, Role.INTEGRATOR, "website") as channel:
        given = people_of(pages(channel, MAILING, page_size=250))
        assert given == population.expected(MAILING, sees_protected=False)
        assert len(given) < len(population.expected(MAILING))
        code, reason, field = refused(lambda: pages(channel, FOLLOW_UP))
    assert (code, reason, field) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "PURPOSE_NOT_ALLOWED",
        "purpose",
    )


def test_a_stream_resumed_from_a_token_gives_exactly_the_rest(population: Population) -> None:
    expected = population.expected(MAILING)
    with stub(population) as channel:
        first = pages(channel, MAILING, page_size=100)
        # A run that broke after its third page continues after it, in pages
        # of another size if it likes.
        rest = pages(channel, MAILING, page_size=333, resume_token=first[2].resume_token)
        again = pages(channel, MAILING, page_size=333, resume_token=first[2].resume_token)
    assert people_of(first[:3]) + people_of(rest) == expected
    assert people_of(again) == people_of(rest)
    # The last page's token continues to its last person: the rest after it is nobody.
    with stub(population) as channel:
        end = pages(channel, MAILING, page_size=100, resume_token=first[-2].resume_token)
    assert people_of(end) == people_of(first[-1:])


def test_a_token_of_another_purpose_or_none_at_all_is_refused(population: Population) -> None:
    with stub(population) as channel:
        token = pages(channel, MAILING, page_size=10)[0].resume_token
        for purpose, resume_token in (
            (FOLLOW_UP, token),
            ("marketing_sms", token),
            (MAILING, token[:-3]),
            (MAILING, "not a token"),
        ):
            code, reason, field = refused(
                lambda p=purpose, t=resume_token: pages(channel, p, resume_token=t)
            )
            assert (code, reason, field) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_FIELD",
                "resume_token",
            )


def test_what_is_no_mailing_is_refused_and_a_stream_that_finds_nobody_is_told(
    population: Population,
) -> None:
    vault = population.vault
    with stub(population) as channel:
        for purpose, page_size, field in (
            ("rights_requests", 0, "purpose"),
            ("", 0, "purpose"),
            ("no_such_purpose", 0, "purpose"),
            (MAILING, 1001, "page_size"),
            (MAILING, -1, "page_size"),
        ):
            code, reason, named = refused(
                lambda p=purpose, n=page_size: pages(channel, p, page_size=n)
            )
            assert (code, reason, named) == (
                grpc.StatusCode.INVALID_ARGUMENT,
                "INVALID_FIELD",
                field,
            ), purpose
        before = last_row(vault)
        # Nobody consented to marketing by post.
        answer = pages(channel, "marketing_post")
    assert [(list(page.people), page.resume_token) for page in answer] == [([], "")]
    [event] = streamed_events(vault, before)
    assert (event.purpose, event.detail) == ("marketing_post", "0 people")
    with stub(population, Role.AUDITOR) as channel:
        code, reason, _ = refused(lambda: pages(channel, MAILING))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED")


def test_the_client_continues_a_mailing_run_that_broke(population: Population) -> None:
    expected = population.expected(MAILING, sees_protected=False)
    token = token_for(population.vault, Role.INTEGRATOR, "website")
    with grpc.insecure_channel(f"127.0.0.1:{population.server.port}") as opened:
        client = VaultClient(timeout=10, channel=with_token(opened, token))
        stream = client.contactable(MAILING, page_size=100)
        assert stream.resume_token == "" and not stream.finished
        mailed: list[str] = []
        for person in stream:
            mailed.append(person.subject.removeprefix("subjects/"))
            if len(mailed) == 250:
                break  # the run breaks half-way through its third page
        assert stream.pages == 3 and not stream.finished
        # The token the run had continues after its last whole page: the
        # people of the broken page come again, nobody is missed.
        token = stream.resume_token
        resumed = client.contactable(MAILING, token, page_size=100)
        rest = [p.subject.removeprefix("subjects/") for p in resumed]
        assert resumed.finished and resumed.resume_token == ""
        assert mailed[:200] + rest == expected
        assert rest[:50] == mailed[200:]
        # Iterated again, the broken stream itself goes on from there.
        assert [p.subject.removeprefix("subjects/") for p in stream] == rest
        assert stream.finished and list(stream) == []
        with pytest.raises(InvalidArgumentError):
            list(client.contactable("marketing_sms", token))


def test_the_cli_prints_one_subject_a_line_and_where_to_continue_on_stderr(
    population: Population,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tmp_path / "website.token"
    token.write_text(token_for(population.vault, Role.INTEGRATOR, "website"))
    server = ["--server", f"127.0.0.1:{population.server.port}", "--token-file", str(token)]
    command = ["consent", "contactable", MAILING, *server, "--page-size", "400"]
    assert main(command) == 0
    out, err = capsys.readouterr()
    expected = population.expected(MAILING, sees_protected=False)
    assert out.splitlines() == [f"subjects/{s}" for s in expected]
    lines = err.splitlines()
    assert lines[0] == "400 people so far; --resume " + lines[0].rsplit(" ", 1)[1]
    assert lines[-1] == f"{len(expected):,} people may be contacted for {MAILING}"
    # Continued from the second page's token, the rest alone.
    resume = lines[1].rsplit(" ", 1)[1]
    assert main([*command, "--resume", resume]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"subjects/{s}" for s in expected[800:]]
    assert (
        err.splitlines()[-1]
        == f"{len(expected) - 800:,} people more may be contacted for {MAILING}"
    )
    # With --json, one object a line with what each rests on.
    assert main([*command, "--resume", resume, "--json"]) == 0
    out, _ = capsys.readouterr()
    told = [json.loads(line) for line in out.splitlines()]
    assert [person["subject"] for person in told] == [f"subjects/{s}" for s in expected[800:]]
    assert {(p["legal_basis"], p["policy_version"]) for p in told} == {("consent", "2026-02")}
    # A purpose the integrator's system is not configured for is one line and exit 1.
    assert main(["consent", "contactable", FOLLOW_UP, *server]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "PURPOSE_NOT_ALLOWED" in err and len(err.splitlines()) == 1
    # An empty token (a blank file in a script) would start the mailing over: refused.
    assert main([*command, "--resume", ""]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --resume: empty") and len(err.splitlines()) == 1
