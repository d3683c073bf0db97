"""Source-level rewrites that give cel-expr-python (cel-cpp) the behaviour of Kyverno's cel-go environment.

Kyverno compiles policies with cel-go plus options cel-cpp lacks or cannot take from Python (no custom
macros, no extra overloads for names a built-in extension owns). Each gap is closed by rewriting the
expression text, token by token, into plain CEL that cel-cpp evaluates the same way:

- `x.orValue(y)` on a value that is not optional returns `x` (Kyverno's `__orValueCompat__` macro);
- `x.?f` / `x[?k]` on a null `x` is an absent optional (cel-go), not a no-overload error (cel-cpp);
- `m.transformMap(k, v, [filter,] e)` / `transformMapEntry` (cel-cpp declares them but has no runtime
  for the map insert they expand to) become `transformList` plus a map builder;
- lists `indexOf(x)` / `lastIndexOf(x)` (Kubernetes' lists library; the name is owned by the strings
  extension in cel-cpp) dispatch on the receiver's runtime type;
- list and map literals mixing literal types are refused as cel-go's homogeneous-aggregate check does;
- `cel.bind` (written or generated) becomes an eager one-element `map`, working around a cel-cpp
  slot bug (see `bind`).

Rewrites work on tokens (string literals are never touched) and find a call's receiver the way the
grammar binds it: the longest chain of selections, indexes and calls ending right before the `.`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

# Longest alternatives first: triple-quoted before single-quoted, prefixed strings before identifiers.
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<str>(?:[rR][bB]?|[bB][rR]?)?
        (?:'''(?:\\.|[^\\])*?'''|\"\"\"(?:\\.|[^\\])*?\"\"\"|'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"))
  | (?P<num>0[xX][0-9a-fA-F]+[uU]?
        |\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+
        |\d+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>==|!=|<=|>=|&&|\|\||[-+*/%!<>?:.,()\[\]{}])
  | (?P<bad>.)
    """,
    re.VERBOSE | re.DOTALL,
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_KEYWORD_VALUES = {"true": "bool", "false": "bool", "null": "null"}
PREFIX = "stratops_"


class RewriteError(Exception):
    """The expression is refused (a check cel-go makes and cel-cpp does not)."""


class Tok(NamedTuple):
    kind: str  # ws, str, num, ident, punct, bad
    text: str


def tokenize(text: str) -> list[Tok]:
    return [Tok(m.lastgroup or "bad", m.group()) for m in _TOKEN.finditer(text)]


def _join(tokens: list[Tok]) -> str:
    return "".join(t.text for t in tokens)


def _prev(tokens: list[Tok], i: int) -> int:
    """Index of the last non-space token before i, or -1."""
    i -= 1
    while i >= 0 and tokens[i].kind == "ws":
        i -= 1
    return i


def _next(tokens: list[Tok], i: int) -> int:
    i += 1
    while i < len(tokens) and tokens[i].kind == "ws":
        i += 1
    return i


def _match_close(tokens: list[Tok], i: int) -> int:
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j]
        if t.kind == "punct" and t.text in _OPEN:
            depth += 1
        elif t.kind == "punct" and t.text in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    raise RewriteError("unbalanced brackets")


def _match_open(tokens: list[Tok], i: int) -> int:
    depth = 0
    for j in range(i, -1, -1):
        t = tokens[j]
        if t.kind == "punct" and t.text in _CLOSE:
            depth += 1
        elif t.kind == "punct" and t.text in _OPEN:
            depth -= 1
            if depth == 0:
                return j
    raise RewriteError("unbalanced brackets")


def _ends_value(t: Tok) -> bool:
    return t.kind in ("ident", "str", "num") or (t.kind == "punct" and t.text in _CLOSE)


def receiver_start(tokens: list[Tok], dot: int) -> int:
    """First token of the receiver of the member access whose `.` is at `dot`."""
    j = _prev(tokens, dot)
    start = j
    while j >= 0:
        t = tokens[j]
        if t.kind == "punct" and t.text in _CLOSE:
            opened = _match_open(tokens, j)
            start = opened
            p = _prev(tokens, opened)
            if p >= 0 and _ends_value(tokens[p]) and (t.text != "}" or tokens[p].kind == "ident"):
                # index, call or message construction: the receiver goes on to the left
                j = p
                if t.text == ")" and tokens[p].kind != "ident":
                    break  # "(a)(b)" cannot occur in CEL; be safe
                continue
            break
        start = j
        if t.kind != "ident":
            break
        p = _prev(tokens, j)
        if p >= 0 and tokens[p].text == "?":  # optional selection ".?name"
            p = _prev(tokens, p)
        if p >= 0 and tokens[p].text == "." and _prev(tokens, p) >= 0:
            j = _prev(tokens, p)
            continue
        break
    return start


def _split_args(tokens: list[Tok]) -> list[list[Tok]]:
    args: list[list[Tok]] = [[]]
    depth = 0
    for t in tokens:
        if t.kind == "punct" and t.text in _OPEN:
            depth += 1
        elif t.kind == "punct" and t.text in _CLOSE:
            depth -= 1
        if depth == 0 and t.kind == "punct" and t.text == ",":
            args.append([])
        else:
            args[-1].append(t)
    return [a for a in args if _join(a).strip()] if len(args) > 1 or _join(args[0]).strip() else []


class _Rewriter:
    def __init__(self) -> None:
        self.counter = 0

    def fresh(self, what: str) -> str:
        self.counter += 1
        return f"{PREFIX}{what}{self.counter}"

    def member_calls(self, tokens: list[Tok], name: str, nargs: set[int]) -> tuple[int, int, int, int] | None:
        """First `.name(` call (dot index, receiver start, open paren, close paren) not made by us."""
        for i, t in enumerate(tokens):
            if t.kind != "ident" or t.text != name:
                continue
            dot, paren = _prev(tokens, i), _next(tokens, i)
            if dot < 0 or tokens[dot].text != "." or paren >= len(tokens) or tokens[paren].text != "(":
                continue
            close = _match_close(tokens, paren)
            if len(_split_args(tokens[paren + 1 : close])) not in nargs:
                continue
            start = receiver_start(tokens, dot)
            receiver = _join(tokens[start:dot]).strip()
            if receiver.startswith((PREFIX, f"dyn({PREFIX}")):
                continue
            return dot, start, paren, close
        return None

    def rewrite_calls(self, text: str, name: str, nargs: set[int], build) -> str:
        while True:
            tokens = tokenize(text)
            found = self.member_calls(tokens, name, nargs)
            if found is None:
                return text
            dot, start, paren, close = found
            receiver = _join(tokens[start:dot])
            args = [_join(a).strip() for a in _split_args(tokens[paren + 1 : close])]
            text = _join(tokens[:start]) + build(receiver, args) + _join(tokens[close + 1 :])


def _or_value(rw: _Rewriter):
    def build(receiver: str, args: list[str]) -> str:
        v = rw.fresh("ov")
        return f"cel.bind({v}, {receiver}, type({v}) == optional_type ? dyn({v}).orValue({args[0]}) : dyn({v}))"

    return build


def _index_of(rw: _Rewriter, last: bool):
    name = "lastIndexOf" if last else "indexOf"

    def build(receiver: str, args: list[str]) -> str:
        r, a, found = rw.fresh("r"), rw.fresh("a"), rw.fresh("i")
        pick = f"{found}[size({found}) - 1]" if last else f"{found}[0]"
        in_list = (
            f"cel.bind({found}, lists.range(size({r})).filter({PREFIX}j, dyn({r})[{PREFIX}j] == {a}), "
            f"size({found}) == 0 ? -1 : {pick})"
        )
        other = f"dyn({r}).{name}(dyn({a}))"  # strings' indexOf
        return f"cel.bind({r}, {receiver}, cel.bind({a}, {args[0]}, type({r}) == list ? {in_list} : {other}))"

    return build


def _transform_map(rw: _Rewriter, entry: bool):
    def build(receiver: str, args: list[str]) -> str:
        k, v, *rest = args
        *flt, expr = rest
        body = expr if entry else f"[{k}, {expr}]"
        builder = f"{PREFIX}mergeEntries" if entry else f"{PREFIX}pairsToMap"
        return f"{builder}({receiver}.transformList({', '.join([k, v, *flt, body])}))"

    return build


def _null_safe_optional(text: str, rw: _Rewriter) -> str:
    """Guard every optional step: on a null receiver, or an optional holding null, cel-go gives an
    absent optional (a presence test on a non-container), where cel-cpp has no overload."""
    while True:
        tokens = tokenize(text)
        for i, t in enumerate(tokens):
            if t.text != "?":
                continue
            p = _prev(tokens, i)
            if p < 0 or tokens[p].text not in (".", "["):
                continue
            opener = p
            before = _prev(tokens, opener)
            if tokens[opener].text == "[" and (before < 0 or not _ends_value(tokens[before])):
                continue  # "[?" at the start of a list literal is an optional element, not an index
            start = receiver_start(tokens, opener)
            receiver = _join(tokens[start:opener])
            if receiver.strip().startswith(PREFIX):
                continue  # a step we already guarded
            end = _next(tokens, i) if tokens[opener].text == "." else _match_close(tokens, opener)
            step = _join(tokens[opener : end + 1])
            n = rw.fresh("n")
            holds_null = (
                f"type({n}) == null_type || (type({n}) == optional_type && dyn({n}).hasValue() "
                f"&& type(dyn({n}).value()) == null_type)"
            )
            text = (
                _join(tokens[:start])
                + f"cel.bind({n}, {receiver}, {holds_null} ? optional.none() : {n}{step})"
                + _join(tokens[end + 1 :])
            )
            break
        else:
            return text


def _index_receiver(tokens: list[Tok], bracket: int) -> int:
    """Receiver start of an index `x[...]`: as for a member access, the chain ending before `[`."""
    return receiver_start(tokens, bracket)


_LITERAL_TYPES = {"str": "string", "num": "number"}


def _literal_type(tokens: list[Tok]) -> str | None:
    toks = [t for t in tokens if t.kind != "ws"]
    if toks and toks[0].text == "-" and len(toks) == 2 and toks[1].kind == "num":
        toks = toks[1:]
    if len(toks) >= 2 and toks[0].text in ("[", "{") and _match_close(toks, 0) == len(toks) - 1:
        return "list" if toks[0].text == "[" else "map"
    if len(toks) != 1:
        return None
    t = toks[0]
    if t.kind == "str":
        return "bytes" if re.match(r"^[rR]?[bB]", t.text) else "string"
    if t.kind == "num":
        if t.text[-1] in "uU":
            return "uint"
        return "double" if re.search(r"[.eE]", t.text) and not t.text.lower().startswith("0x") else "int"
    if t.kind == "ident" and t.text in _KEYWORD_VALUES:
        return _KEYWORD_VALUES[t.text]
    return None


def check_homogeneous_literals(text: str) -> None:
    """Refuse `[1, 'a']` or `{'a': 1, 'b': 'x'}` as cel-go's HomogeneousAggregateLiterals does.

    Only elements that are literals are compared (an element of another static type, such as a
    function result, is not seen here); `dyn(x)` elements and object fields are dynamic and allowed.
    """
    tokens = tokenize(text)
    for i, t in enumerate(tokens):
        if t.kind != "punct" or t.text not in ("[", "{"):
            continue
        p = _prev(tokens, i)
        if p >= 0 and (_ends_value(tokens[p]) and not (tokens[p].kind == "ident" and tokens[p].text in ("in",))):
            continue  # an index, or a message construction
        close = _match_close(tokens, i)
        parts = _split_args(tokens[i + 1 : close])
        groups: list[list[list[Tok]]] = [parts]
        if t.text == "{":
            keys, values = [], []
            for part in parts:
                colon = _top_level_colon(part)
                if colon is None:
                    break
                keys.append(part[:colon])
                values.append(part[colon + 1 :])
            groups = [keys, values]
        for group in groups:
            seen: str | None = None
            for elem in group:
                kind = _literal_type([x for x in elem if x.text != "?"])
                if kind is None:
                    continue
                if seen is None:
                    seen = kind
                elif kind != seen:
                    raise RewriteError(
                        f"type '{kind}' does not match previous type '{seen}' in aggregate. "
                        "Use 'dyn(x)' to make the aggregate dynamic."
                    )


def _top_level_colon(part: list[Tok]) -> int | None:
    depth = 0
    for j, t in enumerate(part):
        if t.kind == "punct" and t.text in _OPEN:
            depth += 1
        elif t.kind == "punct" and t.text in _CLOSE:
            depth -= 1
        elif depth == 0 and t.text == ":":
            return j
    return None


def _rename_calls(text: str, qualified: tuple[str, ...], nargs: int, new: str) -> str:
    """`math.round(a, b)` -> `stratops_mathRound(a, b)`: an overload cel-cpp's math extension owns the name of."""
    tokens = tokenize(text)
    out = list(tokens)
    n = len(qualified) * 2 - 1
    for i in range(len(tokens)):
        if tokens[i].kind == "ws":
            continue
        seq = [j for j in range(i, len(tokens)) if tokens[j].kind != "ws"][: n + 1]
        if len(seq) < n + 1 or [tokens[j].text for j in seq[:n]] != list(_interleave(qualified)):
            continue
        if tokens[seq[n]].text != "(" or (_prev(tokens, i) >= 0 and tokens[_prev(tokens, i)].text == "."):
            continue
        close = _match_close(tokens, seq[n])
        if len(_split_args(tokens[seq[n] + 1 : close])) != nargs:
            continue
        out[i] = Tok("ident", new)
        for j in range(i + 1, seq[n]):
            out[j] = Tok("ws", "")
    return _join(out)


def _rename_member(text: str, name: str, nargs: int, new: str) -> str:
    """`m.exists_one(k, v, p)` -> `m.existsOne(k, v, p)`: cel-go accepts both spellings of the
    two-variable macro, cel-cpp only the second."""
    tokens = tokenize(text)
    for i, t in enumerate(tokens):
        if t.kind != "ident" or t.text != name:
            continue
        dot, paren = _prev(tokens, i), _next(tokens, i)
        if dot < 0 or tokens[dot].text != "." or paren >= len(tokens) or tokens[paren].text != "(":
            continue
        if len(_split_args(tokens[paren + 1 : _match_close(tokens, paren)])) == nargs:
            tokens[i] = Tok("ident", new)
    return _join(tokens)


def _interleave(parts: tuple[str, ...]) -> Iterator[str]:
    for k, part in enumerate(parts):
        if k:
            yield "."
        yield part


def bind(name: str, init: str, body: str) -> str:
    """`cel.bind(name, init, body)` in a form cel-cpp evaluates correctly: its cel.bind caches the
    bound value in a slot that a comprehension left early (all/exists short-circuiting) does not
    reset, so a later bind can read a stale value (`l.all(c, cel.bind(z, c, false)) ||
    cel.bind(q, x, q.f)` binds q to an element of l). A one-element map binds eagerly, as cel-go's
    cel.bind does."""
    return f"[{init}].map({name}, {body})[0]"


def _eager_binds(text: str) -> str:
    while True:
        tokens = tokenize(text)
        for i, t in enumerate(tokens):
            if t.kind != "ident" or t.text != "bind":
                continue
            dot, paren = _prev(tokens, i), _next(tokens, i)
            if dot < 0 or tokens[dot].text != "." or paren >= len(tokens) or tokens[paren].text != "(":
                continue
            root = _prev(tokens, dot)
            if (
                root < 0
                or tokens[root].text != "cel"
                or (_prev(tokens, root) >= 0 and tokens[_prev(tokens, root)].text == ".")
            ):
                continue
            close = _match_close(tokens, paren)
            args = _split_args(tokens[paren + 1 : close])
            if len(args) != 3:
                continue
            name, init, body = (_join(a).strip() for a in args)
            text = _join(tokens[:root]) + bind(name, init, body) + _join(tokens[close + 1 :])
            break
        else:
            return text


@lru_cache(maxsize=4096)
def rewrite(text: str) -> str:
    """The expression with every Kyverno-compat rewrite applied (unchanged when none applies)."""
    if any(t.kind == "bad" for t in tokenize(text)):
        return text  # let the compiler report the syntax error at its position
    check_homogeneous_literals(text)
    rw = _Rewriter()
    if "orValue" in text:
        text = rw.rewrite_calls(text, "orValue", {1}, _or_value(rw))
    if "?" in text:
        text = _null_safe_optional(text, rw)
    if "transformMap" in text:
        text = rw.rewrite_calls(text, "transformMapEntry", {3, 4}, _transform_map(rw, entry=True))
        text = rw.rewrite_calls(text, "transformMap", {3, 4}, _transform_map(rw, entry=False))
    if "exists_one" in text:
        text = _rename_member(text, "exists_one", 3, "existsOne")
    if "math" in text:
        text = _rename_calls(text, ("math", "round"), 2, f"{PREFIX}mathRound")
    if "ndexOf" in text:
        text = rw.rewrite_calls(text, "indexOf", {1}, _index_of(rw, last=False))
        text = rw.rewrite_calls(text, "lastIndexOf", {1}, _index_of(rw, last=True))
    if "bind" in text:
        text = _eager_binds(text)
    return text
