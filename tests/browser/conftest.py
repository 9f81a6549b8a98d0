"""Browser tests of the dashboard (/admin/): headless Debian Chromium driven by
Selenium through chromium-driver, against the app served on a free port of
127.0.0.1 with a fresh SQLite database, the package catalog and the demo data.

Where no Chromium (or its driver) is found these tests skip and say so, except
under CI=true, where that is a failure (.ci/run installs both)."""
from __future__ import annotations

import json
import os
import shutil
import threading
import urllib.request

import pytest

from tests.conftest import REPO, _ci, base_overrides

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")
ARTIFACTS = os.environ.get("BROWSER_ARTIFACTS", os.path.join(REPO, "instance", "browser-tests"))


def _find(names) -> str | None:
    for name in names:
        path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if path:
            return path
    return None


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    binary, driver = _find(CHROMIUM_NAMES), _find(DRIVER_NAMES)
    if not binary or not driver:
        missing = " and ".join(n for n, p in (("chromium", binary), ("chromium-driver", driver)) if not p)
        message = (f"no {missing} found: the dashboard's browser tests need Debian's chromium and "
                   "chromium-driver (apt-get install -y chromium chromium-driver)")
        if _ci():
            pytest.fail("CI=true but " + message, pytrace=False)
        pytest.skip(message)
    return binary, driver


class LiveServer:
    def __init__(self, app, server):
        self.app, self.server = app, server
        self.url = f"http://127.0.0.1:{server.server_port}"

    def api(self, method: str, path: str, token: str | None = None, body: dict | None = None,
            params: dict | None = None):
        from urllib.parse import urlencode

        url = self.url + "/api/v1" + path + ("?" + urlencode(params) if params else "")
        request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None)
        if body:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", "Bearer " + token)
        with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310 - our own server on 127.0.0.1
            return json.loads(response.read() or b"null")

    def token(self, username: str) -> str:
        from services.demo.seed import DEMO_PASSWORD

        return self.api("POST", "/auth/staff/login", body={"username": username, "password": DEMO_PASSWORD})[
            "access_token"]


@pytest.fixture(scope="module")
def live_server(chromium, databases):
    from werkzeug.serving import make_server

    from app import create_app

    url = databases.fresh()
    overrides = base_overrides(url)
    overrides["SMS_BACKEND"] = "console"
    app = create_app(overrides)
    runner = app.test_cli_runner()
    for args in (["catalog", "load"], ["demo", "seed"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(app, server)
    finally:
        server.shutdown()
        thread.join(10)
        with app.app_context():
            from services.core.db import db

            db.engine.dispose()
        databases.reset(url)


@pytest.fixture
def browser(chromium, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1000", "--lang=zh-CN", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()
