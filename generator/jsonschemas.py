"""JSON Schema validation with the regular-expression semantics every other reader of our schemas uses.

Python's `re.search` lets `$` match before a trailing newline, so `^[a-z0-9]+$` accepts "alice\\n".
ECMA-262 (what JSON Schema specifies) and Go's regexp (Helm, the Kubernetes API server) match `$` at
the very end only. `Draft202012` validates `pattern` that way, so a value our check accepts is one
that Helm, the API server and the schema's other readers accept too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import jsonschema
from jsonschema import ValidationError


@lru_cache(maxsize=512)
def end_anchored(pattern: str) -> re.Pattern[str]:
    """`pattern` with every `$` outside a character class and not escaped meaning end of input (`\\Z`)."""
    out, escaped, in_class = [], False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[":
            in_class = True
        elif char == "]":
            in_class = False
        elif char == "$" and not in_class:
            char = r"\Z"
        out.append(char)
    return re.compile("".join(out))


def _pattern(validator: Any, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not end_anchored(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


Draft202012 = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"pattern": _pattern})
