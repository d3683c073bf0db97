"""`stratops check`: the fleet repo's own CI gate, run on a work tree.

It reads the repo the way Flux does: the Flux Kustomizations under clusters/,
each path built like kustomize-controller (a folder without kustomization.yaml
gets one generated from its YAML files and its sub-folders that have one), every
HelmRelease rendered the way helm-controller does (through the same renderer as
the preflight), every object validated against the Kubernetes or Flux schemas,
every policy the repo ships run on every object with its namespace, and every
tenant's quota summed. Each problem is a finding naming the file and the object;
one broken folder never hides the problems of another.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from . import flux, kubeschema, layout
from .errors import Problem, UserError
from .fleet import Fleet
from .flux_refs import reference_problems
from .kustomize import KUSTOMIZATION_FILE
from .policy import PolicySet, load_policies
from .policy.model import PolicyError
from .preflight import Findings, check_folder
from .render import SPEC_FILE, STRATEGIES_DIR
from .spec import quantity
from .tenants import MAX_STRATEGIES, TENANT_LABEL, cpu_text, memory_text
from .yamlio import load_all, load_one

_SCANNED = ("clusters", "infrastructure", "policies", STRATEGIES_DIR)
_DEFAULT_PATHS = ["infrastructure", "policies", STRATEGIES_DIR]
_PLAIN_KUSTOMIZATION = {"apiVersion", "kind", "namespace", "resources"}
_CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "ValidatingPolicy",
}


@dataclass(frozen=True)
class Finding:
    stage: str  # yaml | layout | build | flux | kubernetes | render | values | policy | quota
    severity: str  # error | warning
    file: str
    object: str
    message: str

    @property
    def where(self) -> str:
        return f"{self.file} {self.object}".strip()

    def __str__(self) -> str:
        return f"[{self.stage}] {self.where}: {self.message}"


@dataclass
class Report(Findings):
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the folders and files looked at


@dataclass
class _Object:
    obj: dict[str, Any]
    file: str


def check_repo(path_or_fleet: Path | str | Fleet, changed_since: str | None = None) -> Report:
    """Check a fleet repo work tree; with `changed_since`, only what changed since that revision."""
    root = (path_or_fleet.path if isinstance(path_or_fleet, Fleet) else Path(path_or_fleet)).resolve()
    if not root.is_dir():
        raise UserError("cannot check the fleet repo", [Problem(str(root), "is not a folder", "give its folder")])
    changed = _changed_paths(root, changed_since) if changed_since else None
    report = _Checker(root, changed).run()
    if changed_since and changed:
        report.findings += _unbumped_charts(root, changed_since, changed)
    return report


def _unbumped_charts(root: Path, rev: str, changed: set[str]) -> list[Finding]:
    """A chart changed without a new Chart.yaml version never reaches the cluster: source-controller
    (reconcileStrategy ChartVersion) rebuilds a chart artifact only when the version changes."""
    findings = []
    for chart in sorted({"/".join(p.split("/")[:2]) for p in changed if p.startswith("charts/") and p.count("/") >= 2}):
        meta = root / chart / "Chart.yaml"
        old = subprocess.run(
            ["git", "show", f"{rev}:{chart}/Chart.yaml"], cwd=root, capture_output=True, text=True, check=False
        )
        if not meta.is_file() or old.returncode != 0:
            continue  # a chart added or removed: nothing cached to go stale
        try:
            before, after = (str((yaml.safe_load(t) or {}).get("version")) for t in (old.stdout, meta.read_text()))
        except (yaml.YAMLError, AttributeError):
            continue  # the chart's own checks report a broken Chart.yaml
        if before == after:
            findings.append(
                Finding(
                    "layout",
                    "error",
                    f"{chart}/Chart.yaml",
                    "",
                    f"the chart changed since {rev} but its version is still {after}: Flux would keep "
                    "running the old chart (bump `version`)",
                )
            )
    return findings


def _changed_paths(root: Path, rev: str) -> set[str]:
    """Files that differ between `rev` and the work tree, untracked ones included."""

    def git(*args: str) -> list[str]:
        run = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            raise UserError(
                f"cannot tell what changed since {rev!r}",
                [Problem(str(root), run.stderr.strip() or "git failed", "give a revision of this repo")],
            )
        return run.stdout.splitlines()

    git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return set(git("diff", "--name-only", "--no-renames", rev, "--")) | set(
        git("ls-files", "--others", "--exclude-standard")
    )


class _Checker:
    def __init__(self, root: Path, changed: set[str] | None):
        self.root = root
        self.report = Report()
        # Only strategy folders changed: check those (with the rest built quietly for namespaces and quotas).
        self.only: set[str] | None = None
        if changed is not None and all(_strategy_folder(p) for p in changed):
            self.only = {_strategy_folder(p) for p in changed}
        self.quiet = False
        self.flux_objects: list[tuple[dict[str, Any], str]] = []  # every Flux object Flux would apply

    def run(self) -> Report:
        if not (self.root / "stratops.yaml").is_file():
            self._add("layout", "stratops.yaml", "", "missing: this is not a stratops fleet repo")
        paths = self._flux_paths()
        built: dict[str, list[_Object]] = {}
        for path in paths:
            self.quiet = self.only is not None and path != STRATEGIES_DIR
            built[path] = self._build_path(path) if (self.root / path).is_dir() else []
        self.quiet = self.only is not None
        everything = [o for objs in built.values() for o in objs]
        namespaces = {o.obj["metadata"]["name"]: o.obj for o in everything if _is(o.obj, "v1", "Namespace")}
        policies = self._policies([o for o in everything if o.obj.get("kind") == "ValidatingPolicy"])
        for item in everything if self.only is None else []:  # unchanged infrastructure was checked before
            self._validate(item)
            self._admit(item, namespaces, policies)
        self.quiet = False
        self.flux_objects += [(o.obj, o.file) for o in everything if flux.is_flux(o.obj)]
        self.accounts = [(o.obj, o.file) for o in everything if _is(o.obj, "v1", "ServiceAccount")]
        self._strategies(namespaces, policies, everything)
        self._references(namespaces)
        self.report.checked.sort()
        return self.report

    def _references(self, namespaces: dict[str, dict[str, Any]]) -> None:
        labels = {name: (ns.get("metadata") or {}).get("labels") or {} for name, ns in namespaces.items()}
        tenants = {name for name, found in labels.items() if TENANT_LABEL in found}
        for problem in reference_problems(self.flux_objects, tenants, self.accounts):
            self.quiet = self.only is not None and _strategy_folder(problem.file) not in self.only
            self._add("flux", problem.file, problem.object, problem.message, problem.severity)
        self.quiet = False

    # --- findings -----------------------------------------------------------------

    def _add(self, stage: str, file: str, obj: str, message: str, severity: str = "error") -> None:
        if not self.quiet:
            self.report.findings.append(Finding(stage, severity, file, obj, message))

    def _load(self, rel: str) -> list[Any] | None:
        try:
            return load_all((self.root / rel).read_text(encoding="utf-8"), rel)
        except UnicodeDecodeError:
            self._add("yaml", rel, "", "is not UTF-8 text")
        except UserError as exc:
            for p in exc.problems:
                self._add("yaml", rel, "", f"{p.what} (at {p.where})")
        return None

    # --- clusters/<c>/: the Flux Kustomizations ---------------------------------------

    def _flux_paths(self) -> list[str]:
        clusters = sorted(p for p in (self.root / "clusters").glob("*/**/*.y*ml") if p.is_file())
        if not clusters:
            self._add("layout", "clusters/", "", "no Flux Kustomizations: Flux would apply nothing")
            return _DEFAULT_PATHS
        paths: list[str] = []
        names: dict[str, set[str]] = {}
        kustomizations: list[tuple[str, dict[str, Any]]] = []
        for file in clusters:
            rel = file.relative_to(self.root).as_posix()
            self.report.checked.append(rel)
            self.quiet = self.only is not None
            for doc in self._load(rel) or []:
                if not isinstance(doc, dict):
                    self._add("yaml", rel, "", "holds a document that is not a Kubernetes object")
                    continue
                if not flux.is_flux(doc):
                    continue  # flux bootstrap's own components (clusters/<c>/flux-system/)
                self._validate(_Object(doc, rel))
                self.flux_objects.append((doc, rel))
                cluster = PurePosixPath(rel).parts[1]
                if _is(doc, "kustomize.toolkit.fluxcd.io/v1", "Kustomization"):
                    kustomizations.append((rel, doc))
                    names.setdefault(cluster, set()).add((doc.get("metadata") or {}).get("name"))
        for rel, doc in kustomizations:
            spec, ref = doc.get("spec") or {}, kubeschema.object_ref(doc)
            path = PurePosixPath(str(spec.get("path", "."))).as_posix().removeprefix("./")
            if path.startswith("..") or not (self.root / path).is_dir():
                self._add("layout", rel, ref, f"spec.path {spec.get('path')!r} is not a folder of this repo")
            elif path not in paths and path != f"clusters/{PurePosixPath(rel).parts[1]}":
                paths.append(path)
            for dep in spec.get("dependsOn") or []:
                cluster = PurePosixPath(rel).parts[1]
                if isinstance(dep, dict) and dep.get("name") not in names.get(cluster, set()):
                    self._add("layout", rel, ref, f"dependsOn {dep.get('name')!r}: no such Kustomization in {cluster}")
        self.quiet = False
        return paths

    # --- building a path the way kustomize-controller does -----------------------------

    def _build_path(self, rel: str) -> list[_Object]:
        folder = self.root / rel
        if (folder / KUSTOMIZATION_FILE).is_file():
            return self._build_kustomization(rel)
        out: list[_Object] = []
        for child in sorted(folder.iterdir()):
            child_rel = f"{rel}/{child.name}"
            if child.name.startswith("."):
                continue
            if child.is_dir():
                out += self._build_path(child_rel)
            elif child.suffix in (".yaml", ".yml"):
                out += self._resource_file(child_rel)
        return out

    def _resource_file(self, rel: str) -> list[_Object]:
        self.report.checked.append(rel)
        out = []
        for doc in self._load(rel) or []:
            if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
                self._add("build", rel, "", "holds a document that is not a Kubernetes object (Flux fails on it)")
            elif not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
                self._add("build", rel, kubeschema.object_ref(doc), "has no metadata.name")
            else:
                out.append(_Object(doc, rel))
        return out

    def _build_kustomization(self, rel: str) -> list[_Object]:
        if rel.startswith(f"{STRATEGIES_DIR}/"):
            return []  # strategy folders are rendered whole in _strategies
        kust_rel = f"{rel}/{KUSTOMIZATION_FILE}"
        self.report.checked.append(kust_rel)
        docs = self._load(kust_rel)
        if docs is None:
            return []
        kust = docs[0] if len(docs) == 1 else None
        if not isinstance(kust, dict):
            self._add("build", kust_rel, "", "must hold one kustomization mapping")
            return []
        unknown = sorted(set(kust) - _PLAIN_KUSTOMIZATION)
        if unknown:
            self._add("build", kust_rel, "", f"fields {', '.join(unknown)} are only supported in strategy folders")
        out: list[_Object] = []
        for entry in kust.get("resources") or []:
            target = PurePosixPath(rel, str(entry))
            resolved = (self.root / target).resolve()
            if not resolved.is_relative_to(self.root) or ".." in PurePosixPath(str(entry)).parts:
                self._add("build", kust_rel, "", f"resource {entry!r} is outside the folder")
            elif resolved.is_dir():
                out += self._build_path(target.as_posix())
            elif resolved.is_file():
                out += self._resource_file(target.as_posix())
            else:
                self._add("build", kust_rel, "", f"resource {entry!r} does not exist")
        if isinstance(kust.get("namespace"), str):
            for item in out:
                if item.obj.get("kind") not in _CLUSTER_SCOPED:  # kustomize leaves those without a namespace
                    item.obj.setdefault("metadata", {})["namespace"] = kust["namespace"]
        return out

    # --- schemas and policies -----------------------------------------------------------

    def _validate(self, item: _Object) -> None:
        obj, ref = item.obj, kubeschema.object_ref(item.obj)
        if flux.is_flux(obj):
            for p in flux.validate(obj):
                self._add("flux", item.file, ref, f"{p.where.removeprefix(ref).strip()}: {p.what}")
        elif kubeschema.has_schema(obj):
            for p in kubeschema.validate(obj):
                self._add("kubernetes", item.file, ref, f"{p.where.removeprefix(ref).strip()}: {p.what}")
        elif obj.get("kind") != "ValidatingPolicy":
            self._add(
                "kubernetes", item.file, ref, f"no schema for {obj.get('apiVersion')} {obj.get('kind')}", "warning"
            )

    def _policies(self, items: list[_Object]) -> PolicySet | None:
        files = sorted({i.file for i in items})
        if not files:
            self._add(
                "policy", "policies/", "", "no ValidatingPolicy is applied: nothing guards tenant pods", "warning"
            )
            return None
        try:
            return load_policies([self.root / f for f in files])
        except PolicyError:
            pass  # find the broken files, keep the others
        unchecked = "no object was checked against the policies of this file"
        loadable = []
        for file in files:  # one broken file must not keep the others from checking every object
            try:
                load_policies([self.root / file])
                loadable.append(file)
            except PolicyError as exc:
                self._add("policy", file, "", f"{str(exc).removeprefix(f'{self.root / file}: ')} ({unchecked})")
        try:
            return load_policies([self.root / f for f in loadable]) if loadable else None
        except PolicyError as exc:  # each file loads alone: the conflict is between them
            self._add("policy", "policies/", "", f"{exc} (no object was checked against the policies)")
            return None

    def _admit(self, item: _Object, namespaces: dict[str, dict[str, Any]], policies: PolicySet | None) -> None:
        if policies is None:
            return
        ns = (item.obj.get("metadata") or {}).get("namespace")
        for result in policies.evaluate(item.obj, namespaces.get(ns) if ns else None):
            if result.status in ("fail", "error"):
                severity = "error" if "Deny" in result.actions or result.status == "error" else "warning"
                ref = kubeschema.object_ref(item.obj)
                self._add("policy", item.file, ref, f"{result.policy}: {result.message}", severity)

    # --- strategies --------------------------------------------------------------------

    def _strategies(
        self, namespaces: dict[str, dict[str, Any]], policies: PolicySet | None, infra: list[_Object]
    ) -> None:
        usage: dict[str, list[tuple[str, Decimal, Decimal]]] = {}
        base = self.root / STRATEGIES_DIR
        folders = sorted(p for p in base.glob("*/*") if p.is_dir()) if base.is_dir() else []
        for folder in folders:
            rel = folder.relative_to(self.root).as_posix()
            tenant, name = folder.parent.name, folder.name
            if self.only is not None and rel not in self.only:
                usage.setdefault(tenant, []).append((rel, *_requested(folder)))  # counted, not rendered
                self.flux_objects += _releases(folder, rel, tenant)
                continue
            if not (folder / KUSTOMIZATION_FILE).is_file():
                self._add("layout", rel, "", "has no kustomization.yaml: Flux applies its YAML files as they are")
                usage.setdefault(tenant, []).append((rel, *_requested(folder)))
                continue
            self.report.checked.append(rel)
            used = self._strategy(folder, rel, tenant, name, namespaces, policies)
            usage.setdefault(tenant, []).append((rel, *used))
        self.quiet = False
        self._quotas(usage, namespaces, infra)

    def _strategy(
        self,
        folder: Path,
        rel: str,
        tenant: str,
        name: str,
        namespaces: dict[str, dict[str, Any]],
        policies: PolicySet | None,
    ) -> tuple[Decimal, Decimal]:
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self._spec_matches(files, rel, tenant, name)
        namespace = namespaces.get(tenant)
        if namespace is None:
            self._add(
                "layout",
                rel,
                f"Namespace/{tenant}",
                f"tenant namespace {tenant!r} is not defined under infrastructure/ (`stratops tenant add {tenant}`)",
            )
        report = check_folder(files, rel, self.root, namespace, policies)
        for f in report.findings:
            obj, message = _split_where(f.where, rel)
            self._add(f.stage, _file_of(rel, f.where), obj, f"{message}{f.message}", f.severity)
        rendered = report.rendered
        if rendered is None:  # kustomize could not build it: the preflight said what was not checked
            return _requested(folder)
        if sum(o.get("kind") == "HelmRelease" for o in rendered.built) != 1:
            self._add("layout", rel, "", "must build exactly one HelmRelease (the strategy's release)")
        for obj in rendered.built:
            if flux.is_flux(obj):
                self._validate(_Object(obj, f"{rel}/helmrelease.yaml"))
                self.flux_objects.append((obj, f"{rel}/helmrelease.yaml"))
            if obj.get("metadata", {}).get("namespace") != tenant:
                ref = kubeschema.object_ref(obj)
                self._add("layout", f"{rel}/{KUSTOMIZATION_FILE}", ref, f"is not in the tenant's namespace {tenant!r}")
        if rendered.failed:  # the chart's objects are missing: count what the spec asks for
            return _requested(folder)
        cpu = memory = Decimal(0)
        for obj in rendered.objects:
            for container in _containers(obj):
                requests = (container.get("resources") or {}).get("requests") or {}
                cpu += quantity(str(requests.get("cpu", "0"))) or 0
                memory += quantity(str(requests.get("memory", "0"))) or 0
        return cpu, memory

    def _spec_matches(self, files: dict[str, bytes], rel: str, tenant: str, name: str) -> None:
        if SPEC_FILE not in files:
            self._add("layout", rel, "", f"has no {SPEC_FILE}: the strategy cannot be redeployed or rolled back")
            return
        try:
            doc = load_one(files[SPEC_FILE].decode("utf-8"), f"{rel}/{SPEC_FILE}")
        except (UserError, UnicodeDecodeError) as exc:
            self._add("yaml", f"{rel}/{SPEC_FILE}", "", getattr(exc, "title", "is not UTF-8 text"))
            return
        meta = (doc.get("metadata") or {}) if isinstance(doc, dict) else {}
        if meta.get("tenant") != tenant or meta.get("name") != name:
            self._add(
                "layout",
                f"{rel}/{SPEC_FILE}",
                f"Strategy/{meta.get('tenant')}/{meta.get('name')}",
                f"says {meta.get('tenant')}/{meta.get('name')} but lives in the folder of {tenant}/{name}",
            )

    def _quotas(
        self,
        usage: dict[str, list[tuple[str, Decimal, Decimal]]],
        namespaces: dict[str, dict[str, Any]],
        infra: list[_Object],
    ) -> None:
        quotas = {o.obj["metadata"].get("namespace"): o for o in infra if _is(o.obj, "v1", "ResourceQuota")}
        for tenant, rows in sorted(usage.items()):
            self.quiet = self.only is not None and not any(r[0] in self.only for r in rows)
            annotations = (namespaces.get(tenant, {}).get("metadata") or {}).get("annotations") or {}
            limit = annotations.get(MAX_STRATEGIES)
            ns_file = f"{layout.TENANTS_DIR}/{tenant}/namespace.yaml"
            if limit is not None and str(limit).isdigit() and len(rows) > int(limit):
                self._add("quota", ns_file, f"Namespace/{tenant}", f"{len(rows)} strategies > max-strategies {limit}")
            quota = quotas.get(tenant)
            hard = ((quota.obj.get("spec") or {}).get("hard") or {}) if quota else {}
            for index, key, text in ((1, "requests.cpu", cpu_text), (2, "requests.memory", memory_text)):
                cap = quantity(str(hard[key])) if key in hard else None
                total = sum((r[index] for r in rows), Decimal(0))
                if cap is not None and total > cap:
                    self._add(
                        "quota",
                        quota.file,
                        kubeschema.object_ref(quota.obj),
                        f"{key}: the {len(rows)} strategies request {text(total)} > quota {hard[key]}",
                    )
        self.quiet = False
        for tenant in sorted(usage):
            ns = namespaces.get(tenant)
            if ns is not None and TENANT_LABEL not in ((ns.get("metadata") or {}).get("labels") or {}):
                self._add(
                    "layout",
                    f"{layout.TENANTS_DIR}/{tenant}",
                    f"Namespace/{tenant}",
                    f"lacks the {TENANT_LABEL} label: the tenant policies would not apply",
                    "warning",
                )


def _is(obj: dict[str, Any], api_version: str, kind: str) -> bool:
    return obj.get("apiVersion") == api_version and obj.get("kind") == kind


def _strategy_folder(path: str) -> str:
    parts = PurePosixPath(path).parts
    return "/".join(parts[:3]) if len(parts) >= 4 and parts[0] == STRATEGIES_DIR else ""


def _split_where(where: str, rel: str) -> tuple[str, str]:
    """A preflight finding's `where` -> (object, message prefix).

    Preflight writes "<folder>/<file>...", "HelmRelease <name> values.<path>", "<Kind>/<ns>/<name> <path>"
    or "<policy> on <Kind>/<ns>/<name>".
    """
    text = where.removeprefix(f"{rel}/").removeprefix(rel).strip(": ")
    if " on " in text:
        policy, _, obj = text.partition(" on ")
        return obj, f"{policy}: "
    head, _, rest = text.partition(" ")
    if "/" in head and head[:1].isupper():
        return head, f"{rest}: " if rest else ""
    if head == "HelmRelease":
        name, _, tail = rest.partition(" ")
        return f"HelmRelease/{name}", f"{tail}: " if tail else ""
    return "", f"{text}: " if text else ""


def _file_of(rel: str, where: str) -> str:
    head = where.split(":")[0].split(" ")[0]
    return head if head.startswith(f"{rel}/") else rel


def _requested(folder: Path) -> tuple[Decimal, Decimal]:
    """CPU and memory a strategy folder asks for, read from its spec without rendering it."""
    try:
        doc = load_one((folder / SPEC_FILE).read_text(encoding="utf-8"), str(folder))
        resources = doc["spec"]["resources"]
        return quantity(str(resources["cpu"])) or Decimal(0), quantity(str(resources["memory"])) or Decimal(0)
    except (OSError, UnicodeDecodeError, UserError, KeyError, TypeError):
        return Decimal(0), Decimal(0)


def _releases(folder: Path, rel: str, tenant: str) -> list[tuple[dict[str, Any], str]]:
    """An unchanged strategy folder's HelmReleases, read without rendering (for references to them)."""
    try:
        docs = load_all((folder / "helmrelease.yaml").read_text(encoding="utf-8"), rel)
    except (OSError, UnicodeDecodeError, UserError):
        return []
    out = []
    for doc in docs:
        if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
            doc["metadata"]["namespace"] = tenant
            out.append((doc, f"{rel}/helmrelease.yaml"))
    return out


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = (obj.get("spec") or {}).get("template", {}).get("spec") or {}
    return list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
