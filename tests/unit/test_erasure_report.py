"""The erasure report the CLI prints is legible in an 80-column terminal."""

from __future__ import annotations

import datetime as dt
import io

from rich.console import Console

from vault.reports import terminal
from vault_client.types import ErasureItem, ErasureRequest, ErasureStep

REASON = (
    "Bokföringslagen (1999:1078) 7 kap. 2 §: kept to the end of the 7th year "
    "after the financial year closed"
)
ACTION = "erasureRequests/82f85c8586d9aca899c70b1c6aacbd84/manualActions/0123456789abcdef"


def render(request: ErasureRequest) -> str:
    out = io.StringIO()
    terminal.print_request(Console(file=out, width=80, soft_wrap=True), request)
    return out.getvalue()


def test_every_outcome_reads_whole_at_80_columns() -> None:
    now = dt.datetime(2026, 11, 24, 21, 32, tzinfo=dt.UTC)
    request = ErasureRequest(
        name="erasureRequests/82f85c8586d9aca899c70b1c6aacbd84",
        subject="subjects/921024ac8447521c9f162f4207684757",
        state="partially_completed",
        create_time=now,
        deadline_time=now + dt.timedelta(days=30),
        steps=[
            ErasureStep(
                "accounting",
                "succeeded",
                1,
                "",
                [
                    ErasureItem("removed", "contact", "customer master data anonymised"),
                    ErasureItem(
                        "retained",
                        "bookkeeping.invoices",
                        "invoices: 1",
                        REASON,
                        dt.date(2032, 12, 31),
                    ),
                ],
            ),
            ErasureStep(
                "facebook_group",
                "succeeded",
                1,
                "",
                [
                    ErasureItem(
                        "manual_action",
                        "membership",
                        "remove from the group",
                        manual_action=ACTION,
                        instructions="Open the group's member list and remove Eva Ek.",
                    )
                ],
            ),
            ErasureStep(
                "salon", "needs_attention", 8, "gave up after 8 attempts; database unreachable", []
            ),
        ],
    )
    text = render(request)
    lines = text.splitlines()
    # The request's name and its subject's, each whole on a line of its own.
    assert lines[:2] == [request.name, request.subject]
    # Names are printed whole (they are copied); the report around them fits.
    items = [line for line in lines if line.startswith("  ")]
    assert items and max(len(line) for line in items) <= 80
    flowing = " ".join(text.split())
    # In words: "kept through" its last day, "needs attention", not codes.
    assert f"kept through 2032-12-31: {REASON}" in flowing
    assert "bookkeeping.invoices: invoices: 1" in flowing
    assert "removed contact: customer master data anonymised" in flowing
    assert "salon: needs attention (8 attempts) gave up after 8 attempts" in flowing
    # The manual action's name is what the admin types: never broken across lines.
    assert any(line.endswith(ACTION) for line in lines)
    assert f"consent-vault requests confirm {ACTION} --by YOUR-NAME" in text


def test_no_line_ends_in_padding_and_states_read_alike() -> None:
    now = dt.datetime(2026, 11, 24, 21, 32, tzinfo=dt.UTC)
    waiting = ErasureItem(
        "manual_action",
        "membership",
        "remove from the group",
        manual_action=ACTION,
        instructions="Open the group's member list and remove Eva Ek.",
    )
    request = ErasureRequest(
        name="erasureRequests/82f85c8586d9aca899c70b1c6aacbd84",
        subject="subjects/921024ac8447521c9f162f4207684757",
        state="awaiting_manual_action",
        create_time=now,
        deadline_time=now + dt.timedelta(days=30),
        steps=[
            ErasureStep("facebook_group", "succeeded", 1, "", [waiting]),
            ErasureStep("salon", "succeeded", 1, "", [ErasureItem("removed", "contact", "x")]),
            ErasureStep("lms", "retrying", 1, "timed out", []),
        ],
    )
    text = render(request)
    lines = text.splitlines()
    assert [line for line in lines if line != line.rstrip()] == []
    assert "state: awaiting manual action" in lines
    assert "facebook_group: done, waiting for a manual action" in lines
    assert "salon: done" in lines and "lms: failed, will be retried" in lines
    assert "(1 attempt)" in text
    # The manual action's name on a line of its own, as the README promises.
    assert ACTION in lines
    # The live table during an erasure says the same.
    table = io.StringIO()
    Console(file=table, width=120).print(terminal.steps_table(request))
    assert "done, waiting for a manual action" in table.getvalue()
    assert "awaiting manual action" in table.getvalue()
