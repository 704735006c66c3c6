"""The harness itself: a CSP violation or a JavaScript error in the page fails a test."""

import unittest

from harness import BrowserTest


class HarnessTest(BrowserTest):
    def test_console_check_catches_csp_violations_and_script_errors(self):
        self.open()
        self.visible("#login")
        self.assertEqual(self.console_errors(), [])
        # An inline script: the CSP refuses it, and the console says so.
        self.d.execute_script("const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
                              "document.body.appendChild(s);")
        self.wait(lambda d: any("Content Security Policy" in e for e in self.console_errors()),
                  msg="a CSP violation in the console")
        self.assertIsNone(self.d.execute_script("return window.__ran"))
        # An uncaught exception.
        self.d.execute_script("setTimeout(() => { throw new Error('harness-check'); }, 0)")
        self.wait(lambda d: any("harness-check" in e for e in self.console_errors()),
                  msg="an uncaught error in the console")
        self.assertEqual(self.console_errors(), [])


if __name__ == "__main__":
    unittest.main()
