"""The Strategy spec: JSON Schema validation, code checks, resource caps, digest.

Everything a user submits passes through `load_spec` or `parse_spec`; what comes
out is a `Strategy` whose every field is safe to put in a path, a YAML document
or a label.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from .assets import SPEC_SCHEMA
from .errors import Problem, UserError
from .jsonschemas import Draft202012
from .params import class_declarations, declaration_problems, params_problems, with_defaults
from .quantity import parse_quantity
from .yamlio import load_one

# A DNS-1123 label: tenant, strategy and Kubernetes object names, and the folders named after them.
DNS_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"


def is_dns_label(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(DNS_LABEL, value) is not None


MAX_CODE_BYTES = 512 * 1024
MAX_PARAMS_BYTES = 64 * 1024
DEFAULT_CODE_FILE = "strategy.py"


@dataclass(frozen=True)
class Caps:
    """Per-strategy resource bounds; a tenant's namespace annotations can change the maxima."""

    max_cpu: str = "2"
    max_memory: str = "4Gi"
    min_cpu: str = "10m"
    min_memory: str = "64Mi"
    max_state: str = "10Gi"


# For specs already in the fleet (rollback targets): the policies judge their resources.
UNCAPPED = Caps(max_cpu="1000000", max_memory="1000000Ti", min_cpu="0", min_memory="0", max_state="1000000Ti")


@dataclass(frozen=True)
class Strategy:
    name: str
    tenant: str
    code_file: str
    code_class: str
    source: str
    subscriptions: tuple[str, ...]
    params: dict[str, Any] = field(hash=False)
    cpu: str = "250m"
    memory: str = "256Mi"
    persistent_state: bool = False
    state_size: str = "1Gi"
    pod_monitor: bool = False
    scrape_interval: str = "30s"
    parameters: dict[str, Any] = field(default_factory=dict, hash=False)  # declarations (spec + class)
    spec_parameters: dict[str, Any] = field(default_factory=dict, hash=False)  # as written in the spec

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.name}"

    @property
    def code_sha256(self) -> str:
        return hashlib.sha256(self.source.encode()).hexdigest()

    def document(self) -> dict[str, Any]:
        """The normalized spec, as stored next to the code in the fleet repo."""
        spec: dict[str, Any] = {
            "code": {"file": self.code_file, "class": self.code_class},
            "subscriptions": list(self.subscriptions),
            "params": self.params,
            "resources": {"cpu": self.cpu, "memory": self.memory},
        }
        if self.persistent_state:
            spec["state"] = {"persistent": True, "size": self.state_size}
        if self.pod_monitor:
            spec["monitoring"] = {"podMonitor": True, "interval": self.scrape_interval}
        if self.spec_parameters:
            spec["parameters"] = self.spec_parameters
        return {
            "apiVersion": "stratops.io/v1",
            "kind": "Strategy",
            "metadata": {"name": self.name, "tenant": self.tenant},
            "spec": spec,
        }

    @property
    def digest(self) -> str:
        """Identity of what runs: the normalized spec plus the code."""
        h = hashlib.sha256(canonical_json(self.document()).encode())
        h.update(b"\0" + self.source.encode())
        return h.hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@cache
def spec_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SPEC_SCHEMA.read_text())
    Draft202012.check_schema(schema)
    return Draft202012(schema)


def load_spec(path: Path, caps: Caps | None = None) -> Strategy:
    """Read a spec file; a `code.file` is read from the spec's own folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"spec file {path} does not exist", [Problem(str(path), "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read spec file {path}", [Problem(str(path), str(exc))]) from None
    return parse_spec(text, origin=str(path), code_dir=path.parent, caps=caps)


def parse_spec(text: str, origin: str = "spec", code_dir: Path | None = None, caps: Caps | None = None) -> Strategy:
    doc = load_one(text, origin, aliases=False)
    return strategy_from_document(doc, origin, code_dir, caps)


def strategy_from_document(
    doc: Any, origin: str = "spec", code_dir: Path | dict[str, bytes] | None = None, caps: Caps | None = None
) -> Strategy:
    """Validate a parsed spec; `code_dir` is the folder of a `code.file`, or the folder's files themselves.

    Every problem is reported at once: schema, code, parameters and caps, each part checked as far
    as the schema lets it be read.
    """
    problems = schema_problems(doc)
    bad = {p.where.split("[")[0] for p in problems}
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if not isinstance(spec, dict) or any(w in ("(top level)", "spec", "metadata") for w in bad):
        raise UserError(f"{origin} is not a valid Strategy", problems)
    source, tree, declared = "", None, {}
    if not any(w.startswith("spec.code") for w in bad):
        source, code_problems, tree = _read_code(spec["code"], code_dir)
        problems += code_problems
    params = spec.get("params", {})
    if not any(w.startswith(("spec.params", "spec.parameters")) for w in bad):
        problems += _params_problems(params)
        declared, declared_problems = _declarations(spec, tree)
        problems += declared_problems
        if not declared_problems:
            problems += params_problems(params, declared)
    if problems and any(w.startswith(("spec.resources", "spec.state", "spec.monitoring")) for w in bad):
        raise UserError(f"{origin} is not a valid Strategy", problems)
    resources = spec.get("resources", {})
    state = spec.get("state", {"persistent": False})
    monitoring = spec.get("monitoring", {"podMonitor": False})
    strategy = Strategy(
        name=doc["metadata"]["name"],
        tenant=doc["metadata"]["tenant"],
        code_file=spec["code"].get("file", DEFAULT_CODE_FILE) if isinstance(spec.get("code"), dict) else "",
        code_class=spec["code"].get("class", "") if isinstance(spec.get("code"), dict) else "",
        source=source,
        subscriptions=tuple(spec.get("subscriptions") or ()),
        params=with_defaults(params, declared) if isinstance(params, dict) else {},
        cpu=_quantity_text(resources.get("cpu", "250m")),
        memory=_quantity_text(resources.get("memory", "256Mi")),
        persistent_state=state.get("persistent", False),
        state_size=_quantity_text(state.get("size", "1Gi")),
        pod_monitor=monitoring.get("podMonitor", False),
        scrape_interval=monitoring.get("interval", "30s"),
        parameters=declared,
        spec_parameters=spec.get("parameters", {}),
    )
    problems += resource_problems(strategy, caps or Caps())
    if problems:
        raise UserError(f"{origin} is not a valid Strategy", problems)
    return strategy


def _declarations(spec: dict[str, Any], tree: ast.Module | None) -> tuple[dict[str, Any], list[Problem]]:
    """Parameter declarations: the class's (read by ast), overridden name by name by the spec's."""
    declared: dict[str, Any] = {}
    problems: list[Problem] = []
    if tree is not None:
        declared, problems = class_declarations(tree, spec["code"]["class"], "spec.code")
    in_spec = spec.get("parameters", {})
    problems += declaration_problems(in_spec, "spec.parameters")
    if isinstance(in_spec, dict):
        declared = {**declared, **in_spec}
    return declared, problems


# --- schema -----------------------------------------------------------------


def schema_problems(doc: Any) -> list[Problem]:
    errors = sorted(spec_validator().iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    return [_explain(e) for e in errors]


def _path(error: jsonschema.ValidationError) -> str:
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _explain(error: jsonschema.ValidationError) -> Problem:
    where, v, schema = _path(error), error.validator, error.schema
    if v == "additionalProperties":
        allowed = ", ".join(sorted(schema.get("properties", {})))
        extra = sorted(set(error.instance) - set(schema.get("properties", {})))
        return Problem(where, f"unknown field(s) {', '.join(map(repr, extra))}", f"allowed: {allowed}")
    if v == "required":
        return Problem(where, error.message.replace("is a required property", "is missing"), "add the field")
    if v == "pattern":
        hint = schema.get("description", f"must match {schema['pattern']}")
        return Problem(where, f"{error.instance!r} is not valid", hint)
    if v == "const":
        return Problem(where, f"must be {schema['const']!r}, got {error.instance!r}")
    if v == "not":
        return Problem(where, f"{error.instance!r} is reserved", "choose another name")
    if v == "oneOf" and where.endswith("code"):
        return Problem(where, "give either code.file or code.inline, not both and not neither")
    if v in ("maxLength", "minLength"):
        return Problem(
            where, f"{error.instance!r} has {len(error.instance)} characters", error.message.split(" is ")[-1]
        )
    return Problem(where, error.message)


# --- code -------------------------------------------------------------------


def _read_code(
    code: dict[str, Any], code_dir: Path | dict[str, bytes] | None
) -> tuple[str, list[Problem], ast.Module | None]:
    if "inline" in code:
        source, problems = code["inline"], []
        where = "spec.code.inline"
    else:
        where = f"spec.code.file ({code['file']})"
        source, problems = _read_code_file(code["file"], code_dir, where)
    if problems:
        return "", problems, None
    problems = check_source(source, code["class"], where)
    return source, problems, None if problems else ast.parse(source)


def _read_code_file(name: str, code_dir: Path | dict[str, bytes] | None, where: str) -> tuple[str, list[Problem]]:
    if code_dir is None:
        return "", [Problem(where, "a spec given as text cannot refer to a file", "use code.inline")]
    data = _code_bytes(name, code_dir)
    if data is None:
        return "", [
            Problem(where, f"{name} is not a regular file next to the spec", "put the code file beside the spec")
        ]
    if len(data) > MAX_CODE_BYTES:
        return "", [Problem(where, f"is more than {MAX_CODE_BYTES} bytes", "split or shrink the code")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError as exc:
        return "", [Problem(where, f"is not UTF-8 (byte {exc.start})", "save the file as UTF-8")]


def _code_bytes(name: str, code_dir: Path | dict[str, bytes]) -> bytes | None:
    if isinstance(code_dir, dict):
        return code_dir.get(name)
    path = code_dir / name  # name matched ^[a-z_][a-z0-9_]*\.py$: no separators, no '..'
    if path.is_symlink() or not path.is_file():
        return None
    with path.open("rb") as handle:  # read one byte past the cap: enough to refuse, never more
        return handle.read(MAX_CODE_BYTES + 1)


def check_source(source: str, class_name: str, where: str) -> list[Problem]:
    """Parse the code with `ast` so syntax errors and a missing class are caught before deploy."""
    size = len(source.encode())
    if size > MAX_CODE_BYTES:
        return [Problem(where, f"is more than {MAX_CODE_BYTES} bytes ({size})", "split or shrink the code")]
    if "\0" in source:
        return [Problem(where, "not valid Python source: it contains NUL bytes")]
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return [Problem(f"{where}:{exc.lineno}:{exc.offset}", f"Python syntax error: {exc.msg}")]
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    if class_name not in classes:
        found = ", ".join(classes) or "none"
        return [
            Problem(
                "spec.code.class",
                f"class {class_name!r} is not defined at the top level of the code",
                f"classes found: {found}",
            )
        ]
    if not _subclasses_strategy(class_name, classes, _strategy_names(tree), set()):
        return [
            Problem(
                "spec.code.class",
                f"class {class_name!r} does not subclass Strategy",
                "write `from executor import Strategy` and `class " + class_name + "(Strategy):`",
            )
        ]
    return []


def _strategy_names(tree: ast.Module) -> set[str]:
    """Names under which the module imported executor's Strategy (or the executor package)."""
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module in ("executor", "executor.api"):
            names |= {a.asname or a.name for a in node.names if a.name == "Strategy"}
            names |= {"executor." + (a.asname or a.name) for a in node.names if a.name == "api"}
        elif isinstance(node, ast.Import):
            names |= {(a.asname or a.name) + ".Strategy" for a in node.names if a.name in ("executor", "executor.api")}
    return names


def _subclasses_strategy(name: str, classes: dict[str, ast.ClassDef], strategy: set[str], seen: set[str]) -> bool:
    if name in seen:
        return False
    seen.add(name)
    for base in classes[name].bases:
        text = ast.unparse(base)
        if text in strategy or text.replace("executor.api.", "executor.") in strategy:
            return True
        if text in classes and _subclasses_strategy(text, classes, strategy, seen):
            return True
    return False


# --- params -----------------------------------------------------------------


def _params_problems(params: dict[str, Any]) -> list[Problem]:
    problems = [
        Problem(f"spec.params{p}", w, "use strings, numbers, booleans, lists or maps") for p, w in _non_json(params, "")
    ]
    if not problems and len(canonical_json(params).encode()) > MAX_PARAMS_BYTES:
        problems.append(Problem("spec.params", f"larger than {MAX_PARAMS_BYTES} bytes", "keep params small"))
    return problems


def _non_json(value: Any, path: str) -> list[tuple[str, str]]:
    if isinstance(value, dict):
        out = [(path, f"key {k!r} is not a string") for k in value if not isinstance(k, str)]
        for k, v in value.items():
            out += _non_json(v, f"{path}.{k}")
        return out
    if isinstance(value, list):
        return [item for i, v in enumerate(value) for item in _non_json(v, f"{path}[{i}]")]
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, f"{value} is not a finite number")]
    if value is None or isinstance(value, str | int | float | bool):
        return []
    return [(path, f"{type(value).__name__} values are not allowed (quote it to make it a string)")]


# --- resources --------------------------------------------------------------


def _quantity_text(value: str | int | float) -> str:
    """YAML turns `cpu: 1` into a number; keep quantities as the canonical text."""
    return value if isinstance(value, str) else format(Decimal(str(value)).normalize(), "f")


def quantity(text: str) -> Decimal | None:
    try:
        return parse_quantity(text)
    except (ValueError, TypeError):
        return None


def resource_problems(strategy: Strategy, caps: Caps) -> list[Problem]:
    checks = [
        ("spec.resources.cpu", strategy.cpu, caps.min_cpu, caps.max_cpu),
        ("spec.resources.memory", strategy.memory, caps.min_memory, caps.max_memory),
    ]
    if strategy.persistent_state:
        checks.append(("spec.state.size", strategy.state_size, "1Mi", caps.max_state))
    return [p for where, value, low, high in checks if (p := _bound(where, value, low, high))]


def _bound(where: str, value: str, low: str, high: str) -> Problem | None:
    amount = quantity(value)
    if amount is None:
        return Problem(where, f"{value!r} is not a Kubernetes quantity", "write e.g. 250m, 1, 256Mi or 2Gi")
    cap, floor = quantity(high), quantity(low)
    if cap is None or floor is None:
        return Problem(
            where,
            f"the tenant's cap {high!r} or minimum {low!r} is not a quantity",
            "fix the tenant's namespace annotations",
        )
    if amount > cap:
        return Problem(where, f"{value} is over the cap of {high}", f"ask for at most {high}")
    if amount < floor:
        return Problem(where, f"{value} is under the minimum of {low}", f"ask for at least {low}")
    return None
