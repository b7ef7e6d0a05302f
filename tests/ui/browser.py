"""Headless Debian Chromium driven by Selenium, installed with apt-get when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PACKAGES = ("chromium", "chromium-driver")
BINARIES = ("chromium", "chromedriver")


def find_or_install_chromium() -> tuple[Path, Path] | str:
    """Paths of chromium and chromedriver, or why they cannot be installed."""
    found = _which_all()
    if found is not None:
        return found
    command = ["apt-get", "install", "-y", "-qq", *PACKAGES]
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return "Chromium is missing and apt-get needs root (no sudo here)"
        command = ["sudo", "-n", *command]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if shutil.which("apt-get") is None:
        return "Chromium is missing and there is no apt-get to install it"
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        # The package lists may be missing or stale: refresh them once.
        subprocess.run(
            [*command[: command.index("apt-get")], "apt-get", "update", "-qq"],
            env=env,
            capture_output=True,
        )
        result = subprocess.run(command, env=env, capture_output=True, text=True)
    found = _which_all()
    if found is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        return f"`{' '.join(command)}` failed: {' / '.join(tail)}"
    return found


def _which_all() -> tuple[Path, Path] | None:
    paths = [shutil.which(name) for name in BINARIES]
    if None in paths:
        return None
    chromium, driver = paths
    assert chromium is not None and driver is not None
    return Path(chromium), Path(driver)


def start_chromium(chromium: Path, driver: Path) -> webdriver.Chrome:
    """A headless Chromium with a desktop-sized window, driven by chromedriver."""
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # we run as root in CI
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1600,1200",
    ):
        options.add_argument(argument)
    # A driver path given means Selenium Manager downloads nothing.
    browser = webdriver.Chrome(service=Service(str(driver)), options=options)
    browser.set_page_load_timeout(60)
    return browser
