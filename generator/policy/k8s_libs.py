"""Kubernetes' CEL libraries ip, cidr, url and semver (k8s.io/apiserver/pkg/cel/library) on cel-expr-python.

cel-expr-python has no custom opaque types, so each value is a tagged `map<string,string>` (the
tag key names the type, the other keys its canonical text), as quantities are in `cel_env`.
Equal values have equal maps, so `==` works. The parsing follows the Go originals: Python's
`ipaddress` (no zones, no IPv4-mapped IPv6 for ip(), as netip with Kubernetes' checks),
`urllib.parse` for url, the `semver` package for blang/semver's strict syntax.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import semver as semver_module
from cel_expr_python import cel

T = cel.Type
STR, INT, BOOL = T.STRING, T.INT, T.BOOL
TAGGED = T.Map(STR, STR)
IP, CIDR, URL, SEMVER = "__k8s_ip__", "__k8s_cidr__", "__k8s_url__", "__k8s_semver__"


def _tag(value: Any, tag: str, what: str) -> str:
    if not isinstance(value, dict) or tag not in value:
        raise TypeError(f"not a {what} (use {what.lower()}(string))")
    return value[tag]


# ---------------------------------------------------------------- ip / cidr


def _parse_ip(s: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if "%" in s:
        raise ValueError(f"IP address with zone value is not allowed: {s}")
    try:
        addr = ipaddress.ip_address(s)
    except ValueError:
        raise ValueError(f"IP Address {s!r} parse error during conversion from string") from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address is not allowed: {s}")
    if isinstance(addr, ipaddress.IPv4Address) and re.search(r"(^|\.)0\d", s):
        raise ValueError(f"IP Address {s!r} parse error during conversion from string")
    return addr


def ip(s: str) -> dict[str, str]:
    return {IP: str(_parse_ip(s))}


def is_ip(s: str) -> bool:
    try:
        _parse_ip(s)
    except ValueError:
        return False
    return True


def ip_is_canonical(s: str) -> bool:
    return str(_parse_ip(s)) == s


def _ip(value: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(_tag(value, IP, "IP"))


def _parse_cidr(s: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if "%" in s:
        raise ValueError(f"CIDR with zone value is not allowed: {s}")
    try:
        iface = ipaddress.ip_interface(s)
    except ValueError:
        raise ValueError(f"network address parse error during conversion from string: {s!r}") from None
    if "/" not in s:
        raise ValueError(f"network address parse error during conversion from string: {s!r}")
    if isinstance(iface, ipaddress.IPv6Interface) and iface.ip.ipv4_mapped is not None:
        raise ValueError(f"IPv4-mapped IPv6 address is not allowed: {s}")
    return iface


def cidr(s: str) -> dict[str, str]:
    return {CIDR: str(_parse_cidr(s))}


def is_cidr(s: str) -> bool:
    try:
        _parse_cidr(s)
    except ValueError:
        return False
    return True


def _cidr(value: Any) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    return ipaddress.ip_interface(_tag(value, CIDR, "CIDR"))


def contains_ip(c: Any, other: Any) -> bool:
    addr = _parse_ip(other) if isinstance(other, str) else _ip(other)
    return addr in _cidr(c).network


def contains_cidr(c: Any, other: Any) -> bool:
    sub = _parse_cidr(other) if isinstance(other, str) else _cidr(other)
    net = _cidr(c).network
    return sub.network.version == net.version and sub.network.subnet_of(net)  # type: ignore[arg-type]


# ---------------------------------------------------------------- url


def _parse_url(s: str) -> dict[str, str]:
    try:
        parts = urlsplit(s)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"URL {s!r} parse error during conversion from string: {exc}") from None
    if not parts.scheme and not s.startswith("/"):
        raise ValueError(f"URL {s!r} must be absolute or an absolute path")
    return {
        URL: s,
        "scheme": parts.scheme,
        "host": parts.netloc.rpartition("@")[2],
        "hostname": (parts.hostname or "")
        if "[" not in parts.netloc
        else parts.netloc.rpartition("@")[2].split("]")[0][1:],
        "port": "" if port is None else str(port),
        "path": parts.path,
        "query": parts.query,
    }


def url(s: str) -> dict[str, str]:
    return _parse_url(s)


def is_url(s: str) -> bool:
    try:
        _parse_url(s)
    except ValueError:
        return False
    return True


def _url_part(part: str) -> Callable[[Any], str]:
    def get(value: Any) -> str:
        _tag(value, URL, "URL")
        return value[part]

    return get


def url_query(value: Any) -> dict[str, list[str]]:
    from urllib.parse import parse_qs

    return parse_qs(_url_part("query")(value), keep_blank_values=True)


# ---------------------------------------------------------------- semver


def _normalize(s: str) -> str:
    s = s.removeprefix("v")
    core, sep, rest = re.match(r"^([0-9.]*)(.*)$", s).group(1, 1, 2)  # type: ignore[union-attr]
    parts = core.split(".") if core else []
    while 0 < len(parts) < 3:
        parts.append("0")
    parts = [p.lstrip("0") or "0" for p in parts]
    return ".".join(parts) + rest if parts else s


def _parse_semver(s: str, normalize: bool = False) -> semver_module.Version:
    text = _normalize(s) if normalize else s
    try:
        return semver_module.Version.parse(text)
    except (ValueError, TypeError):
        raise ValueError(f"could not parse {s!r} as semver") from None


def semver(s: str, normalize: bool = False) -> dict[str, str]:
    return {SEMVER: str(_parse_semver(s, normalize))}


def is_semver(s: str, normalize: bool = False) -> bool:
    try:
        _parse_semver(s, normalize)
    except ValueError:
        return False
    return True


def _semver(value: Any) -> semver_module.Version:
    return semver_module.Version.parse(_tag(value, SEMVER, "Semver"))


def semver_compare(a: Any, b: Any) -> int:
    return _semver(a).compare(_semver(b))


# ---------------------------------------------------------------- declarations


def _o(oid: str, ret: T, params: list[T], impl: Callable[..., Any], member: bool = False) -> cel.Overload:
    return cel.Overload(oid, return_type=ret, parameters=params, is_member=member, impl=impl)


def _fn(name: str, *overloads: cel.Overload) -> cel.FunctionDecl:
    return cel.FunctionDecl(name, list(overloads))


def _member(name: str, ret: T, impl: Callable[..., Any], tag: str) -> cel.FunctionDecl:
    return _fn(name, _o(f"{tag.strip('_')}_{name}", ret, [TAGGED], impl, True))


def functions() -> list[cel.FunctionDecl]:
    """ip, cidr, url and semver. Member names shared with quantities (compareTo, isLessThan,
    isGreaterThan) are declared once in cel_env and dispatch on the tag there."""

    def ip_pred(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
        return lambda v: bool(test(_ip(v)))

    return [
        _fn("ip", _o("ip_string", TAGGED, [STR], ip), _o("cidr_ip", TAGGED, [TAGGED], ip_of_cidr, True)),
        _fn("isIP", _o("isIP_string", BOOL, [STR], is_ip)),
        _fn("ip.isCanonical", _o("ip_isCanonical_string", BOOL, [STR], ip_is_canonical)),
        _member("family", INT, lambda v: _ip(v).version, IP),
        _member("isUnspecified", BOOL, ip_pred(lambda a: a.is_unspecified), IP),
        _member("isLoopback", BOOL, ip_pred(lambda a: a.is_loopback), IP),
        _member("isLinkLocalMulticast", BOOL, ip_pred(lambda a: a.is_multicast and a.is_link_local), IP),
        _member("isLinkLocalUnicast", BOOL, ip_pred(lambda a: a.is_link_local and not a.is_multicast), IP),
        _member(
            "isGlobalUnicast",
            BOOL,
            ip_pred(
                lambda a: (
                    not (a.is_unspecified or a.is_loopback or a.is_multicast or a.is_link_local)
                    and a != ipaddress.IPv4Address("255.255.255.255")
                )
            ),
            IP,
        ),
        _fn("cidr", _o("cidr_string", TAGGED, [STR], cidr)),
        _fn("isCIDR", _o("isCIDR_string", BOOL, [STR], is_cidr)),
        _fn(
            "containsIP",
            _o("cidr_containsIP_string", BOOL, [TAGGED, STR], contains_ip, True),
            _o("cidr_containsIP_ip", BOOL, [TAGGED, TAGGED], contains_ip, True),
        ),
        _fn(
            "containsCIDR",
            _o("cidr_containsCIDR_string", BOOL, [TAGGED, STR], contains_cidr, True),
            _o("cidr_containsCIDR_cidr", BOOL, [TAGGED, TAGGED], contains_cidr, True),
        ),
        _member("prefixLength", INT, lambda v: _cidr(v).network.prefixlen, CIDR),
        _member("masked", TAGGED, lambda v: {CIDR: str(_cidr(v).network)}, CIDR),
        _fn("url", _o("url_string", TAGGED, [STR], url)),
        _fn("isURL", _o("isURL_string", BOOL, [STR], is_url)),
        _member("getScheme", STR, _url_part("scheme"), URL),
        _member("getHost", STR, _url_part("host"), URL),
        _member("getHostname", STR, _url_part("hostname"), URL),
        _member("getPort", STR, _url_part("port"), URL),
        _member("getEscapedPath", STR, _url_part("path"), URL),
        _member("getQuery", T.Map(STR, T.List(STR)), url_query, URL),
        _fn(
            "semver", _o("semver_string", TAGGED, [STR], semver), _o("semver_string_bool", TAGGED, [STR, BOOL], semver)
        ),
        _fn(
            "isSemver",
            _o("isSemver_string", BOOL, [STR], is_semver),
            _o("isSemver_string_bool", BOOL, [STR, BOOL], is_semver),
        ),
        _member("major", INT, lambda v: _semver(v).major, SEMVER),
        _member("minor", INT, lambda v: _semver(v).minor, SEMVER),
        _member("patch", INT, lambda v: _semver(v).patch, SEMVER),
    ]


def ip_of_cidr(value: Any) -> dict[str, str]:
    """`cidr.ip()`: the address part (a member named like the global `ip`, declared in cel_env)."""
    return {IP: str(_cidr(value).ip)}
