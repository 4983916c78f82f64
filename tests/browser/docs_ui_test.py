#!/usr/bin/python3
"""/docs in a real browser.

Swagger UI renders every operation of the served OpenAPI document, a bearer token from
POST /api/auth/token authorizes Try it out -> Execute on GET /api/campaigns (401 before, 200
after), the page requests nothing from outside the service and breaks none of its
Content-Security-Policy, and the no-JavaScript fallback (/docs/reference, linked from the page's
<noscript>) lists every operation.

The test starts its own `kargo-dsp serve` on a free port with a bootstrap admin, against the
PostgreSQL and Redis that scripts/test.sh starts (DATABASE_URL, REDIS_URL and SECRET_KEY from the
environment), and drives Debian's chromium headless through chromedriver (python3-selenium).

    ctest --test-dir build -R browser --output-on-failure           # with scripts/test.sh's env
    /usr/bin/python3 tests/browser/docs_ui_test.py --binary build/kargo-dsp

The tests share one server and one browser session and run in the order of their names: the
request log that test_3 checks is the one the first two tests' page loads and clicks produced.
"""

import argparse
import ctypes
import html
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Deadlines. On an idle 2-core machine the whole run takes about 20 s (Chromium starts in 2-3 s,
# Swagger UI shows the 60 or so operations in 3-5 s); they leave room for a machine busy with
# other builds. The ctest timeout (tests/browser/CMakeLists.txt) bounds the whole run.
SERVER_START_S = 20
RENDER_S = 40
EXECUTE_S = 15

BINARY = None  # set from --binary


def die_with_parent():
    """preexec_fn: the child gets SIGKILL when this test process dies, even by a signal."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def required_env(name):
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the test through ./scripts/test.sh (or export "
                           "DATABASE_URL, REDIS_URL and SECRET_KEY as it does)")
    return value


def wait_until(predicate, timeout_s, what):
    """Polls predicate() until it returns a true value, which it returns; fails after timeout_s
    with `what` (a string, or a function giving one) in the message."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what() if callable(what) else what}: not within {timeout_s} s")
        time.sleep(0.1)


class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)


def http(method, url, body=None, headers=None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as res:
            return Answer(res.status, res.headers, res.read())
    except urllib.error.HTTPError as e:
        return Answer(e.code, e.headers, e.read())


class Server:
    """`kargo-dsp serve` on a free port of 127.0.0.1 with a bootstrap admin."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="kargo-docs-ui-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.admin = ("docs_ui_" + secrets.token_hex(6), "pw-" + secrets.token_hex(12))
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": required_env("DATABASE_URL"),
            "REDIS_URL": required_env("REDIS_URL"),
            "SECRET_KEY": required_env("SECRET_KEY"),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "ADMIN_USERNAME": self.admin[0],
            "ADMIN_PASSWORD": self.admin[1],
            "IO_THREADS": "2",
            "DATABASE_POOL_SIZE": "4",
            "RATE_LIMIT_PER_MINUTE": "1000000",
            "LOG_LEVEL": "info",
            "SYNC_INTERVAL_SECONDS": "0",
            "REPORT_INTERVAL_SECONDS": "0",
        })
        self.log_path = os.path.join(self.dir.name, "server.log")
        self.log = open(self.log_path, "wb")
        # The working directory is empty: no stray .env is read.
        self.process = subprocess.Popen([BINARY, "serve"], env=env, cwd=self.dir.name, stdout=self.log,
                                        stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        wait_until(self.ready, SERVER_START_S, f"kargo-dsp serve on port {self.port} ready with its admin")

    def ready(self):
        if self.process.poll() is not None:
            raise RuntimeError(f"kargo-dsp serve exited with {self.process.returncode}:\n{self.log_tail()}")
        # Start-up creates the bootstrap admin after it starts listening.
        log = self.log_text()
        return '"msg":"bootstrap admin ready"' in log and f'"username":"{self.admin[0]}"' in log

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_tail(self, chars=4000):
        return self.log_text()[-chars:]

    def token(self):
        res = http("POST", self.base + "/api/auth/token",
                   json.dumps({"username": self.admin[0], "password": self.admin[1]}).encode(),
                   {"Content-Type": "application/json"})
        assert res.status == 200, f"POST /api/auth/token: {res.status} {res.body[:300]!r}"
        return res.json()["data"]["access_token"]

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        self.dir.cleanup()


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1400,1000", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-default-apps", "--disable-sync"):
        options.add_argument(flag)
    # performance: the DevTools Network events, i.e. every URL the page requests; browser: the
    # console, where Content-Security-Policy violations and uncaught exceptions appear.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def spec_operations(spec):
    """(method, path, tag, operationId) of every operation, once per tag as Swagger UI lists them."""
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                for tag in op.get("tags") or ["default"]:
                    out.append((method, path, tag, op.get("operationId")))
    return out


# What Markdown (Swagger UI renders descriptions with it) takes for an HTML tag: an opening tag with
# attribute-like words ("<campaign name>") or a closing one. Swagger UI drops such a tag, so a
# placeholder written that way vanishes from the page; in a code span it shows as written.
_ATTRIBUTE = r"""(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^"'=<>`\s]+|'[^']*'|"[^"]*"))?)"""
HTML_TAG = re.compile(r"<[A-Za-z][A-Za-z0-9-]*" + _ATTRIBUTE + r"*\s*/?>|</[A-Za-z][A-Za-z0-9-]*\s*>")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.S)


def bare_tags_in_descriptions(node, where=""):
    """(JSON path, tag) of every HTML-tag-like text outside code spans in a description."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                prose = CODE_SPAN.sub(lambda m: " " * len(m.group(0)), value)
                yield from ((where, m.group(0)) for m in HTML_TAG.finditer(prose))
            elif key not in ("example", "examples"):
                yield from bare_tags_in_descriptions(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from bare_tags_in_descriptions(value, f"{where}/{i}")


def deep_link_id(tag, operation_id):
    # Swagger UI's deep-link element id: spaces in either part become underscores.
    return "operations-" + tag.replace(" ", "_") + "-" + operation_id.replace(" ", "_")


class DocsUiTest(unittest.TestCase):
    server = None
    driver = None
    requests = []  # every URL the browser requested, in order
    responses = {}  # URL -> response headers (lower-case names)
    console = []  # browser console entries
    page_failure = None  # why /docs did not render, once it did not

    @classmethod
    def setUpClass(cls):
        cls.server = Server()
        try:
            cls.spec = http("GET", cls.server.base + "/docs/openapi.json").json()
            cls.operations = spec_operations(cls.spec)
            cls.driver = start_browser()
            cls.driver.implicitly_wait(0)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.driver is not None:
            cls.driver.quit()
            cls.driver = None
        if cls.server is not None:
            cls.server.stop()
            cls.server = None

    def run(self, result=None):
        failures = len(result.failures) + len(result.errors) if result else 0
        outcome = super().run(result)
        if result and len(result.failures) + len(result.errors) > failures and self.server:
            sys.stderr.write(f"---- kargo-dsp serve log (tail) ----\n{self.server.log_tail()}\n----\n")
        return outcome

    # --- helpers ---

    def collect_logs(self):
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif message["method"] == "Network.responseReceived":
                response = params["response"]
                self.responses[response["url"]] = {k.lower(): v for k, v in response["headers"].items()}
        self.console.extend(self.driver.get_log("browser"))

    def click(self, element):
        # Scrolled to the middle first: Swagger UI's sticky parts must not cover the target.
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def open_docs(self):
        """Loads /docs and waits until every operation shows; the page test_1 loaded is reused.
        Fails at once when the page reports a script error or a failed load (a missing file),
        and, once it failed, fails the same way for the later tests instead of waiting again."""
        if DocsUiTest.page_failure:
            raise AssertionError(DocsUiTest.page_failure)
        if self.driver.current_url.split("#")[0] != self.server.base + "/docs":
            self.driver.get(self.server.base + "/docs")
        expected = len(self.operations)
        shown = lambda: len(self.driver.find_elements(By.CSS_SELECTOR, ".opblock"))  # noqa: E731
        first_entry = len(self.console)

        def rendered():
            self.collect_logs()
            errors = [e["message"] for e in self.console[first_entry:] if e["level"] == "SEVERE"]
            if errors:
                raise AssertionError("/docs failed in the browser: " + " | ".join(errors))
            return shown() >= expected

        try:
            wait_until(rendered, RENDER_S,
                       lambda: f"Swagger UI showing the document's {expected} operations (it shows {shown()})")
        except AssertionError as e:
            DocsUiTest.page_failure = str(e)
            raise

    def execute(self, operation):
        """Clicks Execute in the operation's (open) block and returns the status Swagger UI shows."""
        status_cells = ".live-responses-table .response-col_status"
        # Swagger UI updates the last response's cells in place: clear it first.
        for clear in operation.find_elements(By.CSS_SELECTOR, "button.btn-clear"):
            self.click(clear)
        wait_until(lambda: not operation.find_elements(By.CSS_SELECTOR, status_cells), EXECUTE_S,
                   "the previous response cleared")
        buttons = operation.find_elements(By.CSS_SELECTOR, "button.execute")
        self.assertEqual(len(buttons), 1, "an Execute button without clicking Try it out (tryItOutEnabled)")
        self.click(buttons[0])

        def shown_status():
            texts = [cell.text.strip() for cell in operation.find_elements(By.CSS_SELECTOR, status_cells)]
            return next((t for t in texts if t.isdigit()), None)

        return wait_until(shown_status, EXECUTE_S, "Swagger UI showing the live response's status")

    # --- tests, in this order ---

    def test_0_descriptions_keep_placeholders_in_code_spans(self):
        # Checked on the document, not in the page: which text Swagger UI drops is hard to see.
        self.assertEqual(list(bare_tags_in_descriptions(self.spec)), [],
                         "write placeholders such as <id> in a code span: `<id>`")

    def test_1_every_operation_of_the_document_renders(self):
        self.assertGreaterEqual(len(self.operations), 40, "the served document lists the API's operations")
        self.open_docs()
        blocks = self.driver.find_elements(By.CSS_SELECTOR, ".opblock")
        self.assertEqual(len(blocks), len(self.operations))
        shown = {block.get_attribute("id") for block in blocks}
        expected = {deep_link_id(tag, op_id) for _, _, tag, op_id in self.operations}
        self.assertEqual(shown, expected)
        # Swagger UI lists problems of the document (a $ref it cannot resolve, ...) in this box.
        errors = self.driver.find_elements(By.CSS_SELECTOR, ".swagger-ui .errors-wrapper")
        self.assertEqual([e.text for e in errors], [])
        self.collect_logs()

    def test_2_try_it_out_with_a_bearer_token(self):
        self.open_docs()
        operation = self.driver.find_element(By.ID, deep_link_id("campaigns", "listCampaigns"))
        self.click(operation.find_element(By.CSS_SELECTOR, ".opblock-summary-control"))
        wait_until(lambda: operation.find_elements(By.CSS_SELECTOR, "button.execute"), EXECUTE_S,
                   "GET /api/campaigns opened")
        self.assertEqual(self.execute(operation), "401", "without Authorize the request has no token")

        token = self.server.token()
        self.click(self.driver.find_element(By.CSS_SELECTOR, ".scheme-container .btn.authorize"))
        modal = wait_until(lambda: self.driver.find_elements(By.CSS_SELECTOR, ".modal-ux"), EXECUTE_S,
                           "the Authorize dialog")[0]
        modal.find_element(By.ID, "auth-bearer-value").send_keys(token)
        self.click(modal.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize"))
        self.click(modal.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done"))
        wait_until(lambda: not self.driver.find_elements(By.CSS_SELECTOR, ".modal-ux"), EXECUTE_S,
                   "the Authorize dialog closed")

        self.assertEqual(self.execute(operation), "200")
        body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table .response .response-col_description").text
        self.assertIn('"success": true', body)
        curl = operation.find_element(By.CSS_SELECTOR, ".curl-command").text
        self.assertIn("Authorization: Bearer " + token, curl)
        # servers: [{url: /}]: requests go to the origin that served the page.
        url = operation.find_element(By.CSS_SELECTOR, ".request-url pre").text.strip()
        self.assertTrue(url.startswith(self.server.base + "/api/campaigns"), url)
        self.collect_logs()

    def test_3_the_page_requests_nothing_from_outside_the_service(self):
        self.collect_logs()
        origin = self.server.base + "/"
        outside = [u for u in self.requests if not (u.startswith(origin) or u.startswith("data:"))]
        self.assertEqual(outside, [])
        # The log is complete: the page, its files, the document and the Try it out requests.
        paths = {urllib.parse.urlsplit(u).path for u in self.requests if u.startswith(origin)}
        for path in ("/docs", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js",
                     "/docs/openapi.json", "/api/campaigns"):
            self.assertIn(path, paths)
        # No Content-Security-Policy violation, no uncaught exception.
        problems = [e["message"] for e in self.console
                    if e.get("source") in ("security", "javascript") or "Content Security Policy" in e["message"]]
        self.assertEqual(problems, [])
        # The policy the page ran under forbids inline scripts, and the files came compressed.
        page = self.responses[self.server.base + "/docs"]
        policy = page["content-security-policy"]
        self.assertRegex(policy, r"(^|;)\s*default-src 'self'\s*(;|$)")
        self.assertRegex(policy, r"(^|;)\s*script-src 'self'\s*(;|$)")
        bundle = [h for u, h in self.responses.items() if "/docs/swagger-ui-bundle.js?v=" in u]
        self.assertTrue(bundle, "the bundle is linked with its version")
        self.assertEqual(bundle[0].get("content-encoding"), "gzip")
        self.assertIn("immutable", bundle[0].get("cache-control", ""))

    def test_4_without_javascript_the_page_links_the_plain_reference(self):
        reference = http("GET", self.server.base + "/docs/reference")
        self.assertEqual(reference.status, 200)
        text = reference.text()
        missing = [f"{method.upper()} {path}" for method, path, _, _ in self.operations
                   if f'<span class="m {method}">{method}</span> <code>{html.escape(path)}</code>' not in text]
        self.assertEqual(missing, [], "operations missing from /docs/reference")

        self.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        try:
            self.driver.get(self.server.base + "/docs")
            self.assertEqual(self.driver.find_elements(By.CSS_SELECTOR, ".opblock"), [])
            link = self.driver.find_element(By.CSS_SELECTOR, "noscript a[href='docs/reference'], a[href='docs/reference']")
            self.assertTrue(link.is_displayed(), "the <noscript> link shows when scripts are off")
            link.click()
            wait_until(lambda: self.driver.current_url == self.server.base + "/docs/reference", EXECUTE_S,
                       "the link leads to /docs/reference")
            shown = self.driver.find_elements(By.CSS_SELECTOR, ".op")
            self.assertEqual(len(shown), len({(m, p) for m, p, _, _ in self.operations}))
        finally:
            self.driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def main():
    global BINARY
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True, help="the kargo-dsp executable (a release build)")
    args, rest = parser.parse_known_args()
    BINARY = os.path.abspath(args.binary)
    unittest.main(argv=[sys.argv[0], "-v"] + rest)


if __name__ == "__main__":
    main()
