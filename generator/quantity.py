"""Kubernetes resource quantities (`250m`, `1.5Gi`, `2e3`) as exact Decimals.

The grammar is apimachinery's (pkg/api/resource/quantity.go): a signed decimal number, then a binary
suffix (Ki … Ei), a decimal one (n u m k M G T P E) or an exponent (e3, E-2). It lives here rather than
coming from the Kubernetes client so that parsing a spec does not import the whole client (about a
second per command); tests compare it with the client's `parse_quantity`.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?")
_DECIMAL_POWERS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_POWERS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(value: str | int | float | Decimal) -> Decimal:
    """The quantity's value; ValueError when it is not a Kubernetes quantity."""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return Decimal(value)
    match = _QUANTITY.fullmatch(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 250m, 1.5, 512Mi, 2Gi)")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    try:
        if suffix in _BINARY_POWERS:
            return number * 2 ** _BINARY_POWERS[suffix]
        if suffix in _DECIMAL_POWERS:
            return number.scaleb(_DECIMAL_POWERS[suffix])
        return number.scaleb(int(suffix[1:]))
    except (InvalidOperation, OverflowError):
        raise ValueError(f"{value!r} is out of range for a Kubernetes quantity") from None
