"""What the CLI says is in words: counts, options instead of API fields,
content sizes, the export's notes and the kinds of identity searched by."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from vault import cli
from vault.cli import parser
from vault.reports import terminal, words
from vault_client import Content, ExportSummary


@pytest.mark.parametrize(
    ("number", "thing", "said"),
    [
        (1, "entry", "1 entry"),
        (2, "entry", "2 entries"),
        (1, "identity", "1 identity"),
        (0, "identity", "0 identities"),
        (1, "row", "1 row"),
        (3, "row", "3 rows"),
        (2, "day", "2 days"),
    ],
)
def test_counts_are_singular_for_one(number: int, thing: str, said: str) -> None:
    assert words.count(number, thing) == said


@pytest.mark.parametrize(
    ("argv", "field", "option"),
    [
        (
            ["requests", "confirm", "erasureRequests/x/manualActions/y", "--by", "a"],
            "confirmed_by",
            "--by",
        ),
        (
            ["requests", "decide", "erasureRequests/x", "crm", "same-person", "--by", "a"],
            "decided_by",
            "--by",
        ),
        (
            [
                "record",
                "put",
                "subjects/0",
                "--category",
                "c",
                "--purpose",
                "p",
                "--basis",
                "contract",
                "--source",
                "s",
            ],
            "record.legal_basis",
            "--basis",
        ),
        (["subject", "show", "nonsense"], "name", "NAME"),
    ],
)
def test_errors_name_the_option_not_the_field(argv: list[str], field: str, option: str) -> None:
    args = parser._parser().parse_args(argv)
    assert cli._option_for(field, args) == option


def test_an_identity_error_names_the_option_that_gave_it() -> None:
    args = parser._parser().parse_args(
        ["subject", "create", "--pnr", "811218-9876", "--email", "a@b.se", "--phone", "070"]
    )
    cli._identities(args)
    assert cli._option_for("identities[1].value", args) == "--email"
    assert cli._option_for("identities[2].value", args) == "--phone"
    args = parser._parser().parse_args(["subject", "find", "--phone", "070"])
    cli._identities(args)
    assert cli._option_for("identity.value", args) == "--phone"


def test_a_writes_answer_reports_its_size_without_its_bytes() -> None:
    answer = Content(b"", "image/png", "photo.png", size=8_000_000, sha256="ab" * 32)
    assert cli._plain(answer)["size"] == 8_000_000


def test_the_export_summary_prints_each_systems_notes(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr(
            "export.json",
            json.dumps({"systems": {"salon": {"notes": ["the phone number differs"]}}}),
        )
    text = io.StringIO()
    summary = ExportSummary(
        1, 1234, {"vault": "done", "salon": "done", "lms": "no match (searched by e-mail)"}
    )
    terminal.print_export_summary(Console(file=text, width=80), summary, archive)
    said = text.getvalue().splitlines()
    assert said[0] == f"1 vault record, 1,234 bytes written to {archive}"
    assert "  salon: done" in said and "    note: the phone number differs" in said
    assert "  lms: no match (searched by e-mail)" in said


def test_the_kinds_searched_by_are_in_words() -> None:
    from vault.v1 import vault_pb2 as pb
    from vault_client.client import _kinds_in_words

    assert _kinds_in_words([pb.IDENTITY_KIND_EMAIL]) == "e-mail"
    assert (
        _kinds_in_words([pb.IDENTITY_KIND_EMAIL, pb.IDENTITY_KIND_PERSONNUMMER])
        == "e-mail or personnummer"
    )


def test_an_error_line_colours_only_its_label(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(
        cli, "errors", Console(file=out, force_terminal=True, color_system="standard")
    )
    cli._fail("no server answers at 127.0.0.1:50051; start one")
    # The label red; the message, its address and port among it, as it is.
    assert out.getvalue().endswith(
        "error:\x1b[0m no server answers at 127.0.0.1:50051; start one\n"
    )
