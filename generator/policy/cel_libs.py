"""Kyverno's CEL libraries (kyverno/sdk extensions/cel/libs) on cel-expr-python.

Pure functions are implemented with well-kept libraries (hashlib, json, PyYAML, gzip,
`cryptography` for x509). Functions that reach a cluster or the network (`resource.*`,
`image.GetMetadata`) answer from the `context:` file of a `kyverno test` folder, as the
Kyverno CLI does; with no context they fail with an error naming the function, never a
silent default. `http.*` and `globalContext.Get` have no offline answer: they always fail.

Each name is declared in the spellings Kyverno accepts (`sha256` and `hash.sha256`,
`resource.Get` and `resource.get`, ...). Overloads use concrete types only (cel-expr-python
does not dispatch `dyn` parameters), so functions taking "any value" list one overload per
CEL value type.
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import gzip as gzip_module
import hashlib
import json
import math
import random as random_module
import re
import string
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from cel_expr_python import cel

T = cel.Type
STR, INT, DBL, BOOL, DYN, BYTES = T.STRING, T.INT, T.DOUBLE, T.BOOL, T.DYN, T.BYTES
LIST = T.List(DYN)
ANYMAP = T.Map(STR, DYN)
GVRKEY = "__k8s_gvr__"
# One overload per CEL value type stands in for a `dyn` parameter.
ANY_TYPES = {"map": ANYMAP, "list": LIST, "string": STR, "int": INT, "double": DBL, "bool": BOOL, "bytes": BYTES}


class OfflineError(RuntimeError):
    """Raised by functions that need a cluster or the network and have no offline answer."""


# ---------------------------------------------------------------- offline context (kyverno test `context:`)


@dataclass
class OfflineContext:
    """What `kyverno test` answers cluster/registry calls with: the test's Context file."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, dict[str, Any]] = field(default_factory=dict)
    # "METHOD:url" or "url" -> {"body": ..., "statusCode": ...} (the test's apiCallResponses)
    http: dict[str, Any] = field(default_factory=dict)
    # kind -> resource plural, from the CustomResourceDefinitions of clusterResources
    plurals: dict[str, str] = field(default_factory=dict)


_context: contextvars.ContextVar[OfflineContext | None] = contextvars.ContextVar("kyverno_context", default=None)


@contextmanager
def offline_context(ctx: OfflineContext | None) -> Iterator[None]:
    token = _context.set(ctx)
    try:
        yield
    finally:
        _context.reset(token)


def _need_context(function: str) -> OfflineContext:
    ctx = _context.get()
    if ctx is None:
        raise OfflineError(
            f"{function} is not available offline (needs a cluster or network access; "
            "in a kyverno test folder, give its answers in a context: file)"
        )
    return ctx


def _gvr_of(obj: dict[str, Any], ctx: OfflineContext) -> tuple[str, str]:
    from .match import plural  # late import: match imports nothing from here

    kind = str(obj.get("kind") or "")
    return str(obj.get("apiVersion") or ""), ctx.plurals.get(kind) or plural(kind)


def _resolve(api_version: Any, resource: Any) -> tuple[str, str]:
    if isinstance(api_version, dict) and GVRKEY in api_version:
        group, version, res = api_version["group"], api_version["version"], api_version["resource"]
        return (f"{group}/{version}" if group else version), res
    return str(api_version), str(resource)


def resource_get(api_version: Any, resource: str, namespace: str, name: str | None = None) -> dict[str, Any]:
    if name is None:  # the GVR form: (gvr, namespace, name)
        api_version, resource, namespace, name = api_version, "", resource, namespace
    av, res = _resolve(api_version, resource)
    ctx = _need_context("resource.Get")
    for obj in ctx.resources:
        meta = obj.get("metadata") or {}
        if _gvr_of(obj, ctx) == (av, res) and meta.get("name") == name and (meta.get("namespace") or "") == namespace:
            return obj
    group = av.rpartition("/")[0]
    raise LookupError(f'{res}{"." + group if group else ""} "{name}" not found')


def resource_list(api_version: Any, resource: Any, namespace: str | None = None, *_labels: Any) -> dict[str, Any]:
    if namespace is None or isinstance(namespace, dict):
        api_version, resource, namespace = api_version, "", resource
    av, res = _resolve(api_version, resource)
    ctx = _need_context("resource.List")
    items = [
        o
        for o in ctx.resources
        if _gvr_of(o) == (av, res) and ((o.get("metadata") or {}).get("namespace") or "") == namespace
    ]
    if not any(_gvr_of(o) == (av, res) for o in ctx.resources):
        raise LookupError(f"{res} resource not found")
    return {"apiVersion": av, "kind": "List", "items": items}


def image_metadata(ref: str) -> dict[str, Any]:
    ctx = _need_context("image.GetMetadata")
    if ref not in ctx.images:
        raise LookupError(f"image data for {ref} not found in the context")
    return ctx.images[ref]


def _http(method: str) -> Callable[..., Any]:
    name = f"http.{method.title()}"

    def call(url: str, *_rest: Any) -> Any:
        ctx = _context.get()
        mocks = ctx.http if ctx is not None else {}
        for key in (f"{method}:{url}", url):
            if key in mocks:
                return mocks[key]
        raise OfflineError(
            f"{name} is not available offline (needs network access; in a kyverno test folder, "
            f"mock {url} with apiCallResponses)"
        )

    return call


def to_gvr(api_version: str, resource: str) -> dict[str, str]:
    group, _, version = api_version.rpartition("/")
    return {GVRKEY: "1", "group": group, "version": version, "resource": resource}


def _offline(name: str) -> Callable[..., Any]:
    def impl(*_args: Any) -> Any:
        raise OfflineError(f"{name} is not available offline (needs a cluster or network access)")

    return impl


# ---------------------------------------------------------------- pure libraries


def parse_service_account(user: str) -> dict[str, str]:
    prefix = "system:serviceaccount:"
    namespace = name = ""
    if user.startswith(prefix) and ":" in user[len(prefix) :]:
        namespace, _, name = user[len(prefix) :].partition(":")
    return {"Namespace": namespace, "Name": name}  # Go field names: Kyverno registers the struct without tags


def _hash(algorithm: str) -> Callable[[str], str]:
    return lambda value: hashlib.new(algorithm, value.encode()).hexdigest()


def json_unmarshal(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"failed to unmarshal JSON: {exc}") from None


def json_marshal(value: Any) -> str:
    if isinstance(value, bytes):
        value = base64.b64encode(value).decode()  # Go's encoding/json writes []byte as base64
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def yaml_parse(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"failed to parse YAML: {exc}") from None


def math_round(value: float, digits: int) -> float:
    """Go's math.Round semantics (half away from zero) at `digits` decimals, as Kyverno rounds."""
    shift = math.pow(10, digits)
    scaled = value * shift
    if math.isinf(scaled) or math.isnan(scaled):
        return scaled / shift
    whole = math.trunc(scaled)
    if abs(scaled - whole) >= 0.5:  # exact in binary floating point, unlike adding 0.5
        whole += math.copysign(1.0, scaled)
    return whole / shift


_ALNUM = string.ascii_letters + string.digits


def random_default() -> str:
    """Kyverno's default pattern [0-9a-z]{8}."""
    return "".join(random_module.choice(string.digits + string.ascii_lowercase) for _ in range(8))


def random_pattern(pattern: str) -> str:
    """A string matching a simple regex of character classes and fixed counts ([a-z0-9]{8}-x)."""
    out = []
    for m in re.finditer(r"\[([^\]]+)\](?:\{(\d+)\})?|(.)", pattern):
        chars, count, literal = m.groups()
        if literal is not None:
            out.append(literal)
            continue
        pool = "".join(
            "".join(chr(c) for c in range(ord(a), ord(b) + 1)) if b else a
            for a, b in re.findall(r"(.)(?:-(.))?", chars)
        )
        out.extend(random_module.choice(pool) for _ in range(int(count or 1)))
    return "".join(out)


def time_to_cron(ts: datetime.datetime) -> str:
    weekday = (ts.weekday() + 1) % 7  # Go: Sunday == 0
    return f"{ts.minute} {ts.hour} {ts.day} {ts.month} {weekday}"


def time_truncate(ts: datetime.datetime, d: datetime.timedelta) -> datetime.datetime:
    """Go's Time.Truncate: round down to a multiple of d since the zero time (UTC)."""
    if d <= datetime.timedelta(0):
        return ts
    zero = datetime.datetime(1, 1, 1, tzinfo=ts.tzinfo or datetime.UTC)
    ts = ts if ts.tzinfo else ts.replace(tzinfo=datetime.UTC)
    return ts - ((ts - zero) % d)


def time_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def list_obj_to_map(keys: list[Any], values: list[Any], key_name: str, value_name: str) -> dict[str, Any]:
    if len(keys) != len(values):
        raise ValueError(f"listObjToMap must take lists of equal length. list1: {len(keys)}, list2: {len(values)}")
    out = {}
    for k, v in zip(keys, values, strict=True):
        key = k.get(key_name) if isinstance(k, dict) else None
        if not isinstance(key, str):
            raise ValueError("the passed key name cannot be handled as a string in the key object list")
        if not isinstance(v, dict):
            raise ValueError("object cannot be handled as a map string to any in the value object list")
        out[key] = v.get(value_name)
    return out


def gzip_compress(_value: Any) -> bytes:
    # cel-expr-python cuts bytes returned from Python at the first NUL, and gzip output has several:
    # refuse rather than return corrupt data.
    raise NotImplementedError("gzip.compress is not supported by the offline engine")


def gzip_decompress(data: bytes) -> str:
    return gzip_module.decompress(data).decode()


def x509_decode(pem: str) -> dict[str, Any]:
    from . import x509_decode as x509

    return x509.decode(pem)


def pairs_to_map(pairs: list[Any]) -> dict[Any, Any]:
    """Runtime of `transformMap` (see cel_rewrite): [key, value] pairs, later keys replace earlier."""
    return {k: v for k, v in pairs}


def merge_entries(entries: list[Any]) -> dict[Any, Any]:
    """Runtime of `transformMapEntry`: one-entry maps merged; a repeated key is an error as in cel-go."""
    out: dict[Any, Any] = {}
    for entry in entries:
        for k, v in entry.items():
            if k in out:
                raise ValueError(f"insert failed: key {k} already exists")
            out[k] = v
    return out


# ---------------------------------------------------------------- declarations


def _o(oid: str, ret: T, params: list[T], impl: Callable[..., Any], member: bool = False) -> cel.Overload:
    return cel.Overload(oid, return_type=ret, parameters=params, is_member=member, impl=impl)


def _spellings(names: tuple[str, ...], ret: T, sigs: list[list[T]], impl: Callable[..., Any]) -> list[cel.FunctionDecl]:
    decls = []
    for name in names:
        oid = re.sub(r"\W", "_", name)
        decls.append(cel.FunctionDecl(name, [_o(f"{oid}_{i}", ret, s, impl) for i, s in enumerate(sigs)]))
    return decls


def _any_overloads(name: str, ret: T, impl: Callable[..., Any], lead: list[T] | None = None) -> cel.FunctionDecl:
    oid = re.sub(r"\W", "_", name)
    return cel.FunctionDecl(name, [_o(f"{oid}_{k}", ret, [*(lead or []), t], impl) for k, t in ANY_TYPES.items()])


def functions() -> list[cel.FunctionDecl]:
    gvr = ANYMAP
    ts, dur = T.TIMESTAMP, T.DURATION
    decls = [
        *_spellings(("parseServiceAccount", "user.parseServiceAccount"), ANYMAP, [[STR]], parse_service_account),
        *_spellings(("sha1", "hash.sha1"), STR, [[STR]], _hash("sha1")),
        *_spellings(("sha256", "hash.sha256"), STR, [[STR]], _hash("sha256")),
        *_spellings(("md5", "hash.md5"), STR, [[STR]], _hash("md5")),
        *_spellings(("json.unmarshal",), DYN, [[STR]], json_unmarshal),
        _any_overloads("json.marshal", STR, json_marshal),
        *_spellings(("yaml.parse",), DYN, [[STR]], yaml_parse),
        *_spellings(
            ("random", "random.random"), STR, [[], [STR]], lambda p=None: random_pattern(p) if p else random_default()
        ),
        *_spellings(("time.now",), ts, [[]], time_now),
        *_spellings(("time.toCron",), STR, [[ts]], time_to_cron),
        *_spellings(("time.truncate",), ts, [[ts, dur]], time_truncate),
        *_spellings(("stratops_mathRound",), DBL, [[DBL, INT]], math_round),
        *_spellings(("listObjToMap", "transform.listObjToMap"), ANYMAP, [[LIST, LIST, STR, STR]], list_obj_to_map),
        *_spellings(("gzip.decompress",), STR, [[BYTES]], gzip_decompress),
        _any_overloads("gzip.compress", BYTES, gzip_compress),
        *_spellings(("x509.decode",), DYN, [[STR]], x509_decode),
        *_spellings(("stratops_pairsToMap",), T.Map(DYN, DYN), [[LIST]], pairs_to_map),
        *_spellings(("stratops_mergeEntries",), T.Map(DYN, DYN), [[LIST]], merge_entries),
        # cluster and registry lookups: answered from a kyverno test context, else an error
        *_spellings(("resource.Get", "resource.get"), DYN, [[STR] * 4, [gvr, STR, STR]], resource_get),
        *_spellings(
            ("resource.List", "resource.list"),
            DYN,
            [[STR] * 3, [STR, STR, STR, T.Map(STR, STR)], [gvr, STR], [gvr, STR, T.Map(STR, STR)]],
            resource_list,
        ),
        *_spellings(("resource.ToGVR", "resource.toGVR"), ANYMAP, [[STR, STR]], to_gvr),
        *_spellings(("image.GetMetadata", "image.getMetadata"), DYN, [[STR]], image_metadata),
    ]
    decls += _spellings(("http.Get", "http.get"), DYN, [[STR], [STR, ANYMAP]], _http("GET"))
    decls += _spellings(
        ("http.Post", "http.post"),
        DYN,
        [[STR, ANYMAP], [STR, STR], [STR, ANYMAP, ANYMAP], [STR, STR, ANYMAP]],
        _http("POST"),
    )
    offline = {
        ("resource.Post", "resource.post"): [[STR, STR, STR, ANYMAP], [STR, STR, ANYMAP]],
        ("globalContext.Get", "globalContext.get"): [[STR, STR]],
    }
    for names, sigs in offline.items():
        decls += _spellings(names, DYN, sigs, _offline(names[0]))
    return decls
