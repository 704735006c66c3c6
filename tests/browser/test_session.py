"""Sessions in the browser: login failure and success, logout, expiry, CSRF, no caching of data."""

import json
import unittest
import uuid

from selenium.webdriver.common.by import By

from harness import USERS, BrowserTest


class SessionTest(BrowserTest):
    def test_login_failure_shows_an_error_and_no_session(self):
        name, password = USERS["counsellor2"]
        self.open()
        form = self.visible("#login")
        form.find_element(By.NAME, "user").send_keys(name)
        form.find_element(By.NAME, "password").send_keys(password + "-wrong")
        self.d.find_element(By.CSS_SELECTOR, "#login-submit").click()
        err = self.visible("#login-error")
        self.wait(lambda d: err.text.strip() != "", msg="#login-error has a message")
        self.assertFalse(self.d.find_element(By.CSS_SELECTOR, "#logout").is_displayed())
        self.assertTrue(self.d.find_element(By.CSS_SELECTOR, "#login").is_displayed())
        # The password field is emptied; no cookie gives a session.
        self.assertEqual(form.find_element(By.NAME, "password").get_attribute("value"), "")
        self.assertEqual(self.fetch("GET", "/v1/session")["status"], 401)
        # An unknown user gets the same message.
        failed = err.text
        form.find_element(By.NAME, "user").clear()
        form.find_element(By.NAME, "user").send_keys("nobody-at-all")
        form.find_element(By.NAME, "password").send_keys(password)
        self.d.find_element(By.CSS_SELECTOR, "#login-submit").click()
        self.wait(lambda d: err.is_displayed() and err.text == failed
                  and form.find_element(By.NAME, "password").get_attribute("value") == "",
                  msg="the same error for an unknown user")

    def test_login_then_logout(self):
        name = self.login("counsellor")
        self.assertIn(name, self.d.find_element(By.CSS_SELECTOR, "#who").text)
        self.assertFalse(self.d.find_element(By.CSS_SELECTOR, "#login").is_displayed())
        r = self.fetch("GET", "/v1/session")
        self.assertEqual(r["status"], 200)
        self.assertEqual((r["body"]["user"], r["body"]["role"]), (name, "counsellor"))
        # The session cookie is HttpOnly: the page's script cannot read it.
        self.assertEqual(self.d.execute_script("return document.cookie"), "")
        self.click("#logout")
        self.visible("#login")
        self.gone("#logout")
        self.assertEqual(self.fetch("GET", "/v1/session")["status"], 401)
        # A reload stays logged out (the server ended the session, not just the page).
        self.open("#/log")
        self.visible("#login")
        self.assertEqual(self.fetch("GET", "/v1/session")["status"], 401)

    def test_expired_session_shows_the_login_form_at_the_next_action(self):
        self.login("counsellor", "#/log")
        marker = "draft-" + uuid.uuid4().hex[:12]
        # (Not the summary: its terminology lookup could be the request that meets the expiry.)
        self.visible("#caller-name").send_keys("Caller " + marker)
        # Idle for longer than session_idle (30 minutes by default), as far as the server knows.
        self.s.expire_sessions()
        self.click("#nav a[href='#/contacts']")
        self.visible("#login")
        self.assertTrue(self.visible("#login-error").text.strip())
        self.assertFalse(self.d.find_element(By.CSS_SELECTOR, "#logout").is_displayed())
        self.assertEqual(self.fetch("GET", "/v1/session")["status"], 401)
        # Whatever the page keeps of the draft for the next login, it is not in browser storage.
        self.assertNotIn(marker, json.dumps(self.browser_storage()))
        # Logging in again brings the user back to where they were.
        self.login("counsellor", "#/contacts")

    def test_cookie_request_without_csrf_header_is_refused(self):
        self.login("counsellor")
        contact = {"source": {"system": "web", "id": "csrf-test"}, "channel": "phone",
                   "contact_type": "counselling", "started_at": "2026-01-05T10:00:00Z"}
        r = self.fetch("POST", "/v1/contacts", contact)
        self.assertEqual(r["status"], 403, r)
        self.assertEqual(r["body"]["error"]["code"], "csrf")
        r = self.fetch("POST", "/v1/contacts", contact, {"X-CSRF-Token": "not-the-token"})
        self.assertEqual(r["status"], 403, r)
        self.assertEqual(r["body"]["error"]["code"], "csrf")
        # Logging out is state-changing too.
        self.assertEqual(self.fetch("DELETE", "/v1/session")["status"], 403)
        self.assertEqual(self.s.sql("SELECT count(*) FROM contacts WHERE source_id = 'csrf-test'"), [["0"]])
        # The same request with the session's token is accepted: the refusal was the header's.
        csrf = self.fetch("GET", "/v1/session")["body"]["csrf"]
        r = self.fetch("POST", "/v1/contacts", contact, {"X-CSRF-Token": csrf})
        self.assertEqual(r["status"], 201, r)

    def test_api_replies_are_not_cached(self):
        self.open()
        self.visible("#login")
        r = self.fetch("GET", "/v1/session")
        self.assertEqual(r["status"], 401)
        self.assertIn("no-store", r["headers"].get("cache-control", ""))
        self.login("supervisor")
        for path in ("/v1/session", "/v1/contacts?limit=5", "/v1/taxonomy",
                     "/v1/stats?from=2026-01-01&to=2026-12-31&by=channel"):
            r = self.fetch("GET", path)
            self.assertEqual(r["status"], 200, (path, r))
            self.assertIn("no-store", r["headers"].get("cache-control", ""), path)
        # The shell holds no data (revalidated with its ETag) and carries the CSP.
        r = self.fetch("GET", "/")
        self.assertEqual(r["status"], 200)
        self.assertIn("default-src 'self'", r["headers"].get("content-security-policy", ""))


if __name__ == "__main__":
    unittest.main()
