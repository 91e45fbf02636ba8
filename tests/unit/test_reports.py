"""The reports: the core hands over an export's data in order, the archive is
written from it as it arrives, and the words and tables people read."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console

from vault.core.export import (
    PROGRESS_EVERY,
    ExportProgress,
    SubjectExport,
    SystemExport,
    SystemProgress,
)
from vault.core.identities import IdentityKind
from vault.core.model import Content, LegalBasis, Record, Subject, SubjectState
from vault.reports import archive, terminal, words
from vault_client import ConnectorInfo, HeldCategory
from vault_client import Record as RecordView

NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
EVA = Subject("s-eva", (), (), False, SubjectState.ACTIVE, NOW, NOW)


def records(count: int, photo_bytes: int = 0) -> Iterator[Record]:
    for n in range(count):
        content = Content(bytes(photo_bytes), "image/png", "photo.png") if photo_bytes else None
        yield Record(
            f"r{n}",
            EVA.subject_id,
            "contact",
            "course_delivery",
            LegalBasis.CONTRACT,
            "lms",
            {"n": n},
            content,
            NOW,
            NOW,
        )


def test_an_export_yields_records_with_progress_then_the_systems() -> None:
    total = PROGRESS_EVERY * 2 + 3
    part = SystemExport("lms")
    events = list(
        SubjectExport(
            EVA, records(total), total, NOW, [SystemProgress("lms", "running"), part]
        ).events()
    )
    progress = [e for e in events if isinstance(e, ExportProgress)]
    assert progress == [
        ExportProgress(0, total),
        ExportProgress(PROGRESS_EVERY, total),
        ExportProgress(2 * PROGRESS_EVERY, total),
        ExportProgress(total, total),
    ]
    assert events.index(progress[1]) == PROGRESS_EVERY + 1  # right after its records
    assert sum(isinstance(e, Record) for e in events) == total
    assert events[-2:] == [SystemProgress("lms", "running"), part]


def test_progress_never_counts_past_its_total_when_records_arrive_meanwhile() -> None:
    events = SubjectExport(EVA, records(PROGRESS_EVERY + 1), 1, NOW).events()
    progress = [e for e in events if isinstance(e, ExportProgress)]
    assert progress[1] == ExportProgress(PROGRESS_EVERY, PROGRESS_EVERY)
    assert progress[-1] == ExportProgress(PROGRESS_EVERY + 1, PROGRESS_EVERY + 1)


def test_each_systems_status_says_how_its_part_went() -> None:
    assert SystemExport("a").status == "done"
    assert SystemExport("a", error="down").status == "failed"
    assert SystemExport("a", withheld="differs").status == "withheld"
    assert SystemExport("a", no_match=("email",)).status == "no_match"
    assert SystemExport("a", error="down", withheld="differs").status == "failed"


def test_the_archive_streams_as_records_arrive() -> None:
    """A subject with many records never has to fit in memory: archive bytes go
    out, between progress events, long before the last record is read."""
    read = 0
    total = 3 * PROGRESS_EVERY

    def counted() -> Iterator[Record]:
        nonlocal read
        for record in records(total, photo_bytes=1024):
            read += 1
            yield record

    stream = archive.export_archive(SubjectExport(EVA, counted(), total, NOW))
    first_chunk_after = None
    kinds = []
    chunks = []
    for event in stream:
        if isinstance(event, bytes):
            chunks.append(event)
            if first_chunk_after is None:
                first_chunk_after = read
        kinds.append("bytes" if isinstance(event, bytes) else "progress")
    assert first_chunk_after is not None and first_chunk_after < total
    # Progress and chunks interleave, not all progress first.
    assert kinds.index("bytes") < len(kinds) - 1 - kinds[::-1].index("progress")
    assert all(len(chunk) <= archive.CHUNK_BYTES for chunk in chunks)
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert len([n for n in zipped.namelist() if n.startswith("content/")]) == total


def test_the_notes_of_an_archive_are_read_back_and_a_bad_one_has_none(tmp_path: Path) -> None:
    made = tmp_path / "a.zip"
    part = SystemExport("salon", notes=("the phone number differs",))
    events = archive.export_archive(SubjectExport(EVA, iter(()), 0, NOW, [part]))
    made.write_bytes(b"".join(e for e in events if isinstance(e, bytes)))
    assert archive.system_notes(made) == {"salon": ["the phone number differs"]}
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    assert archive.system_notes(tmp_path / "bad.zip") == {}
    assert archive.system_notes(tmp_path / "missing.zip") == {}


def test_every_identity_kind_and_legal_basis_has_words() -> None:
    assert set(words.KIND_WORDS) == {kind.value for kind in IdentityKind}
    for basis in LegalBasis:
        assert "GDPR art. 6(1)(" in words.legal_basis(basis.value)


def test_names_and_counts_read_as_words() -> None:
    assert words.label("DocumentNumber") == "Document number"
    assert words.label("last_ip") == "Last IP"
    assert words.label("phone1") == "Phone"
    assert words.words("student.grading_basis") == "Student: grading basis"
    assert words.role("lms_user") == "LMS user"
    assert words.personnummer("198112189876") == "19811218-9876"
    assert words.listed(["e-mail", "phone", "e-mail"], "or") == "e-mail or phone"
    assert words.country("se") == "Sweden (SE)" and words.country("US") == "US"
    assert words.people(1) == "1 person" and words.people(2) == "2 people"
    assert words.as_text(b"\x01\x02") == "0102" and words.as_text(NOW) == NOW.isoformat()


def render(draw) -> list[str]:
    out = io.StringIO()
    draw(Console(file=out, width=80, soft_wrap=True))
    return out.getvalue().splitlines()


def test_record_names_print_whole_on_their_own_lines() -> None:
    name = "subjects/" + "a" * 32 + "/records/" + "b" * 32
    view = RecordView(name, "contact", "course_delivery", "contract", "lms", create_time=NOW)
    lines = render(lambda console: terminal.print_records(console, [view]))
    assert lines == [name, "  contact: for course delivery (contract), from lms, stored 2026-11-24"]
    assert render(lambda console: terminal.print_records(console, [])) == ["no records"]


def test_a_masked_record_says_its_fields_are_hidden() -> None:
    view = RecordView("r", "contact", "course_delivery", "contract", "salon", masked=True)
    lines = render(lambda console: terminal.print_records(console, [view]))
    assert lines[-1] == "  fields (hidden: protected identity)"


def test_connectors_list_their_holdings_legibly_at_80_columns() -> None:
    retention = "3 years after the course ended, then removed with the course archive"
    held = HeldCategory("account", "d", "p", "contract", retention, True, "")
    kept = HeldCategory("bookkeeping.invoices", "d", "p", "legal_obligation", "7 years", False, "")
    lms = ConnectorInfo("lms", "1.0", True, False, "timed out", "d", "SE", [held, kept])
    off = ConnectorInfo("crm", "0.1", False, False, "", "d", "", [])
    lines = render(lambda console: terminal.print_connectors(console, [lms, off], checked=True))
    assert lines[0] == "lms 1.0: enabled, hosted in SE; health FAILING (timed out)"
    assert all(len(line) <= 80 for line in lines)
    assert any(
        "bookkeeping.invoices" in line and "legal obligation, kept by law; 7 years" in line
        for line in lines
    )
    assert all(line == line.rstrip() for line in lines), "no padded lines through a pipe"
    assert "crm 0.1: installed, not enabled" in lines  # as serve says it
    assert render(lambda console: terminal.print_connector_check(console, lms)) == [
        "lms 1.0: FAILING (timed out)"
    ]


def test_a_manual_actions_instructions_wrap_at_80_columns_and_keep_their_words() -> None:
    from vault_client import ErasureItem, ErasureRequest, ErasureStep

    address = "https://www.facebook.com/profile.php?id=100000000000001"
    instructions = (
        "The person withdrew their consent for model_bank on 2026-12-04. facebook_group "
        "holds group_membership for that purpose. Its connector is not told of "
        f"withdrawals, so it is done by hand: open Members, search for {address}, "
        "choose Remove member. Then confirm this action in the vault."
    )
    name = "erasureRequests/" + "a" * 32 + "/manualActions/" + "b" * 16
    item = ErasureItem(
        "manual_action", "group_membership", "membership", "", None, name, instructions
    )
    request = ErasureRequest(
        "erasureRequests/" + "a" * 32,
        "subjects/" + "c" * 32,
        "awaiting_manual_action",
        NOW,
        NOW,
        [ErasureStep("facebook_group", "succeeded", 1, "", [item])],
        scope="purpose",
        purpose="model_bank",
    )
    out = io.StringIO()
    terminal.print_request(Console(file=out, width=80), request)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines if address not in line and name not in line), lines
    # The address whole on one line, never broken at a hyphen or a slash.
    assert any(address in line for line in lines)
    assert " ".join(" ".join(lines).split()).count(" ".join(instructions.split())) == 1


def test_a_step_done_with_nothing_to_report_says_nothing_was_held() -> None:
    from vault_client import ErasureRequest, ErasureStep

    request = ErasureRequest(
        "erasureRequests/" + "a" * 32,
        "subjects/" + "c" * 32,
        "completed",
        NOW,
        NOW,
        [ErasureStep("vault", "succeeded", 1, "", [])],
        scope="purpose",
        purpose="marketing_post",
    )
    out = io.StringIO()
    terminal.print_request(Console(file=out, width=80), request)
    assert "nothing was held there for this request" in out.getvalue()
