"""The web console: the static pages built from web/ (see web/build.sh), served at `/`.

Only the files in console/ are routed, each by its own path, so the console never shadows
an API route. Every response carries a strict Content-Security-Policy: scripts, styles and
requests go to this origin only, nothing is framed, and no inline script runs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

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
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


def router(console_dir: Path = CONSOLE_DIR) -> APIRouter:
    """Routes for `/` (the page) and each built asset; none when the console was not built."""
    routes = APIRouter(include_in_schema=False)
    files = sorted(p for p in console_dir.glob("*") if p.is_file() and p.suffix in MEDIA_TYPES)
    for path in files:
        routes.add_api_route(f"/{path.name}", _sender(path), methods=["GET", "HEAD"])
        if path.name == "index.html":
            routes.add_api_route("/", _sender(path), methods=["GET", "HEAD"])
    return routes


def _sender(path: Path):
    def send() -> FileResponse:
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)

    send.__name__ = f"console_{path.stem}_{path.suffix[1:]}"
    return send
