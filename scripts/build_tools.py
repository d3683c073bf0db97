#!/usr/bin/env python3
"""Build the pinned Go components (Kubernetes, etcd, kwok, Flux, kustomize, ...) into .tools/bin/.

Each component is a small wrapper module under tools/go/<name>/:

    go.mod, go.sum   the pins: `tool` lines name the packages to build, `require`/`replace` fix every version
                     (upstream go.mod files carry `replace` lines, so `go install pkg@v` refuses them)
    build.toml       how to build: `module` whose version the binaries report, `ldflags` (with {version},
                     {major}, {minor} filled in from go.mod), optional `tags`, optional `rename` (package →
                     binary name, where Go's default name is poor), optional `share` (module → folders of
                     that module copied to .tools/share/<name>/, e.g. CRDs and manifests the cluster applies)

A build is `go build -trimpath` with CGO_ENABLED=0 inside the wrapper. Go's module and build caches stay in
their default places outside the checkout, so a fresh clone relinks instead of recompiling; and when a
component's recorded inputs (its three files, the Go version, the platform) are unchanged and its binaries
exist, it is skipped without running Go at all.

    python3 scripts/build_tools.py              # every component
    python3 scripts/build_tools.py etcd kwok    # only these
    python3 scripts/build_tools.py --list
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRAPPERS = ROOT / "tools" / "go"
BIN = ROOT / ".tools" / "bin"
STAMPS = ROOT / ".tools" / "stamps"
SHARE = ROOT / ".tools" / "share"
HEARTBEAT_SECONDS = 30


class BuildError(Exception):
    pass


def components() -> dict[str, Path]:
    return {p.parent.name: p.parent for p in sorted(WRAPPERS.glob("*/go.mod"))}


def tool_packages(gomod: str) -> list[str]:
    """The packages named by `tool` lines (single lines and `tool ( ... )` blocks)."""
    packages = re.findall(r"^tool\s+([^\s(]\S*)\s*$", gomod, re.M)
    for block in re.findall(r"^tool\s*\((.*?)^\)", gomod, re.M | re.S):
        packages += [line.split("//")[0].strip() for line in block.splitlines() if line.split("//")[0].strip()]
    return packages


def required_version(gomod: str, module: str) -> str:
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", gomod, re.M)
    if not match:
        raise BuildError(f"go.mod does not require {module} (build.toml `module`)")
    return match.group(1)


def binary_name(package: str) -> str:
    """What `go build -o DIR` names the binary: the last path element, skipping a /vN major suffix."""
    parts = package.split("/")
    if re.fullmatch(r"v\d+", parts[-1]) and len(parts) > 1:
        return parts[-2]
    return parts[-1]


class Component:
    def __init__(self, name: str, folder: Path) -> None:
        self.name = name
        self.folder = folder
        self.gomod = (folder / "go.mod").read_text()
        build_toml = folder / "build.toml"
        if not build_toml.exists():
            raise BuildError(f"{build_toml.relative_to(ROOT)} is missing (module, ldflags, tags)")
        self.config = tomllib.loads(build_toml.read_text())
        self.packages = tool_packages(self.gomod)
        if not self.packages:
            raise BuildError(f"{folder.relative_to(ROOT)}/go.mod has no `tool` lines: nothing to build")
        self.version = required_version(self.gomod, self.config["module"])

    @property
    def binaries(self) -> list[Path]:
        return [BIN / self.binary_name(p) for p in self.packages]

    def binary_name(self, package: str) -> str:
        return self.config.get("rename", {}).get(package, binary_name(package))

    def ldflags(self) -> str:
        major, minor = re.match(r"v(\d+)\.(\d+)", self.version).groups()
        fields = {"version": self.version, "major": major, "minor": minor}
        return " ".join(["-s", "-w", *(flag.format(**fields) for flag in self.config.get("ldflags", []))])

    def fingerprint(self, go_version: str) -> str:
        digest = hashlib.sha256()
        for file in ("go.mod", "go.sum", "build.toml"):
            path = self.folder / file
            digest.update(file.encode() + b"\0" + (path.read_bytes() if path.exists() else b"") + b"\0")
        digest.update(go_version.encode())
        return digest.hexdigest()

    def stamp(self) -> Path:
        return STAMPS / f"{self.name}.json"

    def up_to_date(self, fingerprint: str) -> bool:
        try:
            recorded = json.loads(self.stamp().read_text())
        except (OSError, ValueError):
            return False
        return recorded.get("fingerprint") == fingerprint and all(b.exists() for b in self.binaries)

    def build(self, fingerprint: str) -> float:
        scratch = ROOT / ".tools" / "build" / self.name
        scratch.mkdir(parents=True, exist_ok=True)
        command = ["go", "build", "-v", "-trimpath", "-ldflags", self.ldflags(), "-o", str(scratch) + "/"]
        if self.config.get("tags"):
            command += ["-tags", ",".join(self.config["tags"])]
        command += self.packages
        env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly -buildvcs=false"}
        names = ", ".join(b.name for b in self.binaries)
        print(f"build_tools: {self.name} {self.version} → {names}", flush=True)
        started = time.monotonic()
        result = run_with_heartbeat(command, self.folder, env, f"{self.name}")
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            tail = "\n".join(result.stderr_lines[-40:])
            raise BuildError(f"go build of {self.name} failed (exit {result.returncode}):\n{tail}")
        for package in self.packages:  # moved into place only once all built: never half a component
            os.replace(scratch / binary_name(package), BIN / self.binary_name(package))
        self.copy_shared(env)
        self.stamp().write_text(
            json.dumps({"fingerprint": fingerprint, "version": self.version, "seconds": round(elapsed, 1)}) + "\n"
        )
        compiled = result.compiled
        print(f"build_tools: {self.name} done in {elapsed:.0f}s ({compiled} packages compiled)", flush=True)
        return elapsed

    def copy_shared(self, env: dict) -> None:
        """Copy data folders (CRDs, manifests, stages) out of the module cache, so nothing at run time needs Go."""
        target = SHARE / self.name
        shutil.rmtree(target, ignore_errors=True)
        for module, folders in self.config.get("share", {}).items():
            found = subprocess.run(
                ["go", "list", "-m", "-f", "{{.Dir}}", module], cwd=self.folder, env=env, capture_output=True, text=True
            )
            if found.returncode != 0 or not found.stdout.strip():
                raise BuildError(f"{self.name}: cannot locate module {module}: {found.stderr.strip()}")
            for folder in folders:
                shutil.copytree(Path(found.stdout.strip()) / folder, target / module / folder)
        for path in target.rglob("*"):  # the module cache is read-only; our copy need not be
            path.chmod(0o755 if path.is_dir() else 0o644)


class Result:
    def __init__(self) -> None:
        self.returncode = 0
        self.stderr_lines: list[str] = []
        self.compiled = 0


def run_with_heartbeat(command: list[str], cwd: Path, env: dict, label: str) -> Result:
    """Run go build -v, counting the packages it compiles, and say every HEARTBEAT_SECONDS how far it is."""
    result = Result()
    process = subprocess.Popen(command, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_SECONDS):
            elapsed = time.monotonic() - started
            print(f"build_tools: {label}: {result.compiled} packages compiled, {elapsed:.0f}s", flush=True)

    threading.Thread(target=heartbeat, daemon=True).start()
    for line in process.stderr:
        line = line.rstrip("\n")
        result.stderr_lines.append(line)
        if not line.startswith(("go: ", "#")) and " " not in line:
            result.compiled += 1
    result.returncode = process.wait()
    done.set()
    return result


def go_version() -> str:
    try:
        return subprocess.run(["go", "env", "GOVERSION", "GOOS", "GOARCH"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        raise BuildError("`go` is not on PATH: install Go 1.26 (https://go.dev/dl/) to build the components") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="components to build (default: all)")
    parser.add_argument("--list", action="store_true", help="list the components and their versions")
    args = parser.parse_args(argv)
    known = components()
    unknown = [n for n in args.names if n not in known]
    if unknown:
        print(f"build_tools: unknown component(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    try:
        selected = [Component(name, known[name]) for name in (args.names or known)]
        if args.list:
            for c in selected:
                print(f"{c.name:22} {c.config['module']} {c.version}: {', '.join(b.name for b in c.binaries)}")
            return 0
        BIN.mkdir(parents=True, exist_ok=True)
        STAMPS.mkdir(parents=True, exist_ok=True)
        with open(STAMPS / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time; a waiting caller then finds it warm
            version = go_version()
            for component in selected:
                fingerprint = component.fingerprint(version)
                if component.up_to_date(fingerprint):
                    continue
                component.build(fingerprint)
    except BuildError as error:
        print(f"build_tools: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
