"""A real headless Chromium (Debian's `chromium` + `chromium-driver`) driven by selenium.

    with chromium(tmp_path) as driver:
        driver.get(url)

Skips the test, with the reason, when Chromium, its driver or selenium is absent.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def _first(paths: tuple[str, ...], name: str) -> str | None:
    for path in paths:
        if Path(path).exists():
            return path
    return shutil.which(name)


@contextlib.contextmanager
def chromium(profile_dir: Path, width: int = 1440, height: int = 900) -> Iterator[Any]:
    """A fresh headless Chromium with its own profile directory; quits on exit."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    binary = _first(CHROMIUM_PATHS, "chromium")
    driver_path = _first(DRIVER_PATHS, "chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("Chromium or chromedriver is absent (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",  # the tests run as root, where Chromium's sandbox cannot start
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--ignore-certificate-errors",  # the tests' own CA; the HTTPS test checks trust itself
        f"--user-data-dir={profile_dir}",
        f"--window-size={width},{height}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
