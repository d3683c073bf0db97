"""Typed dataclasses for Kyverno ValidatingPolicy and the results the engine returns.

The loader turns YAML into these objects once; the engine never looks at raw dicts
of a policy again, so a typo in a policy is caught at load time, not at evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "error", "skip"]


class PolicyError(Exception):
    """A user-facing problem with a policy, a test file or a resource file.

    The message is meant to be printed as is: it names the file, the policy and
    the field or expression at fault, never a stack trace.
    """


@dataclass(frozen=True)
class PolicyResult:
    policy: str
    resource: str  # "apiVersion/Kind/namespace/name" (namespace empty for cluster-scoped)
    status: Status
    message: str
    actions: tuple[str, ...]
    variant: str = ""  # the autogen copy that produced it ("defaults", "cronjobs"), "" for the policy
    rule: str = ""  # as Kyverno names the rule response: "" for a ValidatingPolicy, "exception" when exempted


@dataclass(frozen=True)
class LabelSelectorRequirement:
    key: str
    operator: str  # In, NotIn, Exists, DoesNotExist
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.match_expressions


@dataclass(frozen=True)
class ResourceRule:
    api_groups: tuple[str, ...] = ()
    api_versions: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    scope: str = "*"


@dataclass(frozen=True)
class MatchConstraints:
    resource_rules: tuple[ResourceRule, ...] = ()
    exclude_resource_rules: tuple[ResourceRule, ...] = ()
    namespace_selector: LabelSelector | None = None
    object_selector: LabelSelector | None = None
    match_policy: str = "Equivalent"


@dataclass(frozen=True)
class NamedExpression:
    """A variable or a matchCondition: a name and one CEL expression."""

    name: str
    expression: str


@dataclass(frozen=True)
class Validation:
    expression: str
    message: str = ""
    message_expression: str = ""
    reason: str = ""


@dataclass(frozen=True)
class AuditAnnotation:
    key: str
    value_expression: str


@dataclass(frozen=True)
class Policy:
    """One ValidatingPolicy, or one autogen copy of it (same name, other variant)."""

    name: str
    source: str  # file the policy came from, for error messages
    api_version: str
    match_constraints: MatchConstraints
    validations: tuple[Validation, ...]
    variables: tuple[NamedExpression, ...] = ()
    match_conditions: tuple[NamedExpression, ...] = ()
    audit_annotations: tuple[AuditAnnotation, ...] = ()
    failure_policy: str = "Fail"
    validation_actions: tuple[str, ...] = ("Deny",)
    # None = autogen field absent (all controllers); () = explicitly none.
    autogen_controllers: tuple[str, ...] | None = None
    variant: str = ""  # "" for the policy as written, "defaults" / "cronjobs" for autogen copies
    raw_spec: dict[str, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class PolicyException:
    """A policies.kyverno.io PolicyException: when all its matchConditions hold, the policies it
    names are skipped (no images/allowedValues) or see those lists in the `exceptions` variable."""

    name: str
    source: str
    policy_names: tuple[str, ...]
    match_conditions: tuple[NamedExpression, ...] = ()
    images: tuple[str, ...] = ()
    allowed_values: tuple[str, ...] = ()

    @property
    def full(self) -> bool:
        return not self.images and not self.allowed_values
