"""The supervisor's dashboard (a suppressed cell shown as <5) and the network officer's
quarterly report (downloaded, then verified by `helpline report verify`)."""

import calendar
import glob
import json
import os
import subprocess
import time
import unittest

from selenium.webdriver.common.by import By

from harness import BrowserTest, HELPLINE, HELPLINE_CODE


def recent():
    """A started_at within the current UTC month and before now (the dashboard's default period)."""
    now = time.time()
    first = calendar.timegm(time.strptime(time.strftime("%Y-%m-01", time.gmtime(now)), "%Y-%m-%d"))
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(max(now - 60, first)))


class DashboardTest(BrowserTest):
    def test_suppressed_cell_is_shown_as_below_k(self):
        # Family Relationships 7 times, Sexuality twice: below k = 5, so suppressed.
        for code, n in (("family_relationships.general_family_issues", 7), ("sexuality.sexual_behaviours", 2)):
            for _ in range(n):
                self.s.post_contact(categories=[code], started_at=recent(), child={"age": 14, "gender": "girl"})
        self.login("supervisor", "#/dashboard")
        table = self.present("#dash-category table.stats")
        row = self.wait(lambda d: next((tr for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")
                                        if tr.find_element(By.CSS_SELECTOR, "th").text == "Sexuality"), None),
                        msg="a Sexuality row in the category table")
        cell = row.find_element(By.CSS_SELECTOR, "td")
        self.assertEqual(cell.text, "<5")
        self.assertEqual(cell.get_attribute("class"), "suppressed")
        # No suppressed cell anywhere on the page shows a number.
        cells = self.d.find_elements(By.CSS_SELECTOR, "table.stats td.suppressed")
        self.assertTrue(cells)
        self.assertEqual({c.text for c in cells}, {"<5"})
        # The k in force is stated.
        self.assertIn("5", self.visible("#dash-k").text)


class ReportTest(BrowserTest):
    def downloaded(self, pattern):
        """Waits for a finished download matching PATTERN in the downloads directory."""
        def done(_):
            files = [f for f in glob.glob(os.path.join(self.s.downloads, pattern))
                     if not f.endswith(".crdownload")]
            return files[0] if files else None
        return self.wait(done, msg="a download %s" % pattern)

    def test_downloaded_report_verifies(self):
        for f in glob.glob(os.path.join(self.s.downloads, "*")):
            os.unlink(f)
        # Contacts in the middle of the last quarter (the page's default), so its tables have cells.
        now = time.gmtime()
        q = (now.tm_mon - 1) // 3
        year, month = (now.tm_year - 1, 11) if q == 0 else (now.tm_year, 3 * (q - 1) + 2)
        for i in range(6):
            self.s.post_contact(started_at="%04d-%02d-1%dT09:00:00Z" % (year, month, i), channel="chat",
                                categories=["mental_health.mood_problems"], child={"age": 15, "gender": "boy"})
        line = self.s.admin("signing-key", "show", "--helpline", HELPLINE_CODE).split()
        self.assertEqual(line[:2], [HELPLINE_CODE, "ed25519"])
        key_id, key = line[2], line[3]
        self.login("network", "#/reports")
        self.visible("#report-fetch").click()
        # The daemon's verdict on the report it sent.
        result = self.visible("#report-verify-result")
        self.wait(lambda d: result.get_attribute("class") in ("notice", "error"), msg="the daemon's verdict")
        self.assertEqual(result.get_attribute("class"), "notice", result.text)
        self.assertIn(key_id, result.text)
        self.visible("#report-download-json").click()
        path = self.downloaded("*.json")
        r = subprocess.run([HELPLINE, "report", "verify", path, "--key", key], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # A changed report verifies neither with the client nor in the page's file check.
        with open(path) as f:
            doc = json.load(f)
        doc["k"] += 1
        tampered = os.path.join(self.s.dir, "tampered.json")
        with open(tampered, "w") as f:
            json.dump(doc, f)
        r = subprocess.run([HELPLINE, "report", "verify", tampered, "--key", key], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.present("#report-file").send_keys(tampered)
        self.visible("#report-file-check").click()
        checked = self.visible("#report-file-result")
        self.wait(lambda d: checked.get_attribute("class") in ("notice", "error"), msg="the file's verdict")
        self.assertEqual(checked.get_attribute("class"), "error", checked.text)
        # The untouched download passes the same check.
        self.present("#report-file").clear()
        self.present("#report-file").send_keys(path)
        self.visible("#report-file-check").click()
        self.wait(lambda d: checked.get_attribute("class") == "notice", msg="the downloaded file verifies")
        self.visible("#report-download-csv").click()
        self.downloaded("*.csv")


if __name__ == "__main__":
    unittest.main()
