"""A real control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, Flux.

Everything up to a pod's phase is real: the API server with its admission (Pod Security, quotas, webhooks),
the controllers that turn Deployments into pods, the scheduler that binds them. No kubelet runs: kwok
manages one simulated node and moves the pods bound to it to Running and Ready, so Deployments become
Available and helm-controller's wait is real; no container is started.

The processes outlive `stratops cluster up`; their pids, ports and paths are in <state>/state.json.
"""

from __future__ import annotations

import json
import shutil
import ssl
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem, UserError
from ..fleet import Fleet
from ..layout import FLUX_NAMESPACE
from . import bootstrap, certs, components, processes
from .kube import Kube, condition, is_ready, load_documents
from .processes import ClusterError, Service, free_port, wait_for

NODE_NAME = "kwok-node-0"
SERVICE_RANGE = "10.0.0.0/24"
START_TIMEOUT = 120.0
REQUEUE_DEPENDENCY = "1s"  # kustomize- and helm-controller: how soon a dependent re-checks its dependency
HELM_CONCURRENT = 10  # helm-controller's concurrent reconciles
KUSTOMIZE_CONCURRENT_SSA = 16  # kustomize-controller's concurrent server-side apply operations
KUSTOMIZE = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
HELMRELEASE = ("helm.toolkit.fluxcd.io/v2", "HelmRelease")
GITREPOSITORY = ("source.toolkit.fluxcd.io/v1", "GitRepository")
# Start order; `down` stops in reverse.
ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "git-server",
    *components.FLUX,
    components.KYVERNO,
)


@dataclass
class State:
    folder: Path
    repo: str = ""
    cluster: str = ""
    git_url: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    up_seconds: float = 0.0
    lockdown: bool = True  # Flux's multi-tenancy lockdown flags on kustomize- and helm-controller

    @property
    def file(self) -> Path:
        return self.folder / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return certs.Pki(self.folder / "pki").kubeconfig("admin")

    def log(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def save(self) -> None:
        data = {k: v for k, v in asdict(self).items() if k != "folder"}
        self.file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> State | None:
        try:
            data = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError):
            return None
        return cls(folder=folder, **data)

    def running(self) -> dict[str, bool]:
        return {name: processes.alive(pid) for name, pid in self.pids.items()}


# --- up ---------------------------------------------------------------------------------------------


def up(folder: Path, repo: Path, wait: float = 300.0, say=print, lockdown: bool = True) -> State:
    """Start everything for the fleet repo REPO, bootstrap Flux on it, and wait until flux-system is Ready.

    LOCKDOWN runs kustomize- and helm-controller as Flux's multi-tenancy guide locks them down (LOCKDOWN_FLAGS).
    """
    components.require()
    fleet = Fleet(repo)
    cluster = _cluster_name(fleet)
    previous = State.load(folder)
    if previous and any(previous.running().values()):
        raise UserError(
            "a cluster is already running from this state folder",
            [Problem(str(folder), "processes alive", "run `stratops cluster down` first, or pass another --state")],
        )
    started = time.monotonic()
    _reset(folder)
    state = State(folder=folder, repo=str(fleet.path), cluster=cluster, started=time.time(), lockdown=lockdown)
    state.ports = {name: free_port() for name in _PORT_NAMES}
    state.git_url = f"http://127.0.0.1:{state.ports['git']}/fleet.git"
    pki = certs.create(folder / "pki", state.ports["apiserver"])
    try:
        _start_control_plane(state, pki, say)
        kube = Kube(state.kubeconfig)
        say("applying the Flux and Kyverno CRDs and the kwok node")
        crds = load_documents(bootstrap.flux_crd_files() + bootstrap.kyverno_crd_files() + _kwok_crd_files())
        kube.apply(crds, parallel=4)
        wait_for("the CRDs to be established", lambda: kube.established(crds), START_TIMEOUT)
        kube.apply([_node()])
        for name in ("kube-controller-manager", "kube-scheduler", "kwok", "git-server", *components.FLUX):
            _start(state, name, _service(state, pki, name))
        if components.missing((components.KYVERNO,)):
            say("kyverno: not built (make components COMPONENTS=kyverno): no admission policies enforced")
        else:
            _start_kyverno(state, pki, kube, say)
        sha = bootstrap.commit(fleet, cluster, state.git_url)
        done = f"committed {sha[:12]}" if sha else "already in the fleet"
        say(f"flux-system: {done} (clusters/{cluster}/flux-system)")
        # the identities first: the cluster Kustomizations impersonate kustomize-controller's account
        kube.apply([bootstrap.namespace(), *bootstrap.reconciler_identities()])
        kube.apply(bootstrap.sync_objects(cluster, state.git_url))
        for name in components.FLUX:
            port = state.ports[f"{name}-health"]
            wait_for(
                name,
                lambda p=port: _http_ok(f"http://127.0.0.1:{p}/readyz"),
                START_TIMEOUT,
                state.pids[name],
                state.log(name),
            )
        if components.KYVERNO in state.pids:
            readiness = f"https://127.0.0.1:{state.ports['kyverno']}/health/readiness"
            wait_for(
                "kyverno",
                lambda: _https_ok(readiness),
                START_TIMEOUT,
                state.pids[components.KYVERNO],
                state.log(components.KYVERNO),
            )
        if wait:
            say("waiting for the flux-system Kustomization to be Ready")
            wait_for(
                "the flux-system Kustomization",
                lambda: is_ready(kube.get(*KUSTOMIZE, FLUX_NAMESPACE, FLUX_NAMESPACE)),
                wait,
                log=state.log("kustomize-controller"),
            )
    except BaseException:
        state.save()
        down(folder, say=lambda _: None)
        raise
    state.up_seconds = round(time.monotonic() - started, 1)
    state.save()
    return state


_PORT_NAMES = (
    "etcd",
    "etcd-peer",
    "apiserver",
    "controller-manager",
    "scheduler",
    "kwok",
    "git",
    "source-controller-storage",
    "kyverno",
    "kyverno-metrics",
    *(f"{c}-{kind}" for c in components.FLUX for kind in ("metrics", "health")),
)


def _cluster_name(fleet: Fleet) -> str:
    marker = fleet.read_file("stratops.yaml")
    cluster = (yaml.safe_load(marker or b"") or {}).get("cluster") if marker else None
    if not cluster:
        raise UserError(
            "the fleet repo names no cluster",
            [
                Problem(
                    f"{fleet.path}/stratops.yaml",
                    "no `cluster`",
                    "create the fleet with `stratops init PATH --cluster NAME`",
                )
            ],
        )
    return cluster


def _reset(folder: Path) -> None:
    """A fresh start: new etcd data, certificates and logs; the state folder itself may be reused."""
    for name in ("etcd", "pki", "logs", "flux", "git", "kwok", "state.json"):
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    folder.mkdir(parents=True, exist_ok=True)


def _start_control_plane(state: State, pki: certs.Pki, say) -> None:
    say(f"etcd {components.version('etcd')} on 127.0.0.1:{state.ports['etcd']}")
    _start(state, "etcd", _service(state, pki, "etcd"))
    etcd_url = f"http://127.0.0.1:{state.ports['etcd']}/health"
    wait_for(
        "etcd",
        lambda: b'"true"' in urllib.request.urlopen(etcd_url, timeout=2).read(),
        START_TIMEOUT,
        state.pids["etcd"],
        state.log("etcd"),
    )
    say(f"kube-apiserver {components.version('kubernetes')} on https://127.0.0.1:{state.ports['apiserver']}")
    _start(state, "kube-apiserver", _service(state, pki, "kube-apiserver"))
    kube = Kube(state.kubeconfig)
    wait_for("kube-apiserver", kube.ready, START_TIMEOUT, state.pids["kube-apiserver"], state.log("kube-apiserver"))


def _start(state: State, name: str, service: Service) -> None:
    state.pids[name] = service.start()
    state.save()


def _https_ok(url: str) -> bool:
    """Kyverno serves its health endpoints with the certificate it generated itself: not verified here."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(url, timeout=2, context=context) as response:
        return response.status == 200


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def _service(state: State, pki: certs.Pki, name: str) -> Service:
    ports, folder = state.ports, state.folder
    log = state.log(name)
    binary = str(components.binary(name))
    admin = str(pki.kubeconfig("admin"))
    if name == "etcd":
        peer = f"http://127.0.0.1:{ports['etcd-peer']}"
        client_url = f"http://127.0.0.1:{ports['etcd']}"
        argv = [
            binary,
            f"--data-dir={folder / 'etcd'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
            "--unsafe-no-fsync=true",
        ]
        return Service(name, argv, log)
    if name == "kube-apiserver":
        port = ports["apiserver"]
        argv = [
            binary,
            f"--etcd-servers=http://127.0.0.1:{ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={pki.folder}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            f"--service-account-issuer=https://127.0.0.1:{port}",
            f"--service-account-key-file={pki.sa_pub}",
            f"--service-account-signing-key-file={pki.sa_key}",
            "--authorization-mode=Node,RBAC",
            "--allow-privileged=true",
            # the request-header CA the controller-manager and scheduler look up for delegated authentication;
            # no certificate with the allowed name is ever issued, so nobody can act as the front proxy
            f"--requestheader-client-ca-file={pki.ca_cert}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            # pod logs, exec and port-forward go to the node's kubelet endpoint: kwok's server, on 127.0.0.1 with
            # the API server's own serving certificate, verified against the cluster CA
            f"--kubelet-certificate-authority={pki.ca_cert}",
            "--kubelet-preferred-address-types=InternalIP",
        ]
        return Service(name, argv, log)
    if name in ("kube-controller-manager", "kube-scheduler"):
        identity = "controller-manager" if name == "kube-controller-manager" else "scheduler"
        kubeconfig = str(pki.kubeconfig(identity))
        argv = [
            binary,
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports[identity]}",
        ]
        if identity == "controller-manager":
            argv += [
                f"--service-account-private-key-file={pki.sa_key}",
                f"--root-ca-file={pki.ca_cert}",
                f"--cluster-signing-cert-file={pki.ca_cert}",
                f"--cluster-signing-key-file={pki.ca_key}",
                "--use-service-account-credentials=true",
            ]
        return Service(name, argv, log)
    if name == "kwok":
        stages = folder / "kwok" / "stages.yaml"
        stages.parent.mkdir(parents=True, exist_ok=True)
        stages.write_bytes(_kwok_stages())
        argv = [
            binary,
            f"--kubeconfig={admin}",
            f"--config={stages}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--manage-nodes-with-label-selector=",
            "--disregard-status-with-annotation-selector=kwok.x-k8s.io/status=custom",
            "--disregard-status-with-label-selector=",
            "--cidr=10.0.1.1/24",
            # the node's InternalIP and kubelet port are kwok's own server, which serves the pods' logs as the
            # Logs objects name them (kwok's CRDs, applied with Flux's)
            "--node-ip=127.0.0.1",
            f"--node-port={ports['kwok']}",
            f"--server-address=127.0.0.1:{ports['kwok']}",
            f"--tls-cert-file={pki.serving_cert}",
            f"--tls-private-key-file={pki.serving_key}",
            f"--enable-crds={','.join(KWOK_CRDS)}",
            "--node-lease-duration-seconds=40",
        ]
        return Service(name, argv, log)
    if name == "git-server":
        argv = [
            sys.executable,
            "-m",
            "generator.cluster.gitserver",
            f"--repo={state.repo}",
            "--name=fleet",
            f"--port={ports['git']}",
            f"--root={folder / 'git'}",
        ]
        return Service(name, argv, log)
    if name in components.FLUX:
        argv = [
            binary,
            "--watch-all-namespaces=true",
            f"--metrics-addr=127.0.0.1:{ports[name + '-metrics']}",
            f"--health-addr=127.0.0.1:{ports[name + '-health']}",
            "--log-level=info",
        ]
        if name == "source-controller":
            storage = f"127.0.0.1:{ports['source-controller-storage']}"
            (folder / "flux" / "storage").mkdir(parents=True, exist_ok=True)
            argv += [
                f"--storage-path={folder / 'flux' / 'storage'}",
                f"--storage-addr={storage}",
                f"--storage-adv-addr={storage}",
            ]
        else:
            # A commit reaches strategies through infrastructure → policies → strategies: all three are queued at
            # once, and each waits for the one before to apply the commit, re-checking at this interval (default
            # 30s; docs/benchmarks.md). A re-check is one GET of the dependency.
            argv += [f"--requeue-dependency={REQUEUE_DEPENDENCY}"]
            if state.lockdown:
                argv += LOCKDOWN_FLAGS[name]
        if name == "kustomize-controller":
            argv += [
                # objects dry-run and applied at once (default 4): every commit re-applies every strategy's
                # HelmRelease and ConfigMaps through the `strategies` Kustomization, 3 objects per strategy
                f"--concurrent-ssa={KUSTOMIZE_CONCURRENT_SSA}",
                # a new commit need not wait for the previous one's health checks (every release Ready, up to
                # the Kustomization's timeout when one is stuck): they are cancelled and the new commit applied
                "--feature-gates=CancelHealthCheckOnNewRevision=true",
            ]
        if name == "helm-controller":
            # releases reconciled at once (default 4): mostly waiting for rollouts, so more overlap well when a
            # first sync or a chart change installs or upgrades many strategies
            argv += [f"--concurrent={HELM_CONCURRENT}"]
        env = {"KUBECONFIG": admin, "RUNTIME_NAMESPACE": FLUX_NAMESPACE, "HOME": str(folder / "flux" / name)}
        (folder / "flux" / name).mkdir(parents=True, exist_ok=True)
        return Service(name, argv, log, env)
    if name == components.KYVERNO:
        return Service(name, _kyverno_argv(binary, admin, ports), log, KYVERNO_ENV)
    raise ValueError(name)


# Flux's multi-tenancy lockdown, as its guide patches the controllers: no object may reference another
# namespace's source, and an object naming no serviceAccountName is applied as its namespace's `default`
# account (no rights) instead of as the controller. The flux-system Kustomization names kustomize-controller.
LOCKDOWN_FLAGS = {
    "kustomize-controller": [
        "--no-cross-namespace-refs=true",
        "--default-service-account=default",
        "--no-remote-bases=true",
    ],
    "helm-controller": ["--no-cross-namespace-refs=true", "--default-service-account=default"],
}


# Kyverno's admission controller out of cluster, as its DEVELOPMENT.md "Debugging local code" runs it: with
# --serverIP the webhooks point at https://<serverIP>/..., and the Deployment checks are skipped.
KYVERNO_NAMESPACE = "kyverno"
KYVERNO_ENV = {
    "KYVERNO_NAMESPACE": KYVERNO_NAMESPACE,
    "KYVERNO_SERVICEACCOUNT_NAME": "kyverno-admission-controller",
    "KYVERNO_DEPLOYMENT": "kyverno-admission-controller",
    "KYVERNO_POD_NAME": "kyverno-admission-controller-local",
    "KYVERNO_SVC": "kyverno-svc",
    "INIT_CONFIG": "kyverno",
    "METRICS_CONFIG": "kyverno-metrics",
}


def _kyverno_argv(binary: str, kubeconfig: str, ports: dict[str, int]) -> list[str]:
    return [
        binary,
        f"--kubeconfig={kubeconfig}",
        f"--serverIP=127.0.0.1:{ports['kyverno']}",
        f"--webhookServerPort={ports['kyverno']}",
        "--backgroundServiceAccountName=system:serviceaccount:kyverno:kyverno-background-controller",
        "--reportsServiceAccountName=system:serviceaccount:kyverno:kyverno-reports-controller",
        "--caSecretName=kyverno-svc.kyverno.svc.kyverno-tls-ca",
        "--tlsSecretName=kyverno-svc.kyverno.svc.kyverno-tls-pair",
        "--metricsHost=127.0.0.1",
        f"--metricsPort={ports['kyverno-metrics']}",
        "--controllerRuntimeMetricsAddress=0",
        "--admissionReports=false",
    ]


def _start_kyverno(state: State, pki: certs.Pki, kube: Kube, say) -> None:
    say(f"kyverno {components.version('kyverno')} admission on https://127.0.0.1:{state.ports['kyverno']}")
    kube.apply([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": KYVERNO_NAMESPACE}}])
    kube.apply(_kyverno_reports_identity())
    _start(state, components.KYVERNO, _service(state, pki, components.KYVERNO))


def _kyverno_reports_identity() -> list[dict[str, Any]]:
    """The reports controller's account and its `view` binding, as Kyverno's chart creates them.

    Kyverno marks a policy Ready only when that account may read what the policy matches (it checks with a
    SubjectAccessReview); no reports controller runs here, but the policies' status then says what it says on a
    cluster installed from the chart.
    """
    account = "kyverno-reports-controller"
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": account, "namespace": KYVERNO_NAMESPACE}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "kyverno:reports-controller:view"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": KYVERNO_NAMESPACE}],
        },
    ]


def _kwok_stages() -> bytes:
    """kwok's own stages, as kwokctl uses them: a node Ready at once and kept so by a heartbeat with a lease, a
    bound pod Running and Ready, a deleted one gone."""
    stage = components.shared("kwok", "sigs.k8s.io/kwok", "kustomize/stage")
    # the node heartbeat keeps the controller-manager from marking the node unreachable and evicting its pods
    folders = ("node/fast", "node/heartbeat-with-lease", "pod/fast")
    files = [p for folder in folders for p in sorted((stage / folder).glob("*.yaml"))]
    docs = [p.read_text() for p in files if p.name != "kustomization.yaml"]
    return "\n---\n".join(docs).encode()


KWOK_CRDS = ("Logs", "ClusterLogs")  # what kwok's server reads from the API server: which file is a pod's log


def _kwok_crd_files() -> list[Path]:
    bases = components.shared("kwok", "sigs.k8s.io/kwok", "kustomize/crd/bases")
    return [bases / f"kwok.x-k8s.io_{kind.lower()}.yaml" for kind in KWOK_CRDS]


def _node() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000"},
        },
    }


# --- down and status -----------------------------------------------------------------------------------


def down(folder: Path, say=print) -> list[str]:
    """Stop every process recorded in FOLDER's state, last started first; returns the names stopped."""
    state = State.load(folder)
    if state is None:
        return []
    stopped = []
    for name in sorted(state.pids, key=lambda n: ORDER.index(n) if n in ORDER else -1, reverse=True):
        if processes.alive(state.pids[name]):
            processes.stop(state.pids[name])
            stopped.append(name)
            say(f"stopped {name}")
    state.pids = {}
    state.save()
    return stopped


def status(folder: Path) -> dict[str, Any]:
    state = State.load(folder)
    if state is None:
        raise UserError(
            "no cluster here",
            [Problem(str(folder), "no state.json", "start one with `stratops cluster up --repo FLEET`")],
        )
    report: dict[str, Any] = {
        "state": str(folder),
        "repo": state.repo,
        "cluster": state.cluster,
        "git_url": state.git_url,
        "kubeconfig": str(state.kubeconfig),
        "lockdown": state.lockdown,
        "processes": state.running(),
        "api": False,
        "flux": {},
    }
    if not report["processes"].get("kube-apiserver"):
        return report
    kube = Kube(state.kubeconfig)
    report["api"] = kube.ready()
    if report["api"]:
        for api_version, kind in (GITREPOSITORY, KUSTOMIZE, HELMRELEASE):
            for obj in kube.list(api_version, kind):
                key = f"{kind}/{obj['metadata']['namespace']}/{obj['metadata']['name']}"
                report["flux"][key] = "Ready" if is_ready(obj) else _reason(obj)
    return report


def _reason(obj: dict[str, Any]) -> str:
    cond = condition(obj)
    return f"{cond.get('reason')}: {cond.get('message', '')[:200]}" if cond else "no status yet"


def reconcile(folder: Path) -> str:
    """Ask Flux to fetch the fleet now, as `flux reconcile kustomization flux-system --with-source` does."""
    state = State.load(folder)
    if state is None or not any(state.running().values()):
        raise UserError("no cluster running", [Problem(str(folder), "not running", "run `stratops cluster up` first")])
    kube = Kube(state.kubeconfig)
    token = kube.request_reconcile(*GITREPOSITORY, FLUX_NAMESPACE, FLUX_NAMESPACE)
    kube.request_reconcile(*KUSTOMIZE, FLUX_NAMESPACE, FLUX_NAMESPACE)
    return token


def fail_if_dead(state: State) -> None:
    dead = [n for n, ok in state.running().items() if not ok]
    if dead:
        raise ClusterError(
            "cluster processes exited", [Problem(str(state.log(n)), f"{n} is not running") for n in dead]
        )
