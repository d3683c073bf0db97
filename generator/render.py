"""Strategy -> Helm values -> the files of its folder in the fleet repo.

jinja2 writes YAML only through `tojson` (JSON is YAML), values.yaml is JSON
(Helm reads it as YAML 1.1, where a bare `y` or `off` is a boolean: JSON quotes
every string, so every reader sees the same data), and the other files go
through a YAML serializer that quotes such strings: no user text is ever
concatenated into YAML.
"""

from __future__ import annotations

from functools import cache
from pathlib import PurePosixPath
from typing import Any

import jinja2

from . import yamlio
from .assets import TEMPLATES_DIR
from .spec import Strategy, canonical_json

STRATEGIES_DIR = "strategies"
SPEC_FILE = "strategy.yaml"
VALUES_FILE = "values.yaml"
GENERATED_HEADER = "# Rendered by stratops from strategy.yaml. Edit the spec and redeploy instead of this file.\n"


@cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )


def strategy_dir(tenant: str, name: str) -> PurePosixPath:
    """The folder of one strategy. Only call with validated DNS-1123 labels."""
    return PurePosixPath(STRATEGIES_DIR, tenant, name)


def values_for(strategy: Strategy) -> dict[str, Any]:
    """The chart values for a strategy (what `values.yaml` holds)."""
    values = {
        "strategy": {"name": strategy.name, "tenant": strategy.tenant},
        "code": {"file": strategy.code_file, "class": strategy.code_class, "sha256": strategy.code_sha256},
        "subscriptions": list(strategy.subscriptions),
        "params": strategy.params,
        "resources": {"cpu": strategy.cpu, "memory": strategy.memory},
        "state": {"persistent": strategy.persistent_state, "size": strategy.state_size},
    }
    if strategy.pod_monitor:  # only when asked: the values (and digests) of other strategies stay as they were
        values["podMonitor"] = {"enabled": True, "interval": strategy.scrape_interval}
    return values


def dump_yaml(data: Any, header: str = "") -> str:
    return yamlio.dump(data, header)


def folder_files(strategy: Strategy) -> dict[str, bytes]:
    """Every file of the strategy's folder, by name relative to the folder."""
    names = {
        "name": strategy.name,
        "tenant": strategy.tenant,
        "code_file": strategy.code_file,
        "values_configmap": f"{strategy.name}-values",
        "code_configmap": f"{strategy.name}-code",
    }
    env = _templates()
    files = {
        SPEC_FILE: dump_yaml(
            strategy.document(), f"# The strategy as submitted (normalized). Spec-Digest: {strategy.digest}\n"
        ),
        VALUES_FILE: GENERATED_HEADER + yamlio.portable_json(values_for(strategy), indent=2) + "\n",
        "helmrelease.yaml": env.get_template("helmrelease.yaml.j2").render(**names),
        "kustomization.yaml": env.get_template("kustomization.yaml.j2").render(**names),
        "kustomizeconfig.yaml": (TEMPLATES_DIR / "kustomizeconfig.yaml").read_text(),
        strategy.code_file: strategy.source,
    }
    return {name: text.encode() for name, text in files.items()}


def fingerprint(files: dict[str, bytes]) -> str:
    """A stable text identity of a folder's content, for change detection in tests and diffs."""
    return canonical_json({k: v.decode(errors="replace") for k, v in sorted(files.items())})
