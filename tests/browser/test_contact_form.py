"""The counsellor's contact form: stored once and sealed, terminology hints, XSS shown as text,
keyboard alone, nothing sensitive left in the browser, 360 px wide."""

import json
import re
import subprocess
import unittest
import uuid

from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from harness import BrowserTest, HELPLINE_CODE

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class ContactFormTest(BrowserTest):
    def open_form(self):
        self.login("counsellor", "#/log")
        return self.visible("#contact-form")

    def fill_required(self, channel="phone", contact_type="counselling"):
        Select(self.visible("#channel")).select_by_value(channel)
        Select(self.visible("#contact-type")).select_by_value(contact_type)

    def type_summary(self, text):
        summary = self.visible("#summary")
        summary.clear()
        summary.send_keys(text)
        return summary

    def save(self):
        """Saves the form; returns the new contact's id from #saved."""
        self.click("#save")
        return self.saved_id()

    def saved_id(self):
        saved = self.visible("#saved")
        m = self.wait(lambda d: UUID_RE.search(saved.text), msg="#saved shows the new contact's id")
        return m.group(0)

    def contacts_count(self):
        return int(self.s.sql("SELECT count(*) FROM contacts")[0][0])

    def dump(self):
        """Every row of the database as pg_dump writes it (bytea as hex)."""
        return subprocess.run(["pg_dump", "-a", "-d", self.s.pg_url], check=True, capture_output=True,
                              text=True, timeout=60).stdout

    def test_contact_is_stored_once_and_sealed(self):
        marker = "marker-" + uuid.uuid4().hex[:12]
        phone = "+254711" + str(uuid.uuid4().int)[:6]
        before = self.contacts_count()
        self.open_form()
        self.fill_required()
        self.type_summary("Child called about bullying at school " + marker)
        self.fill_optional("#caller-phone", phone)
        cid = self.save()
        self.assertEqual(self.contacts_count(), before + 1)
        self.assertEqual(self.s.sql("SELECT count(*) FROM contacts WHERE id = :'p1'", cid), [["1"]])
        # Sealed: neither the text nor its bytes are anywhere in the database.
        dump = self.dump()
        for secret in (marker, phone):
            self.assertNotIn(secret, dump)
            self.assertNotIn(secret.encode().hex(), dump)
        row = self.s.sql("SELECT c::text, encode(summary, 'hex') FROM contacts c WHERE id = :'p1'", cid)[0]
        self.assertNotIn(marker, row[0])
        self.assertNotIn(marker.encode().hex(), row[1])
        self.assertTrue(row[1], "a summary was stored")
        # And it opens again to the same text for its counsellor.
        status, body, _ = self.s.api("GET", "/v1/contacts/" + cid, user="amina")
        self.assertEqual(status, 200)
        self.assertIn(marker, body["summary"])

    def fill_optional(self, css, text):
        found = self.d.find_elements(By.CSS_SELECTOR, css)
        if found:
            found[0].send_keys(text)

    def test_terminology_hint_while_typing(self):
        before = self.contacts_count()
        self.open_form()
        self.type_summary("She says an adult called her a child prostitute")
        hints = self.visible("#hints")
        self.wait(lambda d: "child exploited in prostitution" in hints.text,
                  msg="#hints shows the preferred term for 'child prostitute'")
        self.assertIn("child prostitute", hints.text)
        # Nothing was stored by the hint.
        self.assertEqual(self.contacts_count(), before)

    def test_markup_in_a_summary_is_shown_as_text(self):
        payload = "<img src=x onerror=alert(1)>"
        self.open_form()
        self.fill_required()
        self.type_summary(payload)
        cid = self.save()
        self.open("#/contacts/" + cid)
        self.wait(lambda d: payload in d.find_element(By.CSS_SELECTOR, "#view").text,
                  msg="the summary shown as text")
        self.assertEqual(self.d.find_elements(By.CSS_SELECTOR, "#view img"), [])
        with self.assertRaises(NoAlertPresentException):
            self.d.switch_to.alert.text
        # The list shows it too, without markup.
        self.open("#/contacts")
        self.present("#view a[href='#/contacts/%s']" % cid)
        with self.assertRaises(NoAlertPresentException):
            self.d.switch_to.alert.text

    def active(self):
        return self.d.switch_to.active_element

    def keys(self, *keys):
        self.active().send_keys(*keys)

    def tab_to(self, css, limit=80):
        """Presses TAB until the element CSS has the focus (fails after LIMIT presses): a batch
        first (fewer round trips), then one at a time, checking the focus after each."""
        # Controls after the focus up to the target, in document order. It undercounts (a date
        # field has a stop per part, radios are left out), never overcounts, so the batch stops
        # short of the target, not past it.
        ahead = self.d.execute_script("""
            const target = document.querySelector(arguments[0]), from = document.activeElement;
            if (!target) return 0;
            const after = (a, b) => !!(a.compareDocumentPosition(b) & Node.DOCUMENT_POSITION_FOLLOWING);
            return Array.from(document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]'))
                .filter(e => e.tabIndex >= 0 && !e.disabled && e.type !== 'radio' && e.getClientRects().length > 0)
                .filter(e => (from === document.body || after(from, e)) && (e === target || after(e, target)))
                .length;
        """, css)
        if ahead > 1:
            self.keys(Keys.TAB * (ahead - 1))
        for _ in range(limit):
            if self.d.execute_script("return document.activeElement.matches(arguments[0])", css):
                return self.active()
            self.keys(Keys.TAB)
        self.fail("TAB never reached %s" % css)

    def test_whole_form_by_keyboard_alone(self):
        marker = "kbd-" + uuid.uuid4().hex[:10]
        before = self.contacts_count()
        self.open_form()
        # From where the page put the focus, TAB only: channel and type by arrow keys, a
        # category found in the tree's search and ticked with SPACE, the summary typed, ENTER on
        # save. (The page is only read here, to know where the focus is.)
        self.tab_to("#channel")
        self.keys(Keys.ARROW_DOWN)
        channel = self.active().get_attribute("value")
        self.tab_to("#contact-type")
        self.keys(Keys.ARROW_DOWN)
        contact_type = self.active().get_attribute("value")
        self.tab_to("#child-age")
        self.keys("14")
        self.tab_to("#category-search")
        self.keys("bullying")
        self.tab_to("#categories input[type=checkbox][value='violence.bullying']")
        self.keys(Keys.SPACE)
        self.tab_to("#summary")
        self.keys("Typed without a mouse " + marker)
        self.tab_to("#save")
        self.keys(Keys.ENTER)
        cid = self.saved_id()
        self.assertEqual(self.contacts_count(), before + 1)
        status, body, _ = self.s.api("GET", "/v1/contacts/" + cid, user="amina")
        self.assertEqual(status, 200)
        self.assertEqual((body["channel"], body["contact_type"]), (channel, contact_type))
        self.assertEqual(body["child"]["age"], 14)
        self.assertIn("violence.bullying", [c["code"] for c in body["categories"]])
        self.assertIn(marker, body["summary"])

    def test_nothing_sensitive_left_in_the_browser(self):
        marker = "secret-" + uuid.uuid4().hex[:12]
        self.open_form()
        self.fill_required("chat")
        self.type_summary("Summary " + marker)
        self.fill_optional("#child-name", "Name" + marker)
        self.fill_optional("#caller-phone", "+254722000111")
        cid = self.save()
        self.open("#/contacts/" + cid)
        self.wait(lambda d: marker in d.find_element(By.CSS_SELECTOR, "#view").text, msg="contact shown")
        found = self.browser_storage()
        text = json.dumps(found)
        for secret in (marker, "254722000111", HELPLINE_CODE + ":", "csrf"):
            self.assertNotIn(secret, text, found)
        # Only the language choice may be kept, and sessionStorage, IndexedDB and caches stay empty.
        self.assertLessEqual(set(found["local"]), {"lang", "helpline.lang"}, found)
        self.assertEqual(found["session"], {})
        self.assertEqual(found["indexeddb"], [])
        self.assertEqual(found["caches"], [])
        self.assertEqual(found["cookie"], "")
        self.assertNotIn("error", found)
        self.assertRegex(found["url"], r"^http://127\.0\.0\.1:\d+/#/contacts/" + cid + "$")

    def test_usable_at_360_px(self):
        self.d.set_window_size(360, 800)
        self.open_form()
        for css in ("#summary", "#save"):
            el = self.visible(css)
            box = self.d.execute_script("const r = arguments[0].getBoundingClientRect(); return [r.left, r.right]", el)
            self.assertGreaterEqual(box[0], 0, css)
            self.assertLessEqual(box[1], self.d.execute_script("return window.innerWidth"), css)
        # No sideways scrolling of the page.
        self.assertLessEqual(self.d.execute_script("return document.documentElement.scrollWidth"),
                             self.d.execute_script("return window.innerWidth"))
        self.fill_required("sms")
        self.type_summary("Logged on a phone-sized screen")
        self.assertTrue(self.save())


if __name__ == "__main__":
    unittest.main()
