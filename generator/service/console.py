"""The web console: the static pages built from web/ (see web/build.sh), served at `/`.

Only the files in console/ are routed, each by its own path, so the console never shadows
an API route. They are read once, at start: each answer carries an ETag (a repeat load is a
304) and is gzipped for clients that accept it. Every response carries a strict
Content-Security-Policy: scripts, styles and requests go to this origin only, nothing is
framed, and no inline script or style runs.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request, Response

CONSOLE_DIR = Path(__file__).parent / "console"

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cache-Control": "no-cache",  # file names carry no hash: revalidate (ETag) on every load
    "Vary": "Accept-Encoding",
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    etag: str

    @classmethod
    def read(cls, path: Path) -> Asset:
        body = path.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return cls(body, gzip.compress(body, 9, mtime=0), MEDIA_TYPES[path.suffix], etag)

    def answer(self, request: Request) -> Response:
        headers = {**HEADERS, "ETag": self.etag}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", "") and len(self.gzipped) < len(self.body):
            return Response(self.gzipped, media_type=self.media_type, headers={**headers, "Content-Encoding": "gzip"})
        return Response(self.body, media_type=self.media_type, headers=headers)


def router(console_dir: Path = CONSOLE_DIR) -> APIRouter:
    """Routes for `/` (the page) and each built asset; none when the console was not built."""
    routes = APIRouter(include_in_schema=False)
    for path in sorted(p for p in console_dir.glob("*") if p.is_file() and p.suffix in MEDIA_TYPES):
        send = _sender(Asset.read(path), path.name)
        routes.add_api_route(f"/{path.name}", send, methods=["GET", "HEAD"])
        if path.name == "index.html":
            routes.add_api_route("/", send, methods=["GET", "HEAD"])
    return routes


def _sender(asset: Asset, name: str):
    def send(request: Request) -> Response:
        return asset.answer(request)

    send.__name__ = f"console_{name.replace('.', '_')}"
    return send
