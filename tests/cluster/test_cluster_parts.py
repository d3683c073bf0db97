"""The parts of `stratops cluster` that need no Kubernetes: the build script, certificates, the git server."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import git
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from generator.cluster import bootstrap, certs, processes
from generator.cluster.processes import Service, free_port

ROOT = Path(__file__).resolve().parents[2]


def _build_tools():
    spec = importlib.util.spec_from_file_location("build_tools", ROOT / "scripts" / "build_tools.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_wrapper_names_what_it_builds_and_pins_its_module():
    build_tools = _build_tools()
    found = build_tools.components()
    assert {"kubernetes", "etcd", "kwok", "source-controller", "kustomize-controller", "helm-controller"} <= set(found)
    for name, folder in found.items():
        component = build_tools.Component(name, folder)
        assert component.packages, name
        assert component.version.startswith("v"), name
        gomod = (folder / "go.mod").read_text()
        assert "\ngo 1.26" in gomod, f"{name}: the machines have Go 1.26"
    kubernetes = build_tools.Component("kubernetes", found["kubernetes"])
    assert [b.name for b in kubernetes.binaries] == ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    assert kubernetes.version.startswith("v1.36.")
    assert "-X k8s.io/component-base/version.gitVersion=" + kubernetes.version in kubernetes.ldflags()
    # every Kubernetes staging module is pinned to the release's published version, not ./staging
    staging = [line for line in (found["kubernetes"] / "go.mod").read_text().splitlines() if "=> k8s.io/" in line]
    assert len(staging) >= 30 and all(line.endswith("v0.36." + kubernetes.version.split(".")[2]) for line in staging)
    assert build_tools.Component("etcd", found["etcd"]).binaries[0].name == "etcd"


def test_tool_lines_parse_single_and_block_forms():
    build_tools = _build_tools()
    gomod = "module x\n\ntool a.example/one\n\ntool (\n\tb.example/two // comment\n\tc.example/three/v5\n)\n"
    assert build_tools.tool_packages(gomod) == ["a.example/one", "b.example/two", "c.example/three/v5"]
    assert build_tools.binary_name("c.example/three/v5") == "three"


def test_a_warm_component_is_skipped_without_running_go(tmp_path, monkeypatch):
    build_tools = _build_tools()
    folder = tmp_path / "tools" / "go" / "demo"
    folder.mkdir(parents=True)
    (folder / "go.mod").write_text(
        "module m\n\ngo 1.26.0\n\ntool example.com/demo\n\nrequire example.com/demo v1.2.3\n"
    )
    (folder / "build.toml").write_text('module = "example.com/demo"\n')
    monkeypatch.setattr(build_tools, "WRAPPERS", tmp_path / "tools" / "go")
    monkeypatch.setattr(build_tools, "BIN", tmp_path / "bin")
    monkeypatch.setattr(build_tools, "STAMPS", tmp_path / "stamps")
    component = build_tools.Component("demo", folder)
    (tmp_path / "bin").mkdir()
    (tmp_path / "stamps").mkdir()
    (tmp_path / "bin" / "demo").write_text("")
    fingerprint = component.fingerprint("go1.26.8")
    component.stamp().write_text(json.dumps({"fingerprint": fingerprint}))
    assert component.up_to_date(fingerprint)
    assert not component.up_to_date(component.fingerprint("go1.27.0"))
    (folder / "go.mod").write_text((folder / "go.mod").read_text().replace("v1.2.3", "v1.2.4"))
    assert build_tools.Component("demo", folder).fingerprint("go1.26.8") != fingerprint  # a new pin: a new build
    calls = []
    monkeypatch.setattr(build_tools, "go_version", lambda: "go1.26.8")
    monkeypatch.setattr(build_tools.Component, "build", lambda self, fp: calls.append(self.name))
    assert build_tools.main(["demo"]) == 0 and calls == ["demo"]  # go.mod changed: rebuilt
    component = build_tools.Component("demo", folder)
    component.stamp().write_text(json.dumps({"fingerprint": component.fingerprint("go1.26.8")}))
    assert build_tools.main(["demo"]) == 0 and calls == ["demo"]  # unchanged: skipped


def test_unknown_component_is_a_clear_error(capsys):
    assert _build_tools().main(["no-such-thing"]) == 2
    assert "unknown component(s) no-such-thing" in capsys.readouterr().err


def test_certificates_chain_to_the_ca_with_the_right_names(tmp_path):
    pki = certs.create(tmp_path, 6443)
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    serving = x509.load_pem_x509_certificate(pki.serving_cert.read_bytes())
    serving.verify_directly_issued_by(ca)
    names = serving.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    admin = x509.load_pem_x509_certificate(pki.client_cert("admin").read_bytes())
    admin.verify_directly_issued_by(ca)
    organizations = admin.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
    assert [o.value for o in organizations] == ["system:masters"]
    assert isinstance(admin.public_key(), ec.EllipticCurvePublicKey)
    assert oct(pki.client_key("admin").stat().st_mode & 0o777) == "0o600"
    assert "https://127.0.0.1:6443" in pki.kubeconfig("admin").read_text()


@pytest.fixture
def served(tmp_path):
    repo = git.Repo.init(tmp_path / "fleet", initial_branch="main")
    (tmp_path / "fleet" / "a.txt").write_text("one\n")
    repo.index.add(["a.txt"])
    repo.index.commit("first")
    port = free_port()
    log = tmp_path / "git.log"
    argv = [sys.executable, "-m", "generator.cluster.gitserver", "--repo", str(repo.working_dir), "--port", str(port)]
    pid = Service("git-server", [*argv, "--root", str(tmp_path / "root")], log).start()
    url = f"http://127.0.0.1:{port}/fleet.git"
    try:
        processes.wait_for("git server", lambda: _git("ls-remote", url).returncode == 0, 20, pid, log)
        yield repo, url
    finally:
        processes.stop(pid)


def _git(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, timeout=30)


def test_git_server_serves_fetches_and_new_commits_at_once(served, tmp_path):
    repo, url = served
    clone = tmp_path / "clone"
    assert _git("clone", "-q", url, str(clone)).returncode == 0
    assert (clone / "a.txt").read_text() == "one\n"
    (Path(repo.working_dir) / "a.txt").write_text("two\n")
    repo.index.add(["a.txt"])
    head = repo.index.commit("second").hexsha
    assert head in _git("ls-remote", url, "refs/heads/main").stdout


def test_git_server_refuses_pushes(served, tmp_path):
    _, url = served
    clone = tmp_path / "clone"
    _git("clone", "-q", url, str(clone))
    pushed = _git("push", url, "HEAD:refs/heads/intruder", cwd=clone)
    assert pushed.returncode != 0 and "403" in pushed.stderr


def test_stopping_a_service_ends_its_process_group(tmp_path):
    pid = Service("sleeper", ["sh", "-c", "sleep 60 & sleep 60"], tmp_path / "log").start()
    assert processes.alive(pid)
    started = time.monotonic()
    processes.stop(pid)
    assert not processes.alive(pid) and time.monotonic() - started < 10


def test_sync_objects_follow_flux_bootstrap():
    repository, kustomization = bootstrap.sync_objects("prod", "http://127.0.0.1:1234/fleet.git")
    assert repository["kind"] == "GitRepository" and repository["spec"]["ref"] == {"branch": "main"}
    assert kustomization["spec"]["path"] == "./clusters/prod" and kustomization["spec"]["prune"] is True
    assert kustomization["spec"]["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}


@pytest.mark.parametrize("lockdown", [True, False])
def test_the_lockdown_flags_follow_the_state(tmp_path, lockdown):
    from generator.cluster import controlplane

    state = controlplane.State(folder=tmp_path, lockdown=lockdown)
    state.ports = {name: free_port() for name in controlplane._PORT_NAMES}
    pki = certs.Pki(tmp_path / "pki")
    for name, flags in controlplane.LOCKDOWN_FLAGS.items():
        argv = controlplane._service(state, pki, name).argv
        assert (set(flags) <= set(argv)) is lockdown, argv
        assert not [a for a in argv if "cross-namespace" in a or "service-account" in a] or lockdown
    assert "--no-cross-namespace-refs=true" not in controlplane._service(state, pki, "source-controller").argv
    # the flux-system Kustomization keeps kustomize-controller's rights under --default-service-account
    _, sync = bootstrap.sync_objects("dev", "http://127.0.0.1:1/fleet.git")
    assert sync["spec"]["serviceAccountName"] == "kustomize-controller"
