"""Offline Kyverno ValidatingPolicy engine (CEL via cel-expr-python).

from generator.policy import load_policies, PolicySet, PolicyResult, PolicyError
policies = load_policies([Path("policies")])
results = policies.evaluate(obj, namespace=ns_obj, operation="CREATE")
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .engine import PolicySet
from .load import load_policy_objects
from .model import PolicyError, PolicyResult

__all__ = ["PolicyError", "PolicyResult", "PolicySet", "load_policies"]


def load_policies(paths: Iterable[Path | str], numbers_as_float: bool = False) -> PolicySet:
    """Load every ValidatingPolicy under `paths` (files or directories, recursive,
    skipping `.kyverno-test` folders), add autogen copies and compile all CEL.

    Raises PolicyError with a message naming the file, policy and field at fault.
    """
    return PolicySet(load_policy_objects(Path(p) for p in paths), numbers_as_float=numbers_as_float)
