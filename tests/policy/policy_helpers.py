"""Constants and builders shared by the policy-engine tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
UPSTREAM = Path(__file__).parent / "fixtures" / "upstream"


def policy_yaml(name: str = "p", spec: str = "", api_version: str = "policies.kyverno.io/v1") -> str:
    """A ValidatingPolicy document; `spec` is YAML indented under spec:."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return f"apiVersion: {api_version}\nkind: ValidatingPolicy\nmetadata:\n  name: {name}\nspec:\n{body}\n"


PODS_RULE = """
matchConstraints:
  resourceRules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["pods"]
"""
