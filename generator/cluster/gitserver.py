"""Serve a git repository read-only over smart HTTP on 127.0.0.1: git's own http-backend behind a small server.

source-controller clones http://127.0.0.1:PORT/<name>.git as it would clone from a Git host. Only fetches are
served (http-backend refuses receive-pack to anonymous clients); the repository is the fleet repo itself, so a
commit is visible to Flux at once.

    python -m generator.cluster.gitserver --repo FLEET --name fleet --port 8080 --root /tmp/served
"""

from __future__ import annotations

import argparse
import os
import subprocess
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def http_backend() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True).stdout.strip()
    return str(Path(exec_path) / "git-http-backend")


def serve(repo: Path, name: str, port: int, root: Path) -> None:
    """Serve REPO as /NAME.git; ROOT is a scratch folder holding the link http-backend resolves."""
    root.mkdir(parents=True, exist_ok=True)
    link = root / f"{name}.git"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(repo.resolve() / ".git")
    backend = http_backend()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            self._cgi()

        def do_POST(self) -> None:
            self._cgi()

        def _cgi(self) -> None:
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "REMOTE_ADDR": self.client_address[0],
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                "HTTP_GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            }
            body = self._body()
            env["CONTENT_LENGTH"] = str(len(body))
            result = subprocess.run([backend], input=body, env=env, capture_output=True)
            head, _, payload = result.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                key, _, value = line.partition(":")
                if key.lower() == "status":
                    status = int(value.split()[0])
                elif key:
                    headers.append((key, value.strip()))
            self.send_response(status)
            for key, value in headers:
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def log_message(self, format: str, *args) -> None:  # noqa: A002 — the base class's name
            print(f"{self.address_string()} {format % args}", flush=True)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"serving {repo} as http://127.0.0.1:{port}/{name}.git", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--name", default="fleet")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", type=Path, required=True, help="scratch folder for the served link")
    args = parser.parse_args()
    serve(args.repo, args.name, args.port, args.root)


if __name__ == "__main__":
    main()
