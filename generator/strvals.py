"""Helm's `--set` parser (helm.sh/helm/v4 pkg/strvals, parser.go), as helm-controller applies it to a
`valuesFrom` entry with a `targetPath`.

`key.path[0]=value,other=value`: dots nest, `[n]` indexes a list, `\\` escapes the next character (in
keys and values) and is dropped, an unescaped `,` starts the next `key=value`, a value starting with `{`
is a list `{a,b}`. Typed parsing turns `true`/`false`/`null` (any case), `0` and decimal integers without
a leading zero into booleans, null and int64; string parsing keeps text.
"""

from __future__ import annotations

import re
from typing import Any

MAX_INDEX = 65536
MAX_NESTED_NAME_LEVEL = 30
_EOF = ""
_INT64 = re.compile(r"[-+]?[0-9]+")


class StrvalsError(ValueError):
    """The text is not valid `--set` syntax (the message is Helm's)."""


class _EndOfInput(Exception):
    """Go's io.EOF: the end of the text, which ends parsing without an error."""


class _NotList(Exception):
    """The value does not start with `{`."""


def parse_into(text: str, dest: dict[str, Any], strings: bool = False) -> None:
    """strvals.ParseInto (typed values) or, with `strings`, strvals.ParseIntoString."""
    parser = _Parser(text, strings)
    while True:
        try:
            parser.key(dest, 0)
        except _EndOfInput:
            return


def typed_value(text: str, strings: bool) -> Any:
    if strings:
        return text
    lower = text.lower()
    if lower in ("true", "false"):
        return lower == "true"
    if lower == "null":
        return None
    if text == "0":
        return 0
    if text and text[0] != "0" and _INT64.fullmatch(text) and -(2**63) <= int(text) < 2**63:
        return int(text)
    return text


class _Parser:
    def __init__(self, text: str, strings: bool):
        self.text, self.pos, self.strings = text, 0, strings

    def read(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        self.pos += 1
        return self.text[self.pos - 1]

    def runes_until(self, stop: str) -> tuple[str, str, bool]:
        """(text, the stop character, reached end of input); a backslash escapes the next character."""
        out = []
        while True:
            char = self.read()
            if char == _EOF:
                return "".join(out), _EOF, True
            if char in stop:
                return "".join(out), char, False
            if char == "\\":
                char = self.read()
                if char == _EOF:
                    return "".join(out), _EOF, True
            out.append(char)

    def key(self, data: dict[str, Any], level: int) -> None:
        key, last, eof = self.runes_until("=[,.")
        if eof:
            if not key:
                raise _EndOfInput
            raise StrvalsError(f"key {key!r} has no value")
        if last == "[":
            index = self.key_index()
            items = data.get(key, [])
            if not isinstance(items, list):
                raise StrvalsError(f"unable to parse key: {key!r} is not a list")
            try:
                _set(data, key, self.list_item(items, index, level))
            except _EndOfInput:
                _set(data, key, items)  # Go keeps the list as it was passed in
                raise
        elif last == "=":
            try:
                value = self.val_list()
            except _NotList:
                text, _, _ = self.runes_until(",")
                _set(data, key, typed_value(text, self.strings))
            except _EndOfInput:
                _set(data, key, "")
                raise
            else:
                _set(data, key, value)
        elif last == ",":
            _set(data, key, "")
            raise StrvalsError(f"key {key!r} has no value (cannot end with ,)")
        else:  # "."
            level += 1
            if level > MAX_NESTED_NAME_LEVEL:
                raise StrvalsError(
                    f"value name nested level is greater than maximum supported nested level of {MAX_NESTED_NAME_LEVEL}"
                )
            inner = data.get(key, {})
            if not isinstance(inner, dict):
                raise StrvalsError(f"unable to parse key: {key!r} is not a map")
            try:
                self.key(inner, level)
            except _EndOfInput:
                if inner:
                    _set(data, key, inner)
                raise
            if not inner:
                raise StrvalsError(f"key map {key!r} has no value")
            _set(data, key, inner)

    def key_index(self) -> int:
        text, _, eof = self.runes_until("]")
        if eof:
            raise _EndOfInput
        if not re.fullmatch(r"[-+]?[0-9]+", text):
            raise StrvalsError(f"error parsing index: strconv.Atoi: parsing {text!r}: invalid syntax")
        return int(text)

    def list_item(self, items: list[Any], index: int, level: int) -> list[Any]:
        """Set items[index] from what follows `[index]`; _EndOfInput leaves the caller's list as passed."""
        if index < 0:
            raise StrvalsError(f"negative {index} index not allowed")
        rest, last, eof = self.runes_until("[.=")
        if rest:
            raise StrvalsError(f"unexpected data at end of array index: {rest!r}")
        if eof:
            raise _EndOfInput
        if last == "=":
            try:
                value = self.val_list()
            except _NotList:
                text, _, _ = self.runes_until(",")
                value = typed_value(text, self.strings)
            except _EndOfInput:
                value = ""
            return _set_index(items, index, value)
        if last == "[":
            next_index = self.key_index()
            current = items[index] if len(items) > index and items[index] is not None else []
            if not isinstance(current, list):
                raise StrvalsError(f"unable to parse key: index {index} is not a list")
            return _set_index(items, index, self.list_item(current, next_index, level))
        if len(items) > index:
            if not isinstance(items[index], dict):
                items[index] = {}
            inner = items[index]
        else:
            inner = {}
        self.key(inner, level)
        return _set_index(items, index, inner)

    def val_list(self) -> list[Any]:
        char = self.read()
        if char == _EOF:
            raise _EndOfInput
        if char != "{":
            self.pos -= 1
            raise _NotList
        values = []
        while True:
            text, last, eof = self.runes_until(",}")
            if eof:
                raise StrvalsError("list must terminate with '}'")
            values.append(typed_value(text, self.strings))
            if last == "}":
                if self.read() not in (",", _EOF):
                    self.pos -= 1
                return values


def _set(data: dict[str, Any], key: str, value: Any) -> None:
    if key:
        data[key] = value


def _set_index(items: list[Any], index: int, value: Any) -> list[Any]:
    if index < 0:
        raise StrvalsError(f"negative {index} index not allowed")
    if index > MAX_INDEX:
        raise StrvalsError(f"index of {index} is greater than maximum supported index of {MAX_INDEX}")
    if len(items) <= index:  # Go copies into a longer slice; a shorter one is changed in place
        items = items + [None] * (index + 1 - len(items))
    items[index] = value
    return items
