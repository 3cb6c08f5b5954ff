"""Headless Chromium for the console's browser tests and screenshots: Debian's ``chromium`` and ``chromium-driver``
(installed by ``python3 run.py test`` when missing; no browser is downloaded at run time), driven by Selenium."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("JEMBATAN_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("JEMBATAN_CHROMEDRIVER", "/usr/bin/chromedriver"))
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1366,900", "--lang=id")


def available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


def require() -> None:
    """Fail on CI (the project's setup installs the browser), skip elsewhere when it is missing."""
    if available():
        return
    message = (f"{CHROMIUM} / {CHROMEDRIVER} missing: `python3 run.py test` installs Debian's chromium and "
               "chromium-driver (apt-get install -y chromium chromium-driver)")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


class Browser:
    """One Chromium with a fresh profile and a download folder of its own."""

    def __init__(self, width: int = 1366, height: int = 900) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = Path(tempfile.mkdtemp(prefix="jembatan-chromium-"))
        self.downloads = self.profile / "downloads"
        self.downloads.mkdir()
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile / 'profile'}")
        options.add_argument(f"--window-size={width},{height}")
        options.add_experimental_option("prefs", {"download.default_directory": str(self.downloads),
                                                  "download.prompt_for_download": False})
        self.driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        self.driver.set_page_load_timeout(60)
        self.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow",
                                                                    "downloadPath": str(self.downloads)})

    def sign_in(self, base: str, token: str) -> None:
        from selenium.webdriver.common.by import By

        d = self.driver
        d.delete_all_cookies()
        d.get(f"{base}/console/login")
        d.find_element(By.ID, "token").send_keys(token)
        d.find_element(By.CSS_SELECTOR, "#login button[type=submit]").click()
        # the sign-in's POST and redirect must land before the caller's next page load (on a loaded machine a
        # `get` right after the click can overtake them and be sent without the session cookie)
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(d, 60).until(lambda drv: "/console/login" not in drv.current_url
                                   and drv.get_cookie("jembatan_console") is not None)

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
