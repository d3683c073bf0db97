"""The console's list of API calls (web/src/api.js → api-routes.json) against the service's own routes."""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from console_support import ROOT, Server

from tests import needs

CONSOLE = ROOT / "generator" / "service" / "console"
API_JS = ROOT / "web" / "src" / "api.js"


def console_routes() -> set[tuple[str, str]]:
    return {(r["method"], r["path"]) for r in json.loads((CONSOLE / "api-routes.json").read_text())}


def _shape(path: str) -> str:
    """A path template with its parameter names erased: /v1/tenants/{}/strategies."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_built_route_list_matches_the_source() -> None:
    # Fails when web/src/api.js changed and `web/build.sh` was not run before committing.
    source = set(re.findall(r'\w+: \["(GET|PUT|POST|DELETE|PATCH)", "([^"]+)"\]', API_JS.read_text()))
    assert source and source == console_routes()


def test_committed_build_is_the_build_of_the_sources(tmp_path: Path) -> None:
    # The console ships as built files; they must be what web/src builds to (run web/build.sh, commit both).
    if shutil.which("node") is None or not (ROOT / "web" / "node_modules" / "esbuild").is_dir():
        needs.missing(
            "no node or no web/node_modules to rebuild the console", "run `make web/node_modules/.package-lock.json`"
        )
    env = {**os.environ, "OUT_DIR": str(tmp_path)}
    subprocess.run(["node", "build.mjs"], cwd=ROOT / "web", env=env, check=True, capture_output=True, timeout=120)
    built = sorted(p.name for p in tmp_path.iterdir())
    assert built == sorted(p.name for p in CONSOLE.iterdir())
    _, mismatch, errors = filecmp.cmpfiles(tmp_path, CONSOLE, built, shallow=False)
    assert not mismatch and not errors, f"stale built console files: {mismatch + errors}"


def test_every_console_call_is_a_service_route(server: Server) -> None:
    spec = server.api("alice").get("/openapi.json").json()
    served = {(method.upper(), _shape(path)) for path, ops in spec["paths"].items() for method in ops}
    missing = {(m, p) for m, p in console_routes() if (m, _shape(p)) not in served}
    assert not missing, f"the console calls routes the service does not have: {sorted(missing)}"


def test_console_calls_are_tenant_scoped_or_public_market_data() -> None:
    # The pages only ever address the signed-in tenant: every tenant route takes {t}, filled from /v1/whoami.
    for method, path in console_routes():
        assert path.startswith(("/v1/tenants/{t}/", "/v1/market/")) or path == "/v1/whoami", (method, path)


def test_page_and_assets_carry_a_strict_csp(server: Server) -> None:
    client = server.api("alice")
    index = client.get("/")
    assert index.status_code == 200 and index.headers["content-type"].startswith("text/html")
    csp = index.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe" not in csp
    assert index.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="([^"]+)"', index.text)
    assert "app.js" in assets and "app.css" in assets
    for asset in assets:
        assert not re.match(r"^[a-z]+://|^//", asset), f"index.html loads {asset} from another origin"
        if not asset.startswith(("data:", "#")):
            assert client.get(f"/{asset}").status_code == 200
    script = client.get("/app.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-type"].startswith("text/javascript")
    assert script.headers["content-encoding"] == "gzip"
    assert int(script.headers["content-length"]) < len(script.content) / 2  # sent compressed, read whole
    assert client.get("/app.js", headers={"If-None-Match": script.headers["etag"]}).status_code == 304
    plain = client.get("/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == script.content
    assert client.get("/no-such-file.js").status_code == 404


def test_every_console_call_is_in_the_service_auth_matrix() -> None:
    # The service's auth tests (tests/service/test_service_auth.py) try every route with every kind of caller.
    from tests.service.test_service_auth import BRANCH, JOB, ROUTES, UNSCOPED

    def shape(path: str) -> str:
        path = path.split("?")[0].replace(BRANCH, "{}").replace("momentum-btc", "{}")
        path = path.replace("/market/BTC-USD/", "/market/{}/").replace(JOB, "{}")
        return _shape(path)

    matrix = {(method, shape(path)) for method, path, _ in ROUTES + UNSCOPED}
    missing = {(m, p) for m, p in console_routes() if (m, _shape(p)) not in matrix}
    assert not missing, f"console calls that the auth matrix does not test: {sorted(missing)}"
