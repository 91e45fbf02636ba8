"""Page tokens: one format, bound to the query they were made for, never a server error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vault.core import paging
from vault.core.errors import InvalidArgument

QUERY = {"list": "records", "subject": "s1", "category": ""}


def test_a_token_continues_after_the_key_it_was_made_with() -> None:
    token = paging.token(QUERY, [41])
    assert paging.read(token, QUERY, (int,)) == [41]
    assert paging.read("", QUERY, (int,)) is None


def test_a_token_of_another_query_or_shape_is_refused() -> None:
    token = paging.token(QUERY, [41])
    for query, shape in (
        ({**QUERY, "category": "contact"}, (int,)),
        (QUERY, (str,)),
        (QUERY, (int, int)),
    ):
        with pytest.raises(InvalidArgument) as refused:
            paging.read(token, query, shape)
        assert refused.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        paging.read(paging.token(QUERY, [True]), QUERY, (int,))  # a bool is no position
    with pytest.raises(InvalidArgument):
        paging.read(paging.token(QUERY, [2**63]), QUERY, (int,))


@given(st.text(max_size=200))
def test_any_text_is_a_token_or_invalid_argument(value: str) -> None:
    try:
        paging.read(value, QUERY, (int,))
    except InvalidArgument as error:
        assert error.field == "page_token"
