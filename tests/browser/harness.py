"""The browser tests' harness: a throw-away PostgreSQL, the real helplined serving the checkout's
client/web/, and a headless Chromium driven by Selenium (all from Debian).

One stack per process, started on first use and stopped at exit (also on failure, SIGINT or
SIGTERM): PostgreSQL listens on a Unix socket in its temporary directory only, helplined on
127.0.0.1 on a free port. Environment: HL_BUILD (default build) names the build directory
holding helplined and helpline; HL_BROWSER_KEEP=1 keeps the temporary directory for a post
mortem. Used by tests/browser/test_*.py and scripts/screenshots.
"""

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("HL_BUILD", "build"))
HELPLINED = os.path.join(BUILD, "helplined")
HELPLINE = os.path.join(BUILD, "helpline")
WEB_DIR = os.path.join(ROOT, "client", "web")
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

HELPLINE_CODE = "demo"
# One web user per role (the frontend has a token only). Passwords: at least 12 characters.
USERS = {
    "counsellor": ("amina", "amina-web-pass-1"),
    "counsellor2": ("baraka", "baraka-web-pass-2"),
    "supervisor": ("demo-supervisor", "supervisor-web-pass"),
    "network": ("demo-network", "network-web-pass"),
    "admin": ("demo-admin", "admin-web-pass-123"),
}
ROLE_OF = {"counsellor2": "counsellor"}
WAIT = 10  # seconds a page may take to show what a test waits for


def _die_with_parent():
    # PR_SET_PDEATHSIG = 1: the child gets SIGKILL when this process dies, however it dies.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """PostgreSQL + helplined + Chromium, with the demo helpline, its users and their tokens."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="helpline-browser.")
        # The PostgreSQL server runs as the postgres user (as root) and must reach pg/.
        os.chmod(self.dir, 0o755)
        self.pg_dir = os.path.join(self.dir, "pg")
        self.conf = os.path.join(self.dir, "helplined.conf")
        self.log = os.path.join(self.dir, "helplined.log")
        self.downloads = os.path.join(self.dir, "downloads")
        self.profile = os.path.join(self.dir, "chromium")
        self.pg_started = False
        self.daemon = None
        self.driver = None
        self.tokens = {}
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.pg_url = None

    # -- start and stop -------------------------------------------------------------------
    def start(self):
        for path in (HELPLINED, HELPLINE):
            if not os.access(path, os.X_OK):
                raise RuntimeError("%s is missing: build it first (make), or set HL_BUILD to its build directory" % path)
        # Chromium starts (seconds) while PostgreSQL and the daemon are set up.
        failed = []

        def browser():
            try:
                self.start_browser()
            except Exception as e:
                failed.append(e)

        t = threading.Thread(target=browser)
        t.start()
        try:
            self._start_pg()
            self._setup_daemon()
            self._start_daemon()
        finally:
            t.join()
        if failed:
            raise failed[0]

    def stop(self):
        """Stops whatever runs, in reverse order; never raises."""
        if self.driver is not None:
            try:
                self.driver.quit()
            except Exception as e:  # a dead driver must not keep the rest running
                print("harness: chromium quit: %s" % e, file=sys.stderr)
            self.driver = None
        if self.daemon is not None:
            self.daemon.terminate()
            try:
                self.daemon.wait(10)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
            self.daemon = None
        if self.pg_started:
            subprocess.call([os.path.join(ROOT, "scripts", "pg-local"), "stop", self.pg_dir])
            self.pg_started = False
        if os.environ.get("HL_BROWSER_KEEP"):
            print("harness: kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _start_pg(self):
        pg_local = os.path.join(ROOT, "scripts", "pg-local")
        self.pg_started = True  # stop() tries even when start failed half-way
        subprocess.run([pg_local, "start", self.pg_dir], check=True)
        self.pg_url = subprocess.run([pg_local, "url", self.pg_dir], check=True,
                                     capture_output=True, text=True).stdout.strip()

    def admin(self, *args, stdin=None):
        """helplined ARGS -c CONF; returns its stdout (stripped). Its stderr goes to the log."""
        with open(self.log, "a") as log:
            r = subprocess.run([HELPLINED, *args, "-c", self.conf], input=stdin, stdout=subprocess.PIPE,
                               stderr=log, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("helplined %s: exit %d\n%s" % (" ".join(args[:2]), r.returncode,
                                                               self.log_tail()))
        return r.stdout.strip()

    def _setup_daemon(self):
        with open(self.conf, "w") as f:
            f.write("# written by tests/browser/harness.py\n"
                    "listen = 127.0.0.1:%d\n"
                    "database_url = %s\n"
                    "key_file = %s/master.key\n"
                    "spool_dir = %s/spool\n"
                    "taxonomy_dir = %s/taxonomy\n"
                    "migrations_dir = %s/migrations\n"
                    "web_dir = %s\n"
                    "threads = 4\n"
                    "log_level = info\n"
                    % (self.port, self.pg_url, self.dir, self.dir, ROOT, ROOT, WEB_DIR))
        with open(self.log, "a") as log:
            subprocess.run([HELPLINED, "keygen", "-o", os.path.join(self.dir, "master.key")], check=True,
                           stdout=log, stderr=log)
        self.admin("migrate")
        self.admin("helpline", "add", HELPLINE_CODE, "--name", "Demo Child Helpline", "--country", "KE",
                   "--network", "demo-net")
        # Users in parallel: process start-up dominates.
        users = [("demo-frontend", "frontend")] + [(n, ROLE_OF.get(k, k)) for k, (n, _) in USERS.items()]
        log = open(self.log, "a")
        procs = [(n, subprocess.Popen([HELPLINED, "user", "add", n, "--role", r, "--helpline", HELPLINE_CODE,
                                       "-c", self.conf], stdout=subprocess.PIPE, stderr=log, text=True))
                 for n, r in users]
        for name, p in procs:
            out, _ = p.communicate(timeout=60)
            if p.returncode != 0:
                raise RuntimeError("helplined user add %s: exit %d\n%s" % (name, p.returncode, self.log_tail()))
            self.tokens[name] = out.strip()
        procs = [(n, subprocess.Popen([HELPLINED, "user", "passwd", n, "--helpline", HELPLINE_CODE, "-c", self.conf],
                                      stdin=subprocess.PIPE, stdout=log, stderr=log, text=True))
                 for n, pw in USERS.values()]
        for (name, p), (_, pw) in zip(procs, USERS.values()):
            p.communicate(pw + "\n", timeout=60)
            if p.returncode != 0:
                raise RuntimeError("helplined user passwd %s: exit %d\n%s" % (name, p.returncode, self.log_tail()))
        log.close()

    def _start_daemon(self):
        log = open(self.log, "a")
        self.daemon = subprocess.Popen([HELPLINED, "serve", "-c", self.conf], stdout=log, stderr=log,
                                       preexec_fn=_die_with_parent)
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if json.load(r).get("database") == "up":
                        return
            except (OSError, ValueError):
                pass
            if self.daemon.poll() is not None:
                raise RuntimeError("helplined exited during start-up (%s)\n%s" % (self.daemon.returncode,
                                                                                  self.log_tail()))
            if time.monotonic() > deadline:
                raise RuntimeError("helplined did not answer /healthz within 15 s\n" + self.log_tail())
            time.sleep(0.05)

    def start_browser(self, width=1280, height=900):
        os.makedirs(self.downloads, exist_ok=True)
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        # --no-sandbox: Chromium's sandbox refuses to run as root and needs user namespaces that
        # containers (CI) often lack; it loads only our own pages from loopback here.
        for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                  "--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height),
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  "--disable-background-networking", "--disable-sync", "--password-store=basic",
                  "--lang=en-GB"):
            o.add_argument(a)
        o.add_experimental_option("prefs", {
            "download.default_directory": self.downloads,
            "download.prompt_for_download": False,
            "credentials_enable_service": False,
            "profile.password_manager_enabled": False,
            "intl.accept_languages": "en-GB,en",
        })
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=o)
        self.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": self.downloads})

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return "helplined log, last part:\n" + f.read()[-n:]
        except OSError:
            return ""

    # -- PostgreSQL and the API -----------------------------------------------------------
    def sql(self, query, *params):
        """Runs QUERY in psql; :'p1', :'p2'... are PARAMS (quoted by psql). Rows as lists of text."""
        args = ["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", self.pg_url]
        for i, p in enumerate(params, 1):
            args += ["-v", "p%d=%s" % (i, p)]
        r = subprocess.run(args, input=query, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("psql: %s" % r.stderr.strip())
        return [line.split("\t") for line in r.stdout.splitlines()]

    def expire_sessions(self):
        """Every web session unused for longer than session_idle (30 minutes), as PostgreSQL sees it."""
        self.sql("UPDATE sessions SET last_used_at = now() - interval '31 minutes'")

    def api(self, method, path, body=None, user="demo-frontend"):
        """A Bearer-token request as USER; returns (status, parsed JSON or None, headers)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.tokens[user])
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                raw, status, headers = r.read(), r.status, r.headers
        except urllib.error.HTTPError as e:
            raw, status, headers = e.read(), e.code, e.headers
        return status, (json.loads(raw) if raw else None), headers

    def post_contact(self, **fields):
        body = {"source": {"system": "browser-test", "id": str(uuid.uuid4())}, "channel": "phone",
                "contact_type": "counselling",
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))}
        body.update(fields)
        status, reply, _ = self.api("POST", "/v1/contacts", body)
        if status != 201:
            raise RuntimeError("POST /v1/contacts: %d %s" % (status, reply))
        return reply["id"]


_stack = None
_start_error = None


def stack():
    """The process's stack, started on first use. A start that failed is not tried again for
    the next test class: its error is raised again at once."""
    global _stack, _start_error
    if _start_error is not None:
        raise RuntimeError("the stack did not start (see the first error): %s" % _start_error)
    if _stack is None:
        s = Stack()
        _stack = s
        try:
            s.start()
        except BaseException as e:
            s.stop()
            _stack = None
            _start_error = e
            raise
    return _stack


def stop_stack():
    global _stack
    if _stack is not None:
        _stack.stop()
        _stack = None


atexit.register(stop_stack)


def _on_signal(signum, _frame):
    # Stops everything here and leaves: an exception raised from here would land in whatever
    # test runs, which unittest records as an error before going on with the next one.
    stop_stack()
    os._exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGHUP, _on_signal)


def login(driver, base, role, hash_=""):
    """Logs in as ROLE's user through the form on a fresh page at HASH_ (after dropping any
    session the browser had); waits for #logout."""
    name, password = USERS[role]
    if driver.current_url.startswith(base + "/"):
        driver.delete_all_cookies()  # whoever was logged in
        driver.get("about:blank")  # else only the hash may change, without a reload
    driver.get(base + "/" + hash_)
    wait = WebDriverWait(driver, WAIT, poll_frequency=0.05)
    form = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#login")))
    form.find_element(By.NAME, "user").send_keys(name)
    form.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login-submit").click()
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#logout")))
    return name


class BrowserTest(unittest.TestCase):
    """A test with the shared stack; fails on any CSP violation or JavaScript error in the
    browser's console. Each test starts logged out on a blank page."""

    @classmethod
    def setUpClass(cls):
        cls.s = stack()
        cls.d = cls.s.driver

    def setUp(self):
        self.console = []
        self.d.set_window_size(1280, 900)
        if self.d.current_url.startswith(self.s.url + "/"):
            self.d.delete_all_cookies()
        self.d.get("about:blank")
        self.d.get_log("browser")  # drop what earlier tests left

    def tearDown(self):
        errors = self.console_errors()
        if errors:
            self.fail("browser console:\n" + "\n".join(errors))

    def console_errors(self):
        """The console's CSP violations and JavaScript errors since the last call."""
        self.console += self.d.get_log("browser")
        bad = []
        for e in self.console:
            msg = e.get("message", "")
            # Network entries are HTTP statuses (a 401 before login, a refused request): the
            # tests check those themselves. Everything else at SEVERE is an error: uncaught
            # exceptions and rejections (javascript), CSP violations (security), console.error.
            if e.get("source") == "network" and "Content Security Policy" not in msg:
                continue
            if e.get("level") == "SEVERE" or "Content Security Policy" in msg:
                bad.append("%s %s: %s" % (e.get("level"), e.get("source"), msg))
        self.console = []
        return bad

    # -- page helpers ---------------------------------------------------------------------
    def wait(self, cond, timeout=WAIT, msg=""):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.05).until(cond)
        except TimeoutException:
            self.fail("timed out after %s s: %s\nconsole: %s" % (timeout, msg, self.d.get_log("browser")))

    def visible(self, css, timeout=WAIT):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout, "%s visible" % css)

    def present(self, css, timeout=WAIT):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)), timeout, "%s present" % css)

    def gone(self, css, timeout=WAIT):
        return self.wait(EC.invisibility_of_element_located((By.CSS_SELECTOR, css)), timeout,
                         "%s hidden" % css)

    def click(self, css):
        """Clicks CSS, finding it again if the page re-rendered it in between (the nav is rebuilt
        at every route)."""
        def clicked(d):
            try:
                d.find_element(By.CSS_SELECTOR, css).click()
                return True
            except (StaleElementReferenceException, NoSuchElementException):
                return False
        self.wait(clicked, msg="click %s" % css)

    def open(self, hash_=""):
        self.d.get(self.s.url + "/" + hash_)

    def login(self, role, hash_=""):
        try:
            return login(self.d, self.s.url, role, hash_)
        except TimeoutException:
            self.fail("login as %s: no #login form or no #logout after it\nconsole: %s"
                      % (role, self.d.get_log("browser")))

    def browser_storage(self):
        """What the page could keep: localStorage, sessionStorage, IndexedDB and Cache Storage
        names, the URL and the cookies its script can read."""
        return self.d.execute_async_script("""
            const done = arguments[0];
            const dump = (s) => { const o = {}; for (let i = 0; i < s.length; i++) o[s.key(i)] = s.getItem(s.key(i)); return o; };
            const out = {local: dump(localStorage), session: dump(sessionStorage), url: location.href,
                         cookie: document.cookie};
            Promise.all([indexedDB.databases(), caches.keys()]).then(([dbs, cs]) => {
                out.indexeddb = dbs.map(d => d.name); out.caches = cs; done(out);
            }).catch(e => { out.error = String(e); done(out); });
        """)

    def fetch(self, method, path, body=None, headers=None):
        """fetch() from the page (its cookie, same origin): {status, body, headers}."""
        return self.d.execute_async_script("""
            const [method, path, body, headers, done] = arguments;
            const init = {method, credentials: 'same-origin', headers: headers || {}};
            if (body !== null) { init.body = JSON.stringify(body); init.headers['Content-Type'] = 'application/json'; }
            fetch(path, init).then(async r => {
                const h = {}; r.headers.forEach((v, k) => { h[k] = v; });
                const t = await r.text(); let j = null; try { j = JSON.parse(t); } catch (e) {}
                done({status: r.status, body: j, headers: h});
            }).catch(e => done({status: 0, error: String(e)}));
        """, method, path, body, headers)
