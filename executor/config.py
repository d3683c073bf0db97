"""executor.json (docs/internals.md) and its environment overrides."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_OVERRIDES = {
    "STRATOPS_FEED_ENDPOINT": "feed_endpoint",
    "STRATOPS_SNAPSHOT_ENDPOINT": "snapshot_endpoint",
    "STRATOPS_SINK_ENDPOINT": "sink_endpoint",
    "STRATOPS_HTTP_PORT": "http_port",
    "STRATOPS_STATE_DIR": "state_dir",
    "STRATOPS_CODE_DIR": "code_dir",
    "STRATOPS_HTTP_SOCKET": "http_socket",
    "STRATOPS_HTTP_FD": "http_fd",
}


class ConfigError(ValueError):
    pass


@dataclass(slots=True)
class ExecutorConfig:
    name: str
    tenant: str
    code_dir: Path
    code_file: str
    code_class: str
    subscriptions: list[str]
    feed_endpoint: str
    sink_endpoint: str
    code_sha256: str | None = None
    snapshot_endpoint: str | None = None  # the feed proxy's last-value cache (docs/wire-format.md)
    params: dict[str, Any] = field(default_factory=dict)
    http_port: int = 8080
    http_host: str = "0.0.0.0"
    http_socket: str | None = None  # serve the probes on this unix socket instead of TCP
    http_fd: int | None = None  # ... or on this listening socket, handed over by the local runtime
    state_dir: Path = Path("/var/lib/stratops/state")
    handler_timeout: float = 5.0
    max_consecutive_errors: int = 10
    watchdog_exit_delay: float = 1.0
    rcvhwm: int = 100_000
    sndhwm: int = 10_000
    stale_seconds: float = 10.0
    audit_hook: bool = True
    cpu: str | None = None
    memory: str | None = None
    clock: str = "wall"  # "data": a backtest (executor.replay): events and timers on the data's clock


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise ConfigError(f"{where}.{key} is required")
    return obj[key]


def from_dict(raw: dict[str, Any]) -> ExecutorConfig:
    if raw.get("kind", "ExecutorConfig") != "ExecutorConfig":
        raise ConfigError(f"kind must be ExecutorConfig, got {raw.get('kind')!r}")
    strategy, code = _require(raw, "strategy", "$"), _require(raw, "code", "$")
    limits, http = raw.get("limits", {}), raw.get("http", {})
    subs = _require(raw, "subscriptions", "$")
    if not isinstance(subs, list) or not all(isinstance(s, str) and s for s in subs):
        raise ConfigError("$.subscriptions must be a list of topic strings")
    return ExecutorConfig(
        name=str(_require(strategy, "name", "$.strategy")),
        tenant=str(strategy.get("tenant", "")),
        code_dir=Path(code.get("dir", "/opt/stratops/code")),
        code_file=str(_require(code, "file", "$.code")),
        code_class=str(_require(code, "class", "$.code")),
        code_sha256=code.get("sha256") or None,
        subscriptions=subs,
        params=dict(raw.get("params") or {}),
        feed_endpoint=str(_require(raw.get("feed", {}), "endpoint", "$.feed")),
        sink_endpoint=str(_require(raw.get("sink", {}), "endpoint", "$.sink")),
        snapshot_endpoint=raw.get("feed", {}).get("snapshot") or None,
        http_port=int(http.get("port", 8080)),
        http_host=str(http.get("host", "0.0.0.0")),
        state_dir=Path(raw.get("stateDir", "/var/lib/stratops/state")),
        handler_timeout=float(limits.get("handlerTimeoutSeconds", 5)),
        max_consecutive_errors=int(limits.get("maxConsecutiveErrors", 10)),
        watchdog_exit_delay=float(limits.get("watchdogExitDelaySeconds", 1.0)),
        audit_hook=bool(raw.get("auditHook", True)),
        cpu=limits.get("cpu"),
        memory=limits.get("memory"),
        clock=_clock(raw.get("clock", "wall")),
    )


def _clock(value: Any) -> str:
    if value not in ("wall", "data"):
        raise ConfigError(f"$.clock must be 'wall' or 'data', got {value!r}")
    return value


def apply_env(cfg: ExecutorConfig, env: dict[str, str] | os._Environ[str]) -> ExecutorConfig:
    for var, attr in ENV_OVERRIDES.items():
        value = env.get(var)
        if not value:
            continue
        if attr in ("http_port", "http_fd"):
            setattr(cfg, attr, int(value))
        elif attr in ("state_dir", "code_dir"):
            setattr(cfg, attr, Path(value))
        else:
            setattr(cfg, attr, value)
    return cfg


def load_config(path: Path, env: dict[str, str] | os._Environ[str] | None = None) -> ExecutorConfig:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object")
    return apply_env(from_dict(raw), os.environ if env is None else env)
