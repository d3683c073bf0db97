"""The console end to end in a real headless Chromium against a real `stratops serve`.

Sign in, write a strategy, see its problems at the right lines, fix them, deploy, find it in the
fleet, open its history, roll back; deploy for review and merge; and never see another tenant.
Screenshots of every page go to tests/artifacts/console/.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from console_support import ADMIN_TOKEN, REVIEWER, TOKENS, Server, run_up

from tests import needs
from tests.console.test_console_routes import console_routes

expect = needs.module("playwright.sync_api").expect
expect.set_options(timeout=15_000)  # the machine may be busy: wait longer than the default 5 s for the page

CODE = """from executor import Strategy


class Crossing(Strategy):
    def on_trade(self, trade):
        pass
"""
BROKEN_CODE = CODE.replace("def on_trade(self, trade):", "def on_trade(self, trade)")  # line 5
SPEC = """apiVersion: stratops.io/v1
kind: Strategy
metadata: {{name: crossing, tenant: alice}}
spec:
  code: {{class: Crossing}}
  subscriptions: ["trades.BTC-USD"]
  params: {{window: {window}}}
  resources:
    cpu: {cpu}
    memory: 256Mi
"""


def set_editor(page, label: str, text: str) -> None:
    editor = page.get_by_role("textbox", name=label)
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(text)


def marked_lines(page, label: str) -> list[str]:
    """The text of each editor line that carries an error diagnostic."""
    lines = page.get_by_role("textbox", name=label).locator(".cm-line:has(.cm-lintRange-error)")
    return [t.strip() for t in lines.all_inner_texts()]


def shot(page, artifacts: Path, name: str) -> None:
    """Save a screenshot of the page, after checking it shows no placeholder of a missing value."""
    text = page.locator("main").inner_text()
    assert not re.search(r"\b(null|undefined|NaN|Invalid Date)\b|\[object Object\]", text), text
    page.screenshot(path=artifacts / f"{name}.png", full_page=True)


def nav(page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=name, exact=True).click()


def sign_in(page, server: Server, tenant: str) -> None:
    page.goto(f"{server.url}/")
    page.get_by_label("Tenant token").fill(TOKENS[tenant])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    expect(page.locator("#tenant-name")).to_have_text(tenant)


# Chromium's native contenteditable editing (typing over a selection) may try to add a style attribute inside
# the CodeMirror editor; CSP blocks it and CodeMirror redraws from its own state. Only that is tolerated.
REPORT_CSP = """document.addEventListener('securitypolicyviolation', (e) =>
  window.reportCsp(e.effectiveDirective, e.blockedURI, (e.target && (e.target.id || e.target.nodeName)) || ''));"""
TOLERATED_CSP = {("style-src-attr", "inline", "code-editor"), ("style-src-attr", "inline", "spec-editor")}


def route_pattern(template: str) -> re.Pattern[str]:
    """/v1/tenants/{t}/strategies -> a regex matching a request path of that route (parameters URL-encoded)."""
    return re.compile("^" + "[^/]+".join(map(re.escape, re.split(r"\{\w+\}", template))) + "$")


class Recorder:
    """Every request the page makes, every script error, and every CSP violation."""

    def __init__(self, page):
        self.urls: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", self._console)
        page.expose_function("reportCsp", self._csp)
        page.add_init_script(REPORT_CSP)

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" and "Failed to load resource" not in text and "Content Security Policy" not in text:
            self.errors.append(text)

    def _csp(self, directive: str, blocked: str, target: str) -> None:
        if (directive, blocked, target) not in TOLERATED_CSP:
            self.errors.append(f"CSP violation: {directive} blocked {blocked!r} at {target}")

    def check(self, server: Server) -> None:
        assert not self.errors, self.errors
        origin = urlsplit(server.url)
        patterns = [route_pattern(path) for _, path in console_routes()]
        for url in self.urls:
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc), f"request to another origin: {url}"
            if parts.path.startswith("/v1/"):
                assert any(rx.match(parts.path) for rx in patterns), f"call outside api-routes.json: {url}"
            else:
                assert parts.path in ("/", "/app.js", "/app.css"), url


@pytest.fixture
def page(browser, server: Server):
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_sign_in_refuses_a_bad_token(page, server: Server, artifacts: Path) -> None:
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Tenant token")).to_be_focused()
    shot(page, artifacts, "sign-in")
    page.get_by_label("Tenant token").fill("sto_not-a-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Tenant token")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('stratops.token')") is None


def test_write_check_fix_deploy_history_rollback(page, server: Server, artifacts: Path) -> None:
    bob = server.api("bob")
    secret = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "bob-secret", "tenant": "bob"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.ETH-USD"]},
    }
    assert bob.put("/v1/tenants/bob/strategies/bob-secret", json={"spec": secret}).status_code == 200

    recorder = Recorder(page)
    sign_in(page, server, "alice")
    expect(page.get_by_text("bob-secret")).to_have_count(0)

    # Write a strategy with a syntax error and a CPU over the tenant's cap: Check puts each at its line.
    page.keyboard.press("Alt+n")
    expect(page.get_by_role("heading", name="New strategy")).to_be_focused()
    set_editor(page, "Strategy code", BROKEN_CODE)
    set_editor(page, "Strategy spec", SPEC.format(window=20, cpu='"64"'))
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_contain_text("Check found")
    problems = page.get_by_role("list", name="Problems")
    expect(problems).to_contain_text("code line 5")
    assert marked_lines(page, "Strategy code") == ["def on_trade(self, trade)"]
    shot(page, artifacts, "editor-problems")

    # Leaving the page loses nothing: the editors come back as they were.
    page.keyboard.press("Alt+f")
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_focused()
    page.keyboard.press("Alt+n")
    expect(page.get_by_text("Restored your changes that are not deployed yet.")).to_be_visible()
    expect(page.get_by_role("textbox", name="Strategy code")).to_contain_text("def on_trade(self, trade)        pass")
    expect(page.get_by_role("textbox", name="Strategy spec")).to_contain_text('cpu: "64"')

    # Fix the code: the cap problem remains, at the cpu line of the spec.
    set_editor(page, "Strategy code", CODE)
    page.get_by_role("button", name="Check").click()
    expect(problems).to_contain_text("spec.resources.cpu")
    assert marked_lines(page, "Strategy spec") == ['cpu: "64"']
    assert marked_lines(page, "Strategy code") == []
    problems.get_by_role("button", name=re.compile("spec line 9")).click()
    expect(page.get_by_role("textbox", name="Strategy spec")).to_be_focused()

    set_editor(page, "Strategy spec", SPEC.format(window=20, cpu="250m"))
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_contain_text("Check passed")
    page.get_by_role("button", name="Deploy", exact=True).click()
    expect(page.locator("#result")).to_contain_text("commit")
    first = server.api("alice").get("/v1/tenants/alice/strategies/crossing/history").json()[0]["sha"]
    nav(page, "New strategy")  # deployed: the draft is gone, a new strategy starts from the template
    expect(page.get_by_role("textbox", name="Strategy code")).to_contain_text("class MyStrategy")
    expect(page.get_by_text("Restored your changes")).to_have_count(0)

    # The fleet lists it (and never bob's).
    nav(page, "Fleet")
    row = page.get_by_role("row", name=re.compile("crossing"))
    expect(row).to_contain_text("250m")
    expect(page.get_by_text("bob-secret")).to_have_count(0)
    shot(page, artifacts, "fleet")

    # A second version, deployed with the keyboard from the loaded strategy.
    row.get_by_role("link", name="crossing").click()
    expect(page.get_by_role("heading", name="Edit crossing")).to_be_visible()
    expect(page.get_by_role("textbox", name="Strategy code")).to_contain_text("class Crossing")
    shot(page, artifacts, "editor")
    set_editor(page, "Strategy spec", SPEC.format(window=50, cpu="250m"))
    page.keyboard.press("Control+Shift+Enter")
    expect(page.locator("#result")).to_contain_text("commit")

    # History: two commits; a diff; roll back to the first.
    page.get_by_role("link", name="Open history").click()
    expect(page.get_by_role("heading", name="History of crossing")).to_be_visible()
    commits = page.locator(".commits > li")
    expect(commits).to_have_count(2)
    expect(commits.first).to_contain_text("Digest")
    commits.first.get_by_role("button", name="Diff").click()
    expect(commits.first.locator("pre.diff")).to_contain_text("50")
    shot(page, artifacts, "history")
    page.on("dialog", lambda dialog: pytest.fail(f"a native dialog: {dialog.message}"))
    commits.nth(1).get_by_role("button", name="Roll back to here").click()
    confirm = commits.nth(1).get_by_role("alertdialog", name=f"Roll back to {first[:8]}")
    expect(confirm).to_be_visible()  # in the page, in the commit's own card, near the button
    assert (
        confirm.bounding_box()["y"] - commits.nth(1).get_by_role("button", name="Roll back to here").bounding_box()["y"]
        < 80
    )
    shot(page, artifacts, "history-confirm")
    confirm.get_by_role("button", name="Roll back").click()
    expect(page.get_by_text(f"Rolled back to {first[:8]}")).to_be_visible()
    expect(commits).to_have_count(3)
    current = server.api("alice").get("/v1/tenants/alice/strategies/crossing").json()
    assert json.dumps(current["spec"]).count('"window": 20') == 1, current["spec"]

    # Signals page (no runtime here: an empty table, and the chart from the market data when there is any).
    page.goto(f"{server.url}/#/signals/crossing")
    expect(page.get_by_role("heading", name="Signals of crossing")).to_be_visible()
    expect(page.get_by_role("table")).to_be_visible()
    shot(page, artifacts, "signals")
    recorder.check(server)


def _as_reviewer(browser, server: Server, url: str):
    """A second browser, signed in as another user of tenant alice, on `url`."""
    context = browser.new_context(viewport={"width": 1366, "height": 860})
    other = context.new_page()
    other.goto(f"{server.url}/")
    other.get_by_label("Tenant token").fill(TOKENS[REVIEWER])
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("#tenant-name")).to_have_text("alice")
    other.goto(url)
    return context, other


def test_deploy_for_review_then_approve_and_merge(page, browser, server: Server, artifacts: Path) -> None:
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    nav(page, "New strategy")
    set_editor(page, "Strategy code", CODE)
    set_editor(page, "Strategy spec", SPEC.format(window=7, cpu="100m").replace("crossing", "reviewed"))
    page.get_by_role("button", name="Deploy for review").click()
    page.get_by_role("link", name=re.compile("Open review")).click()
    expect(page.get_by_role("heading", name=re.compile("Review "))).to_be_visible()
    expect(page.get_by_role("region", name="Code diff")).to_contain_text("class Crossing")
    expect(page.get_by_role("region", name="Spec diff")).to_contain_text("window: 7")
    expect(page.get_by_role("region", name="Rendered-object diff")).to_contain_text("Deployment")
    expect(page.get_by_role("region", name="Policies")).to_contain_text("All policies pass")
    # The author sees why they cannot approve, and why Merge is disabled.
    expect(page.get_by_role("button", name="Approve")).to_be_disabled()
    expect(page.get_by_text("You opened this review: you cannot approve it.")).to_be_visible()
    expect(page.get_by_role("button", name="Merge")).to_be_disabled()
    expect(page.locator("#merge-why")).to_contain_text("0 of 1 needed")
    shot(page, artifacts, "review")

    context, rita = _as_reviewer(browser, server, page.url)
    try:
        rita.get_by_label("Comment").fill("window 7 is short, but fine")
        rita.get_by_role("button", name="Comment", exact=True).click()
        expect(rita.get_by_role("list", name="Approvals and comments")).to_contain_text("window 7 is short")
        rita.get_by_role("button", name="Approve").click()
        expect(rita.get_by_role("region", name="Approvals").get_by_role("status")).to_contain_text("Approved")
        expect(rita.get_by_role("button", name="Approve")).to_be_disabled()  # one user, one approval
        shot(rita, artifacts, "review-approved")
    finally:
        context.close()

    page.reload()
    expect(page.get_by_role("list", name="Approvals and comments")).to_contain_text("rita approved")
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_text(re.compile("^Merged: commit"))).to_be_visible()
    nav(page, "Fleet")
    expect(page.get_by_role("row", name=re.compile("reviewed"))).to_be_visible()
    nav(page, "Reviews")
    expect(page.get_by_role("heading", name="Reviews")).to_be_visible()
    expect(page.get_by_text("review/alice/reviewed")).to_have_count(0)  # merged: no longer open
    shot(page, artifacts, "reviews")
    recorder.check(server)


def test_reject_a_review_with_a_reason(page, browser, server: Server, artifacts: Path) -> None:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "rejected", "tenant": "alice"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.BTC-USD"]},
    }
    response = server.api("alice").put("/v1/tenants/alice/strategies/rejected?review=true", json={"spec": doc})
    assert response.status_code == 200, response.text
    branch = response.json()["branch"]
    recorder = Recorder(page)
    context, rita = _as_reviewer(browser, server, f"{server.url}/#/review/{branch.replace('/', '%2F')}")
    try:
        rita.get_by_label("Reason to reject").fill("trades too often")
        rita.get_by_role("button", name="Reject").click()
        expect(rita.get_by_role("region", name="Approvals").get_by_role("status")).to_contain_text("Review rejected")
    finally:
        context.close()
    sign_in(page, server, "alice")
    page.goto(f"{server.url}/#/review/{branch.replace('/', '%2F')}")
    expect(page.get_by_text(re.compile("^Closed"))).to_be_visible()
    expect(page.get_by_role("button", name="Merge")).to_be_disabled()
    expect(page.locator("#merge-why")).to_contain_text("trades too often")
    shot(page, artifacts, "review-rejected")
    recorder.check(server)


def test_admin_merges_an_unapproved_review_only_with_a_reason(page, server: Server, artifacts: Path) -> None:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "urgent", "tenant": "bob"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.BTC-USD"]},
    }
    response = server.api("bob").put("/v1/tenants/bob/strategies/urgent?review=true", json={"spec": doc})
    assert response.status_code == 200, response.text
    branch = response.json()["branch"]
    recorder = Recorder(page)
    page.goto(f"{server.url}/")
    page.get_by_label("Tenant token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    page.get_by_label("Tenant").fill("bob")
    page.keyboard.press("Enter")
    expect(page.locator("#tenant-name")).to_have_text("bob")
    page.goto(f"{server.url}/#/review/{branch.replace('/', '%2F')}")
    expect(page.get_by_role("button", name="Approve")).to_be_disabled()  # the admin is no user of the tenant
    merge = page.get_by_role("button", name="Merge with override")
    merge.click()  # without a reason: refused, nothing merged
    expect(page.get_by_role("region", name="Approvals").get_by_role("alert")).to_contain_text("override reason")
    page.get_by_label("Admin override: reason").fill("exchange outage fix")
    merge.click()
    expect(page.get_by_text(re.compile("^Merged: commit"))).to_be_visible()
    message = subprocess.run(
        ["git", "log", "-1", "--format=%B", "main"], cwd=server.repo, capture_output=True, text=True, check=True
    ).stdout
    assert "Override-reason: exchange outage fix" in message and "Override-by: admin <admin@stratops>" in message
    shot(page, artifacts, "review-override")
    recorder.check(server)


def test_another_tenant_sees_only_its_own(page, server: Server, artifacts: Path) -> None:
    alice = server.api("alice")
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "alice-only", "tenant": "alice"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.BTC-USD"]},
    }
    assert alice.put("/v1/tenants/alice/strategies/alice-only", json={"spec": doc}).status_code == 200
    doc["metadata"] = {"name": "bob-own", "tenant": "bob"}
    assert server.api("bob").put("/v1/tenants/bob/strategies/bob-own", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    sign_in(page, server, "bob")
    expect(page.get_by_role("row", name=re.compile("bob-own"))).to_be_visible()
    expect(page.get_by_text("alice-only")).to_have_count(0)
    expect(page.get_by_text("crossing")).to_have_count(0)
    # Asking for alice's strategy by URL addresses bob's own tenant, where it does not exist.
    page.goto(f"{server.url}/#/edit/alice-only")
    expect(page.get_by_role("heading", name="Cannot show this page")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("bob/alice-only is not deployed")
    shot(page, artifacts, "other-tenant")
    # The fleet page stopped polling when it was left.
    polled = sum(url.endswith("/v1/tenants/bob/strategies") for url in recorder.urls)
    page.wait_for_timeout(3500)  # longer than the console's 3 s polling period
    assert sum(url.endswith("/v1/tenants/bob/strategies") for url in recorder.urls) == polled
    recorder.check(server)


def test_admin_works_on_the_tenant_it_names_and_stops_a_strategy(page, server: Server, artifacts: Path) -> None:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "bob-stoppable", "tenant": "bob"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.BTC-USD"]},
    }
    assert server.api("bob").put("/v1/tenants/bob/strategies/bob-stoppable", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    page.goto(f"{server.url}/")
    page.get_by_label("Tenant token").fill(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Choose a tenant")).to_be_visible()
    page.get_by_label("Tenant").fill("bob")
    page.keyboard.press("Enter")
    expect(page.locator("#tenant-name")).to_have_text("bob")
    row = page.get_by_role("row", name=re.compile("bob-stoppable"))
    expect(row).to_be_visible()
    expect(page.get_by_text("crossing")).to_have_count(0)
    row.get_by_role("link", name="bob-stoppable").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#result")).to_contain_text("Stopped (commit")
    nav(page, "Fleet")
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("bob-stoppable"))).to_have_count(0)
    assert server.api("bob").get("/v1/tenants/bob/strategies/bob-stoppable").status_code == 404
    recorder.check(server)


FLIPPER = """from executor import Strategy


class Flipper(Strategy):
    def on_bar(self, bar):
        self.n = getattr(self, "n", 0) + 1
        if self.n % 20 == 0:
            self.emit(symbol=bar.symbol, side="buy" if self.n % 40 else "sell", strength=0.5, reason="20 bars")
"""


def test_fleet_goes_live_and_signals_chart(page, server: Server, artifacts: Path) -> None:
    """A real `stratops up` starts while the fleet page is open: the row turns Running without a reload."""
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "flipper", "tenant": "alice"},
        "spec": {"code": {"inline": FLIPPER, "class": "Flipper"}, "subscriptions": ["bars.BTC-USD"]},
    }
    assert server.api("alice").put("/v1/tenants/alice/strategies/flipper", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    row = page.get_by_role("row", name=re.compile("flipper"))
    expect(row).to_contain_text("Unknown")
    banner = page.get_by_role("alert").filter(has_text="The runtime is not running")
    expect(banner).to_be_visible()
    with run_up(server.repo):
        expect(row).to_contain_text("Running", timeout=60_000)
        expect(banner).to_have_count(0)  # pushed by server-sent events, no reload
        revision = server.api("alice").get("/v1/tenants/alice/strategies/flipper").json()["revision"]
        expect(row).to_contain_text(f"Synced at {revision[:7]}", timeout=30_000)
        expect(row).to_contain_text("BTC-USD", timeout=60_000)  # its last signal
        shot(page, artifacts, "fleet-live")
        row.get_by_role("link", name="Signals").click()
        expect(page.get_by_role("heading", name="Signals of flipper")).to_be_visible()
        expect(page.get_by_role("row", name=re.compile("20 bars")).first).to_be_visible()
        chart = page.get_by_role("img", name=re.compile("BTC-USD: close from"))
        expect(chart).to_be_visible()
        expect(chart.locator("path.buy, path.sell").first).to_be_attached()
        shot(page, artifacts, "signals-live")
    recorder.check(server)


TALKER = """from executor import Strategy


class Talker(Strategy):
    def on_start(self):
        print("talker started", flush=True)

    def on_bar(self, bar):
        print("bar seen", flush=True)
"""


def test_live_logs_and_restart(page, server: Server, artifacts: Path) -> None:
    """The log panel follows the executor's output while it runs; Restart gives a new process, no commit."""
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "talker", "tenant": "alice"},
        "spec": {"code": {"inline": TALKER, "class": "Talker"}, "subscriptions": ["bars.BTC-USD"]},
    }
    assert server.api("alice").put("/v1/tenants/alice/strategies/talker", json={"spec": doc}).status_code == 200
    head = server.api("alice").get("/healthz").json()["revision"]
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    with run_up(server.repo):
        row = page.get_by_role("row", name=re.compile("talker"))
        expect(row).to_contain_text("Running", timeout=60_000)
        row.get_by_role("link", name="Logs").click()
        expect(page.get_by_role("heading", name="Logs of talker")).to_be_visible()
        panel = page.get_by_role("log", name="Output of talker")
        expect(panel).to_contain_text("talker started", timeout=30_000)
        expect(panel).to_contain_text("bar seen", timeout=30_000)
        seen = panel.locator(".log-line").count()
        expect(panel.locator(".log-line")).not_to_have_count(seen, timeout=15_000)  # live: new lines arrive
        page.get_by_role("button", name="Restart").click()
        expect(page.get_by_text("Restarting: a new process from the same revision")).to_be_visible()
        expect(panel.locator(".log-line", has_text="talker started")).to_have_count(2, timeout=30_000)
        shot(page, artifacts, "logs-live")
    assert server.api("alice").get("/healthz").json()["revision"] == head
    recorder.check(server)


UNNAMED = re.compile(r"^\s*- (button|link|textbox|img|table|region)(\s*\[[^\]]*\])?:?\s*$", re.M)


def assert_accessible(page) -> None:
    """Landmarks, one h1, and an accessible name on every control, table, image and region of the page."""
    expect(page.get_by_role("banner")).to_have_count(1)
    expect(page.get_by_role("navigation", name="Main")).to_have_count(1)
    expect(page.get_by_role("main")).to_have_count(1)
    expect(page.get_by_role("heading", level=1)).to_have_count(1)
    snapshot = page.locator("body").aria_snapshot()
    assert not UNNAMED.search(snapshot), f"unnamed element in:\n{snapshot}"


def test_pages_are_accessible_and_keyboard_driven(page, server: Server) -> None:
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "keyboard", "tenant": "alice"},
        "spec": {"code": {"inline": CODE, "class": "Crossing"}, "subscriptions": ["trades.BTC-USD"]},
    }
    assert server.api("alice").put("/v1/tenants/alice/strategies/keyboard", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    assert_accessible(page)
    expect(page.get_by_role("heading", level=1)).to_be_focused()  # each page puts focus on its heading
    skip = page.get_by_role("link", name="Skip to content")  # the first stop in the tab order
    skip.focus()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Fleet")).to_be_focused()
    skip.focus()
    before = page.evaluate("location.hash")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Fleet", exact=True)).to_be_focused()
    assert page.evaluate("location.hash") == before  # not taken as a route
    for key, heading in (("Alt+n", "New strategy"), ("Alt+r", "Reviews"), ("Alt+f", "Fleet")):
        page.keyboard.press(key)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_role("heading", level=1)).to_be_focused()
        assert_accessible(page)
    page.goto(f"{server.url}/#/edit/keyboard")
    expect(page.get_by_role("textbox", name="Strategy code")).to_contain_text("class Crossing")
    assert_accessible(page)
    # Ctrl+Enter checks from anywhere on the page, not only inside an editor.
    page.get_by_role("button", name="Deploy for review").focus()
    page.keyboard.press("Control+Enter")
    expect(page.locator("#result")).to_contain_text("Check passed")
    # Esc, then Tab, leaves the code editor (Tab alone indents).
    page.get_by_role("textbox", name="Strategy code").click()
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="Strategy code")).not_to_be_focused()
    page.goto(f"{server.url}/#/history/keyboard")
    expect(page.get_by_role("heading", name="History of keyboard")).to_be_visible()
    assert_accessible(page)
    recorder.check(server)


MA_CODE = (Path(__file__).resolve().parents[2] / "examples" / "ma-crossover" / "ma_crossover.py").read_text()
MA_SPEC = """apiVersion: stratops.io/v1
kind: Strategy
metadata: {name: ma, tenant: alice}
spec:
  code: {class: MovingAverageCrossover}
  subscriptions: ["bars.BTC-USD", "bars.ETH-USD"]
  params: {fast: 5, slow: 20}
"""


def test_backtest_button_shows_statistics_and_equity_next_to_the_code(page, server: Server, artifacts: Path) -> None:
    sign_in(page, server, "alice")
    page.keyboard.press("Alt+n")
    set_editor(page, "Strategy code", MA_CODE)
    set_editor(page, "Strategy spec", MA_SPEC.replace("fast: 5", "fast: five"))
    page.get_by_role("button", name="Backtest").click()
    expect(page.get_by_role("list", name="Problems")).to_contain_text("'five' is not a integer")
    set_editor(page, "Strategy spec", MA_SPEC)
    # Check shows the declared parameters as a form; a change goes into spec.params.
    page.get_by_role("button", name="Check").click()
    form = page.get_by_role("table", name="Parameters")
    expect(form).to_contain_text("slow SMA (bars)")
    page.get_by_label("fast", exact=True).fill("7")
    page.get_by_label("fast", exact=True).dispatch_event("change")
    expect(page.get_by_role("textbox", name="Strategy spec")).to_contain_text("fast: 7")
    page.get_by_role("button", name="Backtest").click()
    stats = page.get_by_role("table", name="Backtest statistics")
    expect(stats).to_be_visible(timeout=120_000)
    expect(stats).to_contain_text("Sharpe")
    expect(page.locator("#backtest-result svg title")).to_contain_text("Equity from 100,000")
    assert "fast: 7" in page.get_by_role("textbox", name="Strategy spec").inner_text()
    shot(page, artifacts, "editor-backtest")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_phone_width_dark_mode_and_long_yaml_lines(browser, server: Server, artifacts: Path) -> None:
    """390 px wide: no sideways scrolling and Sign out on screen; dark mode when the system asks; a 1440 px edit
    page with a long flow-style YAML line keeps its width (the editor scrolls inside)."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    try:
        page = phone.new_page()
        sign_in(page, server, "alice")
        assert page_width(page) <= 390
        sign_out = page.get_by_role("button", name="Sign out")
        box = sign_out.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
        assert red + green + blue < 150, background  # dark
        shot(page, artifacts, "fleet-phone-dark")
    finally:
        phone.close()
    wide = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = wide.new_page()
        sign_in(page, server, "alice")
        nav(page, "New strategy")
        symbols = ", ".join(f'"trades.SYM{i}-USD"' for i in range(60))
        set_editor(
            page,
            "Strategy spec",
            SPEC.format(window=20, cpu="250m").replace(
                'subscriptions: ["trades.BTC-USD"]', f"subscriptions: [{symbols}]"
            ),
        )
        assert page_width(page) <= 1440
        background = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), background  # light by default
        shot(page, artifacts, "edit-long-yaml")
    finally:
        wide.close()


def latest_value(label: str) -> float | None:
    """The newest value a metric chart names: 'CPU of x: 12.5 % (8 samples)' -> 12.5; None before any value."""
    match = re.search(r": (-?[\d,.]+)[^()]*\((\d+) samples\)$", label)
    return float(match.group(1).replace(",", "")) if match else None


def drawn_pixels(chart) -> int:
    """Pixels of the chart's canvas that uPlot painted (axes, grid and the series line)."""
    return chart.locator("canvas").evaluate(
        "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
    )


def test_metric_charts_of_a_running_strategy(page, server: Server, artifacts: Path) -> None:
    """A real `stratops up`: the metrics page charts events/s, lag, CPU, memory, restarts and signals/s, fed by
    the pushed status updates, with the values the runtime measures."""
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "charted", "tenant": "alice"},
        "spec": {"code": {"inline": FLIPPER, "class": "Flipper"}, "subscriptions": ["bars.BTC-USD"]},
    }
    assert server.api("alice").put("/v1/tenants/alice/strategies/charted", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    with run_up(server.repo):
        row = page.get_by_role("row", name=re.compile("charted"))
        expect(row).to_contain_text("Running", timeout=60_000)
        row.get_by_role("link", name="Metrics").click()
        expect(page.get_by_role("heading", name="Metrics of charted")).to_be_visible()
        charts = {
            key: page.locator(f"figure[data-metric={key}]")
            for key in ("events_per_s", "lag_ms_p99", "cpu_pct", "rss_mb", "restarts", "signals_per_s")
        }
        for chart in charts.values():
            expect(chart).to_have_attribute("aria-label", re.compile(r"\((\d{2,}|[5-9]) samples\)$"), timeout=60_000)
        # A scrape window can see no event (the runtime's rates are per window): wait for one that did.
        expect(charts["events_per_s"]).to_have_attribute("aria-label", re.compile(r": (?!0 )\d"), timeout=60_000)
        values = {key: latest_value(chart.get_attribute("aria-label")) for key, chart in charts.items()}
        status = server.api("alice").get("/v1/tenants/alice/strategies").json()
        live = next(r for r in status if r["name"] == "charted")["status"]
        assert values["events_per_s"] is not None and values["events_per_s"] >= 0, values  # > 0 was shown above
        assert values["rss_mb"] and 1 < values["rss_mb"] < 4 * live["rss_mb"] + 1, (values, live)
        assert values["cpu_pct"] is not None and values["cpu_pct"] >= 0, values
        assert values["restarts"] == live["restarts"], (values, live)
        assert values["signals_per_s"] is not None, values  # a rate from the signal count
        blank = page.evaluate("document.createElement('canvas').getContext('2d') && 0")
        for key, chart in charts.items():
            assert drawn_pixels(chart) > blank + 500, key
        shot(page, artifacts, "metrics-live")
        # The history outlives the page: back on the fleet page and again here, the charts start from it.
        nav(page, "Fleet")
        row.get_by_role("link", name="Metrics").click()
        expect(charts["events_per_s"]).to_have_attribute("aria-label", re.compile(r"\((\d{2,}|[5-9]) samples\)$"))
    recorder.check(server)


TWO_SYMBOLS = """from executor import Strategy


class TwoSymbols(Strategy):
    def on_bar(self, bar):
        self.n = getattr(self, "n", 0) + 1
        if self.n % 5 == 0:  # bars come in pairs (one per symbol): every 5th alternates the symbols
            self.emit(symbol=bar.symbol, side="buy" if self.n % 10 else "sell", strength=0.5, reason="5 bars")
"""


def test_signal_chart_at_the_default_feed_speed_keeps_the_chosen_symbol(page, server: Server, artifacts: Path) -> None:
    """`stratops up` at its default feed speed (the sample's pace on the wall clock): the chart marks the signals
    on the bars, and shows the first subscribed symbol until the user picks another, whatever the newest
    signal is for."""
    doc = {
        "apiVersion": "stratops.io/v1",
        "kind": "Strategy",
        "metadata": {"name": "two-symbols", "tenant": "alice"},
        "spec": {
            "code": {"inline": TWO_SYMBOLS, "class": "TwoSymbols"},
            "subscriptions": ["bars.ETH-USD", "bars.BTC-USD"],
        },
    }
    assert server.api("alice").put("/v1/tenants/alice/strategies/two-symbols", json={"spec": doc}).status_code == 200
    recorder = Recorder(page)
    sign_in(page, server, "alice")
    with run_up(server.repo, fast=False):
        expect(page.get_by_role("row", name=re.compile("two-symbols"))).to_contain_text("Running", timeout=60_000)
        page.goto(f"{server.url}/#/signals/two-symbols")
        table = page.get_by_role("table").filter(has_text="Last 50 signals")
        # Signals for both symbols, the newest for BTC-USD: the chart still shows ETH-USD, the first subscribed.
        expect(table.get_by_role("row", name=re.compile("ETH-USD")).first).to_be_visible(timeout=60_000)
        expect(table.get_by_role("row").nth(1)).to_contain_text("BTC-USD", timeout=60_000)
        eth = page.get_by_role("img", name=re.compile("^ETH-USD: close from"))
        expect(eth).to_be_visible()
        expect(eth.locator("path.buy, path.sell").first).to_be_attached(timeout=30_000)
        page.wait_for_timeout(3500)  # another refresh of the page
        expect(page.get_by_role("heading", name="ETH-USD price and signals")).to_be_visible()
        shot(page, artifacts, "signals-default-speed")
        page.get_by_label("Symbol").select_option("BTC-USD")
        btc = page.get_by_role("img", name=re.compile("^BTC-USD: close from"))
        expect(btc.locator("path.buy, path.sell").first).to_be_attached(timeout=30_000)
        expect(page.get_by_role("heading", name="BTC-USD price and signals")).to_be_visible()
    recorder.check(server)
