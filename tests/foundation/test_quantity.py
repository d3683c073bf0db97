"""generator.quantity against the Kubernetes client's parse_quantity (the reference for valid quantities)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kubernetes.utils import parse_quantity as client_parse

from generator.quantity import parse_quantity

SUFFIXES = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "e3", "E-2", "e+1"]
NUMBERS = st.from_regex(r"[+-]?([0-9]{1,12}(\.[0-9]{0,6})?|\.[0-9]{1,6})", fullmatch=True)


@given(NUMBERS, st.sampled_from(SUFFIXES))
def test_every_valid_quantity_has_the_clients_value(number: str, suffix: str) -> None:
    assert parse_quantity(number + suffix) == client_parse(number + suffix)


@pytest.mark.parametrize(
    ("text", "value"), [("250m", "0.25"), ("1.5Gi", "1610612736"), ("2e3", "2000"), ("1k", "1000")]
)
def test_known_values(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


# apimachinery refuses these (the client's parser lets some through: NaN, 1_000, spaces, K)
@pytest.mark.parametrize(
    "text", ["NaN", "Infinity", "1_000", " 1", "1 ", "1K", "1ki", "1Ki5", "", "e3", "1e", "m", "1.2.3"]
)
def test_what_kubernetes_refuses_is_refused_with_the_text(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)
