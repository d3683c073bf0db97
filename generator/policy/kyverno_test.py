"""Run `kyverno test` folders (cli.kyverno.io/v1alpha1 Test files) with the offline engine.

Follows cmd/cli/kubectl-kyverno/commands/test: results are matched by policy name and
resource name (or namespace/name); `kind` is not used for matching, and the autogen
copies share the policy name, so a Deployment row is served by the "defaults" copy.
Resources are loaded like the CLI does: integers become doubles and namespaced
objects without a namespace are put in `default`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cel_libs import OfflineContext, offline_context
from .engine import PolicySet, resource_id
from .load import _Ctx, _list, _map, _str, _strs, load_exceptions, load_policy_objects, read_yaml_documents
from .match import ObjectInfo
from .model import MatchConstraints, PolicyError, PolicyResult

TEST_API = "cli.kyverno.io/v1alpha1"
TEST_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "policies",
    "resources",
    "jsonPayloads",
    "targetResources",
    "variables",
    "paramResources",
    "userinfo",
    "results",
    "values",
    "exceptions",
    "context",
    "clusterResources",
    "apiCallResponses",
    "globalContextEntries",
    "checks",
    "envoyPayloads",
    "httpPayloads",
}
RESULT_FIELDS = {
    "policy",
    "rule",
    "result",
    "status",
    "kind",
    "resources",
    "resourceSpecs",
    "namespace",
    "isValidatingPolicy",
    "isValidatingAdmissionPolicy",
    "isMutatingPolicy",
    "isMutatingAdmissionPolicy",
    "isGeneratingPolicy",
    "isImageValidatingPolicy",
    "isDeletingPolicy",
    "isNamespacedValidatingPolicy",
    "patchedResources",
    "patchedResource",
    "generatedResource",
    "cloneSourceResource",
    "operation",
}
VALUES_FIELDS = {
    "apiVersion",
    "kind",
    "metadata",
    "globalValues",
    "policies",
    "namespaceSelector",
    "namespaces",
    "subresources",
}
# Fields we parse but cannot honour offline: a test that uses them is reported, not silently passed.
UNSUPPORTED = (
    "jsonPayloads",
    "envoyPayloads",
    "httpPayloads",
    "targetResources",
    "paramResources",
    "globalContextEntries",
)
CONTEXT_API = "cli.kyverno.io/v1alpha1"
OTHER_KINDS = (
    "isMutatingPolicy",
    "isMutatingAdmissionPolicy",
    "isGeneratingPolicy",
    "isImageValidatingPolicy",
    "isDeletingPolicy",
    "isValidatingAdmissionPolicy",
)


@dataclass(frozen=True)
class Row:
    id: int
    policy: str
    rule: str
    resource: str
    ok: bool
    reason: str


@dataclass
class TestOutcome:
    """One Test document's rows, or the error that kept it from running (a failed test too)."""

    path: Path
    name: str
    rows: list[Row]
    error: str = ""

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.rows) + bool(self.error)

    @property
    def passed(self) -> int:
        return sum(r.ok for r in self.rows)


def find_test_files(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            found.extend(sorted(p.rglob("kyverno-test.yaml")))
        else:
            raise PolicyError(f"{p}: no such file or directory")
    return found


def _relative(base: Path, ctx: _Ctx, value: Any, field: str) -> list[Path]:
    return [base / s for s in _strs(ctx, value, field)]


def _load_resources(ctx: _Ctx, files: list[Path]) -> list[dict[str, Any]]:
    out = []
    for f in files:
        for doc in read_yaml_documents(f):
            if not doc.get("kind") or not doc.get("apiVersion"):
                raise ctx.fail(f"resources: {f}", "a resource needs apiVersion and kind")
            info = ObjectInfo.of(doc)
            if info.namespaced and not info.namespace:
                doc = {**doc, "metadata": {**(doc.get("metadata") or {}), "namespace": "default"}}
            out.append(doc)
    return out


def _load_namespaces(ctx: _Ctx, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Namespace objects for `namespaceObject` (values `namespaces:`), plus label-only
    entries from `namespaceSelector:` ({name, labels})."""
    namespaces: dict[str, dict[str, Any]] = {}
    for i, ns in enumerate(_list(ctx, values.get("namespaces"), "values.namespaces")):
        name = ((ns or {}).get("metadata") or {}).get("name")
        if not isinstance(name, str):
            raise ctx.fail(f"values.namespaces[{i}].metadata.name", "required field is missing")
        namespaces[name] = ns
    for i, sel in enumerate(_list(ctx, values.get("namespaceSelector"), "values.namespaceSelector")):
        item = _map(ctx, sel, f"values.namespaceSelector[{i}]", {"name", "labels"})
        name = _str(ctx, item.get("name"), f"values.namespaceSelector[{i}].name", True)
        ns = namespaces.setdefault(name, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        ns["metadata"].setdefault("labels", {}).update(item.get("labels") or {})
    return namespaces


def _values(ctx: _Ctx, base: Path, test: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if test.get("variables"):
        path = base / _str(ctx, test["variables"], "variables")
        docs = read_yaml_documents(path)
        if len(docs) != 1:
            raise ctx.fail("variables", f"{path}: expected exactly one values document")
        values.update(_map(_Ctx(str(path)), docs[0], "<values>", VALUES_FIELDS))
    if test.get("values"):
        values.update(_map(ctx, test["values"], "values", VALUES_FIELDS))
    return values


class _Evaluations:
    """Engine results per (resource index, operation), computed on first use."""

    def __init__(
        self,
        policies: PolicySet,
        resources: list[dict[str, Any]],
        namespaces: dict[str, dict[str, Any]],
        context: OfflineContext | None = None,
        user_info: dict[str, Any] | None = None,
    ) -> None:
        self.policies, self.resources, self.namespaces = policies, resources, namespaces
        self.context, self.user_info = context, user_info
        self.cache: dict[tuple[int, str], list[PolicyResult]] = {}

    def results(self, index: int, operation: str) -> list[PolicyResult]:
        key = (index, operation)
        if key not in self.cache:
            obj = self.resources[index]
            ns = self.namespaces.get(ObjectInfo.of(obj).namespace)
            with offline_context(self.context):
                self.cache[key] = self.policies.evaluate(obj, ns, operation, self.user_info)
        return self.cache[key]


def _resource_indexes(resources: list[dict[str, Any]], ref: str) -> list[int]:
    ns, _, name = ref.rpartition("/")
    out = []
    for i, obj in enumerate(resources):
        meta = obj.get("metadata") or {}
        if meta.get("name") == name and (not ns or meta.get("namespace") == ns):
            out.append(i)
    return out


def _check(ctx: _Ctx, row: dict[str, Any], idx: int, evals: _Evaluations) -> list[tuple[str, str, str, bool, str]]:
    """(policy, rule, resource id, ok, reason) for every resource named by one result row."""
    p = f"results[{idx}]"
    item = _map(ctx, row, p, RESULT_FIELDS)
    policy = _str(ctx, item.get("policy"), f"{p}.policy", True).rpartition("/")[2]
    want = _str(ctx, item.get("result") or item.get("status"), f"{p}.result", True)
    if want not in {"pass", "fail", "warn", "error", "skip"}:
        raise ctx.fail(f"{p}.result", f"unknown result {want!r}")
    operation = _str(ctx, item.get("operation"), f"{p}.operation") or "CREATE"
    other = [k for k in OTHER_KINDS if item.get(k)]
    out = []
    refs = _strs(ctx, item.get("resources"), f"{p}.resources")
    if not refs and not item.get("resourceSpecs"):  # no resources named: every resource is checked
        refs = tuple(_ref(obj) for obj in evals.resources)
    for ref in refs:
        if other:
            out.append((policy, "", ref, False, f"{other[0]} is not supported offline"))
            continue
        indexes = _resource_indexes(evals.resources, ref)
        if not indexes:
            out.append((policy, "", ref, False, "Not found"))
        for i in indexes:
            out.extend((policy, *row) for row in _compare(evals, i, policy, want, operation))
    if item.get("resourceSpecs"):
        out.append((policy, "", "<resourceSpecs>", False, "resourceSpecs is not supported offline"))
    return out


def _ref(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace') or ''}/{meta.get('name') or ''}".lstrip("/")


def _compare(
    evals: _Evaluations, index: int, policy: str, want: str, operation: str
) -> list[tuple[str, str, bool, str]]:
    """(rule, resource id, ok, reason): the rows `kyverno test` prints for one resource.

    The CLI has one engine response per policy copy (as written, then its autogen copies, whose
    order Kyverno leaves to Go's map iteration). A copy that does not apply is dropped when its
    matchConstraints are plain (one rule, no selector labels, no excludes, no resourceNames), else
    it adds an `Excluded` row (a pass, whatever was expected) when no row was added before it."""
    rid = resource_id(evals.resources[index])
    got = {r.variant: r for r in evals.results(index, operation) if r.policy == policy}
    rows: list[tuple[str, str, bool, str]] = []
    for copy in evals.policies.copies(policy):
        r = got.get(copy.variant)
        if r is None:
            if not rows and not _plain_match(copy.match_constraints):
                rows.append(("", rid, True, "Excluded"))
        elif r.status == want:
            rows.append((r.rule, rid, True, "Ok"))
        else:
            detail = f": {r.message}" if r.message and r.status in ("fail", "error") else ""
            rows.append((r.rule, rid, False, f"Want {want}, got {r.status}{detail}"))
    return rows or [("", rid, False, "Not found")]


def _plain_match(mc: MatchConstraints) -> bool:
    """The CLI's `hasSelector` (which, despite its name, is true for plain matchConstraints)."""
    selectors = (mc.namespace_selector, mc.object_selector)
    return (
        all(s is None or s.empty for s in selectors)
        and not mc.exclude_resource_rules
        and len(mc.resource_rules) == 1
        and not mc.resource_rules[0].resource_names
    )


def _single(ctx: _Ctx, path: Path, kind: str) -> dict[str, Any]:
    docs = read_yaml_documents(path)
    if len(docs) != 1 or docs[0].get("kind") != kind or docs[0].get("apiVersion") != CONTEXT_API:
        raise ctx.fail(kind.lower(), f"{path}: expected one {CONTEXT_API} {kind} document")
    return docs[0]


def _load_context(ctx: _Ctx, base: Path, test: dict[str, Any]) -> OfflineContext | None:
    """Answers for resource.Get/List and image.GetMetadata: the `context:` file's resources and
    images, plus the resources of `clusterResources:` files, as `kyverno test` loads them."""
    if not any(test.get(k) for k in ("context", "clusterResources", "apiCallResponses")):
        return None
    found = OfflineContext()
    for i, raw in enumerate(_list(ctx, test.get("apiCallResponses"), "apiCallResponses")):
        p = f"apiCallResponses[{i}]"
        entry = _map(ctx, raw, p, {"method", "url", "urlPath", "response"})
        url = (_str(ctx, entry.get("url"), f"{p}.url") or _str(ctx, entry.get("urlPath"), f"{p}.urlPath")).strip()
        if not url:
            raise ctx.fail(p, "url (or urlPath) is required")
        response = _map(ctx, entry.get("response"), f"{p}.response", {"body", "statusCode"})
        method = _str(ctx, entry.get("method"), f"{p}.method").strip().upper()
        # as the CLI wraps a mocked body: the function returns {body, statusCode}
        found.http[f"{method}:{url}" if method else url] = {
            "body": response.get("body"),
            "statusCode": response.get("statusCode") or 200,
        }
    if test.get("context"):
        path = base / _str(ctx, test["context"], "context")
        doc = _map(ctx, _single(ctx, path, "Context"), "context", {"apiVersion", "kind", "metadata", "spec"})
        spec = _map(_Ctx(str(path)), doc.get("spec"), "spec", {"resources", "images"})
        found.resources += [r for r in _list(ctx, spec.get("resources"), "spec.resources") if isinstance(r, dict)]
        for i, img in enumerate(_list(ctx, spec.get("images"), "spec.images")):
            name = _str(_Ctx(str(path)), (img or {}).get("image"), f"spec.images[{i}].image", True)
            # the CLI passes the entry through its ImageData type: these keys are always present
            found.images[name] = {"resolvedImage": "", "registry": "", "repository": "", **img}
    for f in _relative(base, ctx, test.get("clusterResources"), "clusterResources"):
        doc = _single(ctx, f, "ClusterResource")
        spec = _map(_Ctx(str(f)), doc.get("spec"), "spec", {"resources", "crds"})
        for crd_file in _relative(base, ctx, spec.get("crds"), "spec.crds"):
            for crd in read_yaml_documents(crd_file):
                names = (crd.get("spec") or {}).get("names") or {}
                if crd.get("kind") == "CustomResourceDefinition" and names.get("kind") and names.get("plural"):
                    found.plurals[names["kind"]] = names["plural"]
        found.resources += [r for r in _list(ctx, spec.get("resources"), "spec.resources") if isinstance(r, dict)]
    return found


def _load_user_info(ctx: _Ctx, base: Path, test: dict[str, Any]) -> dict[str, Any] | None:
    """`request.userInfo` from the `userinfo:` file (cli.kyverno.io UserInfo: userInfo, roles, clusterRoles)."""
    if not test.get("userinfo"):
        return None
    path = base / _str(ctx, test["userinfo"], "userinfo")
    fctx = _Ctx(str(path))
    doc = _map(
        fctx,
        _single(ctx, path, "UserInfo"),
        "<document>",
        {"apiVersion", "kind", "metadata", "userInfo", "roles", "clusterRoles", "synchronize"},
    )
    info = _map(fctx, doc.get("userInfo"), "userInfo", {"username", "uid", "groups", "extra"})
    out: dict[str, Any] = {"username": _str(fctx, info.get("username"), "userInfo.username")}
    if info.get("uid"):
        out["uid"] = _str(fctx, info["uid"], "userInfo.uid")
    out["groups"] = list(_strs(fctx, info.get("groups"), "userInfo.groups"))
    if info.get("extra"):
        out["extra"] = info["extra"]
    return out


def _run_test(ctx: _Ctx, path: Path, test: dict[str, Any]) -> TestOutcome:
    if test.get("apiVersion") != TEST_API or test.get("kind") != "Test":
        raise ctx.fail("apiVersion/kind", f"expected {TEST_API} Test")
    used = [f for f in UNSUPPORTED if test.get(f)]
    if used:
        raise ctx.fail(used[0], "is not supported by the offline engine")
    base = path.parent
    policy_files = _relative(base, ctx, test.get("policies"), "policies")
    exceptions = load_exceptions(_relative(base, ctx, test.get("exceptions"), "exceptions"))
    policies = PolicySet(
        load_policy_objects(policy_files, other_kinds_ok=True), numbers_as_float=True, exceptions=exceptions
    )
    resources = _load_resources(ctx, _relative(base, ctx, test.get("resources"), "resources"))
    evals = _Evaluations(
        policies,
        resources,
        _load_namespaces(ctx, _values(ctx, base, test)),
        _load_context(ctx, base, test),
        _load_user_info(ctx, base, test),
    )
    rows: list[Row] = []
    for idx, row in enumerate(_list(ctx, test.get("results"), "results")):
        for policy, rule, rid, ok, reason in _check(ctx, row, idx, evals):
            rows.append(Row(len(rows) + 1, policy, rule, rid, ok, reason))
    return TestOutcome(path, _test_name(test, path), rows)


def _test_name(test: dict[str, Any], path: Path) -> str:
    meta = test.get("metadata")
    return str((meta.get("name") if isinstance(meta, dict) else None) or path.parent.name)


def run_test_file(path: Path) -> list[TestOutcome]:
    """Run every Test document of one file. A problem with a test (missing file, bad YAML, bad CEL,
    a feature the engine does not support) becomes that test's `error`, so a run goes on."""
    ctx = _Ctx(str(path))
    try:
        docs = read_yaml_documents(path)
    except PolicyError as exc:
        return [TestOutcome(path, path.parent.name, [], str(exc))]
    if not docs:
        return [TestOutcome(path, path.parent.name, [], f"{path}: no Test document")]
    outcomes = []
    for doc in docs:
        try:
            test = _map(ctx, doc, "<document>", TEST_FIELDS)
            outcomes.append(_run_test(ctx, path, test))
        except PolicyError as exc:
            outcomes.append(TestOutcome(path, _test_name(doc, path), [], str(exc)))
    return outcomes
