"""Identity canonical forms: every common written form finds the same person."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core.errors import InvalidArgument
from vault.core.identities import IdentityKind, canonical_identity

TODAY = dt.date(2026, 11, 24)


def canon(kind: IdentityKind, value: str, system: str = "") -> str:
    return canonical_identity(kind, value, system, today=TODAY, field="identity").value


@pytest.mark.parametrize("written", ["Anna@Example.SE", "anna@example.se", "  ANNA@EXAMPLE.SE "])
def test_email_in_any_letter_case_is_one_identity(written: str) -> None:
    assert canon(IdentityKind.EMAIL, written) == "anna@example.se"


@pytest.mark.parametrize(
    "written", ["070-123 45 67", "0701234567", "+46 70 123 45 67", "+46701234567"]
)
def test_swedish_phone_numbers_read_as_e164(written: str) -> None:
    assert canon(IdentityKind.PHONE, written) == "+46701234567"


@pytest.mark.parametrize(
    ("kind", "value", "system", "field"),
    [
        (IdentityKind.EMAIL, "not-an-email", "", "identity.value"),
        (IdentityKind.EMAIL, "", "", "identity.value"),
        (IdentityKind.EMAIL, "a@b.se\x00", "", "identity.value"),
        (IdentityKind.EMAIL, "x" * 300 + "@example.se", "", "identity.value"),
        (IdentityKind.PHONE, "hello", "", "identity.value"),
        (IdentityKind.PHONE, "12", "", "identity.value"),
        (IdentityKind.PERSONNUMMER, "811218-9877", "", "identity.value"),
        (IdentityKind.EXTERNAL_ID, "1001", "", "identity.system"),
        (IdentityKind.EXTERNAL_ID, "1001", "LMS!", "identity.system"),
        (IdentityKind.EMAIL, "a@example.se", "lms", "identity.system"),
    ],
)
def test_bad_identities_name_the_field(
    kind: IdentityKind, value: str, system: str, field: str
) -> None:
    with pytest.raises(InvalidArgument) as raised:
        canonical_identity(kind, value, system, today=TODAY, field="identity")
    assert raised.value.field == field


def test_external_ids_keep_their_case_and_system() -> None:
    identity = canonical_identity(
        IdentityKind.EXTERNAL_ID, " AbC-1 ", "lms", today=TODAY, field="i"
    )
    assert (identity.value, identity.system) == ("AbC-1", "lms")


@given(st.sampled_from(list(IdentityKind)), st.text(max_size=60), st.text(max_size=10))
def test_any_input_is_either_canonical_or_a_precise_error(
    kind: IdentityKind, value: str, system: str
) -> None:
    try:
        identity = canonical_identity(kind, value, system, today=TODAY, field="identity")
    except InvalidArgument as error:
        assert error.field.startswith("identity.")
        return
    again = canonical_identity(kind, identity.value, identity.system, today=TODAY, field="identity")
    assert again == identity  # canonical forms are fixed points
