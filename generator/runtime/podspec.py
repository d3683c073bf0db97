"""The rendered Deployment -> what the local runtime runs: command, env, limits, probes, volumes, grace period.

Only what the kubelet would act on is taken, and anything the local runtime cannot honour
faithfully (another image, env from secrets, unknown volume types) is refused with a message,
so a strategy never runs locally in a way it would not run in the cluster.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from ..spec import is_dns_label

EXECUTOR_IMAGE = "ghcr.io/stratops/executor"
DEFAULT_UID = 10001  # the executor image's USER
ENTRYPOINT = ["python", "-m", "executor"]
CONTRACT_ENV = {  # container path (docs/internals.md) -> the executor's override variable
    "/opt/stratops/code": "STRATOPS_CODE_DIR",
    "/var/lib/stratops/state": "STRATOPS_STATE_DIR",
    "/tmp": "TMPDIR",
}


class PodSpecError(ValueError):
    pass


@dataclass(frozen=True)
class Probe:
    path: str
    period: float = 10.0
    failure_threshold: int = 3
    initial_delay: float = 0.0
    timeout: float = 1.0


@dataclass(frozen=True)
class Volume:
    kind: str  # configMap | emptyDir | persistentVolumeClaim
    name: str
    files: dict[str, bytes] = field(default_factory=dict)  # configMap: path -> content
    claim: str = ""


@dataclass(frozen=True)
class PodSpec:
    key: str
    argv: list[str]  # container paths, rewritten per run
    env: dict[str, str]
    cpu: str | None
    memory: str | None
    mounts: dict[str, Volume]  # mountPath -> volume
    startup: Probe | None
    liveness: Probe | None
    readiness: Probe | None
    pre_stop: str | None
    grace: float
    template_hash: str
    run_as_user: int = 10001
    run_as_group: int = 10001
    read_only: frozenset[str] = frozenset()  # mountPaths mounted readOnly


def extract(key: str, objects: list[dict[str, Any]]) -> PodSpec:
    """Admission validated the schemas first; a shape error here still becomes a message, never a crash."""
    try:
        return _extract(key, objects)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        if isinstance(exc, PodSpecError):
            raise
        raise PodSpecError(f"the Deployment is malformed ({type(exc).__name__}: {exc})") from None


def _extract(key: str, objects: list[dict[str, Any]]) -> PodSpec:
    deployments = [o for o in objects if o.get("kind") == "Deployment"]
    if len(deployments) != 1:
        raise PodSpecError(f"expected one Deployment in the rendered objects, found {len(deployments)}")
    template = (deployments[0].get("spec") or {}).get("template") or {}
    pod = template.get("spec") or {}
    containers = pod.get("containers") or []
    if len(containers) != 1:
        raise PodSpecError(f"the local runtime runs pods of one container, this one has {len(containers)}")
    container = containers[0]
    image = str(container.get("image", ""))
    repository = image.split("@")[0].rsplit(":", 1)[0]
    if repository != EXECUTOR_IMAGE and not repository.endswith("/executor"):  # a fleet's own registry (init --image)
        raise PodSpecError(f"image {image!r}: the local runtime runs only {EXECUTOR_IMAGE} (or <registry>/executor)")
    config_maps = {
        o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap" and o.get("metadata", {}).get("name")
    }
    volumes = {v.get("name"): _volume(v, config_maps) for v in pod.get("volumes") or []}
    mounts, read_only = {}, set()
    for mount in container.get("volumeMounts") or []:
        if mount.get("name") not in volumes:
            raise PodSpecError(f"volumeMount {mount.get('name')!r} names no volume")
        if mount.get("subPath"):
            raise PodSpecError(f"volumeMount {mount.get('name')!r}: subPath is not supported locally")
        path = str(mount["mountPath"]).rstrip("/") or "/"
        if not path.startswith("/") or any(part in (".", "..") for part in path.split("/")):
            raise PodSpecError(f"volumeMount {mount.get('name')!r}: mountPath {path!r} must be an absolute, plain path")
        mounts[path] = volumes[mount["name"]]
        if mount.get("readOnly"):
            read_only.add(path)
    uid, gid = _identity(pod, container)
    limits = (container.get("resources") or {}).get("limits") or {}
    lifecycle = ((container.get("lifecycle") or {}).get("preStop") or {}).get("httpGet") or {}
    digest = hashlib.sha256(json.dumps([template, _mounted_data(mounts)], sort_keys=True).encode()).hexdigest()
    return PodSpec(
        key=key,
        argv=_argv(container),
        env=_env(container),
        cpu=str(limits["cpu"]) if "cpu" in limits else None,
        memory=str(limits["memory"]) if "memory" in limits else None,
        mounts=mounts,
        startup=_probe(container.get("startupProbe")),
        liveness=_probe(container.get("livenessProbe")),
        readiness=_probe(container.get("readinessProbe")),
        pre_stop=lifecycle.get("path"),
        grace=float(pod.get("terminationGracePeriodSeconds", 30)),
        template_hash=digest[:16],
        run_as_user=uid,
        run_as_group=gid,
        read_only=frozenset(read_only),
    )


def _identity(pod: dict[str, Any], container: dict[str, Any]) -> tuple[int, int]:
    """runAsUser/runAsGroup, the container's over the pod's, as the kubelet reads them; never root locally."""
    merged = {**(pod.get("securityContext") or {}), **(container.get("securityContext") or {})}
    uid, gid = merged.get("runAsUser", DEFAULT_UID), merged.get("runAsGroup", DEFAULT_UID)
    for what, value in (("runAsUser", uid), ("runAsGroup", gid)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise PodSpecError(f"securityContext.{what} {value!r}: the local sandbox runs only a non-root id")
    return uid, gid


def _argv(container: dict[str, Any]) -> list[str]:
    command = [str(c) for c in container.get("command") or ENTRYPOINT]
    if command[:3] != ENTRYPOINT and command[:1] not in (["python"], ["python3"]):
        raise PodSpecError(f"command {command!r}: the local runtime runs only `python ...` in the executor image")
    return [sys.executable, *command[1:], *(str(a) for a in container.get("args") or [])]


def _env(container: dict[str, Any]) -> dict[str, str]:
    env = {}
    for item in container.get("env") or []:
        if "value" not in item:
            raise PodSpecError(f"env {item.get('name')!r}: only literal values are supported locally")
        env[str(item["name"])] = str(item["value"])
    return env


def _probe(raw: dict[str, Any] | None) -> Probe | None:
    if not raw:
        return None
    http = raw.get("httpGet")
    if not http:
        raise PodSpecError("only httpGet probes are supported locally")
    return Probe(
        path=str(http.get("path", "/")),
        period=float(raw.get("periodSeconds", 10)),
        failure_threshold=int(raw.get("failureThreshold", 3)),
        initial_delay=float(raw.get("initialDelaySeconds", 0)),
        timeout=float(raw.get("timeoutSeconds", 1)),
    )


def _volume(raw: dict[str, Any], config_maps: dict[str, dict[str, Any]]) -> Volume:
    name = _label(raw.get("name"), "volume name")
    if "emptyDir" in raw:
        return Volume("emptyDir", name)
    if "persistentVolumeClaim" in raw:
        claim = _label(raw["persistentVolumeClaim"].get("claimName", name), f"volume {name!r}: claimName")
        return Volume("persistentVolumeClaim", name, claim=claim)
    if "configMap" in raw:
        ref = raw["configMap"].get("name")
        if ref not in config_maps:
            raise PodSpecError(f"volume {name!r}: ConfigMap {ref!r} is not in the rendered objects")
        cm = config_maps[ref]
        data = {k: str(v).encode() for k, v in (cm.get("data") or {}).items()}
        data |= {k: base64.b64decode(v) for k, v in (cm.get("binaryData") or {}).items()}
        items = raw["configMap"].get("items")
        files = {str(i["path"]): data[i["key"]] for i in items if i.get("key") in data} if items else data
        for path in files:  # they become file names below the volume's folder
            if path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")):
                raise PodSpecError(f"volume {name!r}: item path {path!r} leaves the volume")
        return Volume("configMap", name, files)
    raise PodSpecError(f"volume {name!r}: only configMap, emptyDir and persistentVolumeClaim are supported locally")


def _label(value: Any, what: str) -> str:
    """Volume and claim names name local folders: only DNS-1123 labels, as Kubernetes requires."""
    if not is_dns_label(value):
        raise PodSpecError(f"{what} {value!r} is not a DNS-1123 label")
    return value


def _mounted_data(mounts: dict[str, Volume]) -> dict[str, dict[str, str]]:
    return {p: {k: hashlib.sha256(v).hexdigest() for k, v in vol.files.items()} for p, vol in mounts.items()}


def local_argv(argv: list[str], mounts: dict[str, str]) -> list[str]:
    """The command to run here: argv[0] is already the local Python (a host path, even under /tmp)."""
    return [argv[0], *(local_path(a, mounts) for a in argv[1:])]


def local_path(pod_argv_path: str, mounts: dict[str, str]) -> str:
    """A container path -> the local path of the mount that holds it (unchanged when no mount does)."""
    for mount, local in sorted(mounts.items(), key=lambda m: -len(m[0])):
        if pod_argv_path == mount or pod_argv_path.startswith(mount + "/"):
            return local + pod_argv_path[len(mount) :]
    return pod_argv_path
