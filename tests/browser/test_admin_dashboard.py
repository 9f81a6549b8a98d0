"""The dashboard in a real browser: sign-in, every part drawn from the API and
equal to it, pickers and period driving the figures, sorting, the worklist,
an Excel download, a doctor kept to their own team, the Chinese error of a bad
password, and no console error or failed request anywhere."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import time

import pytest

from services.demo.seed import DEMO_PASSWORD
from tests.browser.conftest import ARTIFACTS

CHARTS = ("chart-coverage", "chart-standard", "chart-control", "chart-overdue-village", "chart-overdue-team",
          "chart-reminders")
PROGRAMS = ("hypertension", "diabetes", "mental_disorder")


def _by(kind):
    from selenium.webdriver.common.by import By

    return getattr(By, kind)


def _wait(driver, condition, timeout=30, message=""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition, message)


def _sign_in(driver, server, username, password=DEMO_PASSWORD):
    driver.get(server.url + "/admin/")
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    driver.find_element(_by("ID"), "username").send_keys(username)
    driver.find_element(_by("ID"), "password").send_keys(password)
    driver.find_element(_by("ID"), "login-submit").click()


def _wait_ready(driver, loads: int = 1):
    """Every part loaded `loads` times in all, each chart drawn."""
    _wait(driver, lambda d: d.execute_script(
        "return document.body.dataset.state === 'ready' && Number(document.body.dataset.loads) >= arguments[0]",
        loads) or d.execute_script("return document.body.dataset.state") == "error",
        message="the dashboard never became ready")
    assert driver.execute_script("return document.body.dataset.state") == "ready", \
        driver.find_element(_by("ID"), "status").text
    for chart in CHARTS:
        rendered = driver.execute_script("return document.getElementById(arguments[0]).dataset.rendered", chart)
        assert rendered and int(rendered) >= 1, f"{chart} was not rendered"
        assert driver.execute_script(
            "return document.getElementById(arguments[0]).querySelector('canvas') !== null", chart)


def _severe_logs(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _api_paths(driver, server) -> list[str]:
    entries = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    prefix = server.url + "/api/v1"
    return [re.sub(r"\?.*$", "", e)[len(prefix):] for e in entries if e.startswith(prefix)]


def _documented(server) -> list[re.Pattern]:
    spec = json.loads(__import__("urllib.request").request.urlopen(  # nosec B310 - own server
        server.url + "/api/openapi.json", timeout=30).read())
    return [re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p[len("/api/v1"):]) + "$")
            for p in spec["paths"] if p.startswith("/api/v1")]


def _cards(driver) -> dict[str, dict]:
    return {c["metric"]: c for c in driver.execute_script("""
        return [...document.querySelectorAll('#cards .card')].map(c => ({
            metric: c.dataset.metric, numerator: Number(c.dataset.numerator),
            denominator: Number(c.dataset.denominator), rate: c.dataset.rate === '' ? null : Number(c.dataset.rate),
            previous: c.dataset.previousRate === '' ? null : Number(c.dataset.previousRate),
            shown: c.querySelector('.rate').textContent, fraction: c.querySelector('.fraction').textContent,
            delta: c.querySelector('.delta').textContent}))""")}


def _expected_cards(overview: dict) -> dict[str, dict]:
    out = {"coverage": overview["coverage"], "renewal": overview["renewal"], "fulfilment": overview["fulfilment"],
           "reminder_delivery": overview["reminder_delivery"], "satisfaction": overview["satisfaction"]}
    for p in overview["programs"]:
        out[f"standard_management.{p['program']}"] = p["standard_management"]
        out[f"control.{p['program']}"] = p["control"]
    return out


def _check_cards_equal_api(driver, server, token, params):
    overview = server.api("GET", "/stats/overview", token, params=params)
    cards, expected = _cards(driver), _expected_cards(overview)
    assert set(cards) == set(expected)
    for metric, figure in expected.items():
        card = cards[metric]
        assert (card["numerator"], card["denominator"], card["rate"]) == \
            (figure["numerator"], figure["denominator"], figure["rate"]), metric
        if metric == "satisfaction":
            assert card["shown"] == ("—" if figure["rate"] is None else f"{figure['rate']:.2f} 分")
            assert card["fraction"] == f"{figure['denominator']:,} 条评价"
        else:
            assert card["shown"] == ("—" if figure["rate"] is None else f"{figure['rate'] * 100:.1f}%"), metric
            assert card["fraction"] == f"{figure['numerator']:,} / {figure['denominator']:,}", metric
    return overview, cards


def _period(driver) -> dict:
    return {"date_from": driver.find_element(_by("ID"), "date-from").get_attribute("value"),
            "date_to": driver.find_element(_by("ID"), "date-to").get_attribute("value")}


def _select(driver, element_id, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(_by("ID"), element_id)).select_by_value(value)


def _say(capsys, text):
    with capsys.disabled():
        print("\n[browser] " + text)


# --- the demo admin ---------------------------------------------------------------

def test_admin_sees_every_part_equal_to_the_api(browser, live_server, capsys):
    server, driver = live_server, browser
    driver.get(server.url + "/admin/")
    _wait(driver, lambda d: d.execute_script("return document.readyState") == "complete")
    assert _api_paths(driver, server) == [], "the page called the API before sign-in"
    assert driver.find_element(_by("ID"), "dashboard").get_attribute("hidden") is not None
    driver.find_element(_by("ID"), "username").send_keys("demo_admin")
    driver.find_element(_by("ID"), "password").send_keys(DEMO_PASSWORD)
    driver.find_element(_by("ID"), "login-submit").click()
    _wait_ready(driver)

    # the figures on the cards are the API's, for the period and unit the pickers show
    token = server.token("demo_admin")
    units = server.api("GET", "/stats/units", token)
    today = dt.date.fromisoformat(units["today"])
    period = _period(driver)
    assert period == {"date_from": f"{today.year}-01-01", "date_to": today.isoformat()}
    overview, cards = _check_cards_equal_api(driver, server, token, period)
    assert overview["unit"]["kind"] == "community"
    assert driver.find_element(_by("ID"), "unit-label").text == "· " + overview["unit"]["name"]
    assert cards["coverage"]["denominator"] == 200  # the demo's residents
    previous = server.api("GET", "/stats/overview", token, params={
        "date_from": f"{today.year - 1}-01-01", "date_to": today.replace(year=today.year - 1).isoformat()})
    assert cards["coverage"]["previous"] == previous["coverage"]["rate"]
    tag_rows = driver.execute_script(
        "return [...document.querySelectorAll('#tag-table tbody tr')].map(r => r.dataset.tag)")
    assert tag_rows == [t["tag"] for t in overview["coverage_by_tag"]]

    # the overdue chart's total and the reminder summary are the API's
    overdue = server.api("GET", "/stats/overdue", token)
    assert overdue["total"] > 0
    assert driver.find_element(_by("ID"), "overdue-total").text == f"共 {overdue['total']:,} 人次"
    reminders = server.api("GET", "/stats/reminders", token, params=period)
    summary = driver.find_element(_by("ID"), "reminder-summary")
    assert [int(summary.get_attribute(f"data-{k}")) for k in ("sent", "delivered", "failed")] == \
        [reminders["sent"], reminders["delivered"], reminders["failed"]]

    # the worklist of the first team, as the API lists it
    team_options = driver.execute_script(
        "return [...document.getElementById('worklist-team').options].map(o => Number(o.value))")
    assert team_options == [t["id"] for t in units["teams"]]
    first = server.api("GET", "/worklist", token, params={"team_id": team_options[0], "within_days": 7})
    assert int(driver.find_element(_by("ID"), "worklist-summary").get_attribute("data-total")) == first["total"]
    rows = driver.find_elements(_by("CSS_SELECTOR"), "#worklist-table tbody tr")
    assert len(rows) == min(20, first["total"])
    assert rows[0].find_elements(_by("TAG_NAME"), "td")[1].text == first["items"][0]["resident"]["name"]
    # ID numbers are masked on the page as in the API
    assert "*" in rows[0].find_elements(_by("TAG_NAME"), "td")[2].text

    # the first render, measured by the browser
    navigation = driver.execute_script(
        "const n = performance.getEntriesByType('navigation')[0]; return n.loadEventEnd - n.startTime")
    render = driver.execute_script(
        "return performance.measure('first-render', 'login-submit', 'dashboard-ready').duration")
    _say(capsys, f"first render on the demo data: page load {navigation:.0f} ms, "
                 f"sign-in to every part drawn {render:.0f} ms (goal < 2000 ms)")

    # a screenshot of the whole page
    os.makedirs(ARTIFACTS, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, height)
    shot = os.path.join(ARTIFACTS, "admin-dashboard.png")
    assert driver.save_screenshot(shot) and os.path.getsize(shot) > 10_000
    _say(capsys, f"screenshot of the dashboard as demo_admin: {shot}")
    driver.set_window_size(1400, 1000)

    # switching the period: last year's figures, which differ, and equal the API's
    _select(driver, "period-preset", "last-year")
    _wait_ready(driver, loads=2)
    last_year = _period(driver)
    assert last_year == {"date_from": f"{today.year - 1}-01-01", "date_to": f"{today.year - 1}-12-31"}
    before = cards
    overview_ly, cards = _check_cards_equal_api(driver, server, token, last_year)
    assert overview_ly["coverage_on"] == last_year["date_to"]
    assert cards != before
    assert f"统计期 {last_year['date_from']} 至 {last_year['date_to']}" in \
        driver.find_element(_by("ID"), "period-label").text

    # picking an institution narrows every part to it
    _select(driver, "period-preset", "ytd")
    _wait_ready(driver, loads=3)
    township = next(i for i in units["institutions"] if i["type"] == "township_health_center")
    _select(driver, "institution", str(township["id"]))
    _wait_ready(driver, loads=4)
    overview_t, _ = _check_cards_equal_api(driver, server, token, {**period, "institution_id": township["id"]})
    assert overview_t["unit"] == {"kind": "institution", "id": township["id"], "name": township["name"]}
    team_choices = driver.execute_script(
        "return [...document.getElementById('team').options].map(o => o.value)")
    under = [str(t["id"]) for t in units["teams"] if t["institution_id"] == township["id"]]
    assert team_choices == ["", *under]
    workload_rows = driver.execute_script(
        "return [...document.querySelectorAll('#workload-teams tbody tr')].map(r => Number(r.dataset.teamId))")
    assert sorted(workload_rows) == sorted(int(t) for t in under)

    # sorting the workload by face-to-face visits, descending on the second click (by keyboard)
    def sort_state(key):
        return driver.execute_script(
            "return document.querySelector(`#workload-staff th button[data-sort='${arguments[0]}']`)"
            ".parentElement.getAttribute('aria-sort')", key)

    driver.find_element(_by("CSS_SELECTOR"), "#workload-staff th button[data-sort='face_to_face_followups']").click()
    _wait(driver, lambda d: sort_state("face_to_face_followups") == "ascending")
    focused = driver.switch_to.active_element
    assert focused.get_attribute("data-sort") == "face_to_face_followups"  # focus stays on the header
    from selenium.webdriver.common.keys import Keys

    focused.send_keys(Keys.ENTER)
    _wait(driver, lambda d: sort_state("face_to_face_followups") == "descending")
    api_order = server.api("GET", "/stats/workload", token, params={
        **period, "institution_id": township["id"], "sort": "face_to_face_followups", "order": "desc"})
    page_order = driver.execute_script(
        "return [...document.querySelectorAll('#workload-staff tbody tr')].map(r => Number(r.dataset.staffId))")
    assert page_order == [s["staff_id"] for s in api_order["staff"]]

    # the worklist filtered to overdue patients of a chosen team
    _select(driver, "worklist-team", under[-1])
    _select(driver, "worklist-status", "overdue")
    driver.find_element(_by("CSS_SELECTOR"), "#worklist-form button[type=submit]").click()
    expected = server.api("GET", "/worklist", token, params={"team_id": under[-1], "status": "overdue",
                                                              "within_days": 7})
    _wait(driver, lambda d: d.find_element(_by("ID"), "worklist-summary").get_attribute("data-total")
          == str(expected["total"]) and d.find_element(_by("ID"), "worklist-summary").text.startswith(
              driver.find_element(_by("CSS_SELECTOR"), "#worklist-team option:checked").text))
    sections = [r.find_elements(_by("TAG_NAME"), "td")[0].text
                for r in driver.find_elements(_by("CSS_SELECTOR"), "#worklist-table tbody tr")]
    assert sections and set(sections) == ({"逾期"} if expected["total"] else {"没有符合条件的患者"})

    # downloading the overview as Excel: the workbook holds the cards' figures
    driver.find_element(_by("CSS_SELECTOR"), "[data-export='overview']").click()
    _wait(driver, lambda d: any(p.suffix == ".xlsx" for p in d.downloads.iterdir()), timeout=60)
    time.sleep(0.2)
    [book] = [p for p in driver.downloads.iterdir() if p.suffix == ".xlsx"]
    assert book.name == f"指标总览_{today.isoformat()}.xlsx"
    from openpyxl import load_workbook

    sheet = load_workbook(book, read_only=True).worksheets[0]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    coverage_row = next(r for r in values if r and r[0] == "签约率")
    assert coverage_row[1:3] == [overview_t["coverage"]["numerator"], overview_t["coverage"]["denominator"]]

    # nothing failed: no console error, no failed request, and every call a documented endpoint
    assert _severe_logs(driver) == []
    documented = _documented(server)
    called = set(_api_paths(driver, server))
    assert {"/auth/staff/login", "/stats/units", "/stats/overview", "/stats/monthly", "/stats/overdue",
            "/stats/reminders", "/stats/workload", "/worklist", "/stats/overview.xlsx"} <= called
    assert [p for p in called if not any(d.match(p) for d in documented)] == []


# --- a doctor ---------------------------------------------------------------------

def test_doctor_sees_only_their_own_team(browser, live_server):
    server, driver = live_server, browser
    _sign_in(driver, server, "demo_doctor")
    _wait_ready(driver)
    token = server.token("demo_doctor")
    me = server.api("GET", "/stats/units", token)
    [own] = me["teams"]
    assert me["institutions"] == []
    admin = server.token("demo_admin")
    others = [t["name"] for t in server.api("GET", "/stats/units", admin)["teams"] if t["id"] != own["id"]]
    assert others

    for picker in ("team", "worklist-team"):
        options = driver.execute_script(
            "return [...document.getElementById(arguments[0]).options].map(o => [o.value, o.textContent])", picker)
        assert options == [[str(own["id"]), own["name"]]]
    assert not driver.find_element(_by("ID"), "institution-field").is_displayed()
    teams_in_workload = driver.execute_script(
        "return [...document.querySelectorAll('#workload-teams tbody tr')].map(r => Number(r.dataset.teamId))")
    assert teams_in_workload == [own["id"]]
    text = driver.find_element(_by("TAG_NAME"), "body").text
    assert [name for name in others if name in text] == []
    _check_cards_equal_api(driver, server, token, _period(driver))
    overview = server.api("GET", "/stats/overview", token, params=_period(driver))
    assert overview["unit"] == {"kind": "team", "id": own["id"], "name": own["name"]}
    # the chart's data are the team's own
    bars = driver.execute_script(
        "return echarts.getInstanceByDom(document.getElementById('chart-overdue-team')).getOption().yAxis[0].data")
    assert bars == [own["name"]]
    assert _severe_logs(driver) == []


# --- a bad password ---------------------------------------------------------------

def test_bad_password_shows_the_error_in_chinese(browser, live_server):
    server, driver = live_server, browser
    _sign_in(driver, server, "demo_admin", "not-the-password")
    _wait(driver, lambda d: d.find_element(_by("ID"), "login-error").text != "")
    assert driver.find_element(_by("ID"), "login-error").text == "用户名或密码错误"
    assert driver.find_element(_by("ID"), "dashboard").get_attribute("hidden") is not None
    assert _api_paths(driver, server) == ["/auth/staff/login"]
    # the refused sign-in is the only failed request
    logs = _severe_logs(driver)
    assert len(logs) == 1 and "/api/v1/auth/staff/login" in logs[0]["message"] and "401" in logs[0]["message"]


@pytest.mark.parametrize("path", ["/admin/", "/admin"])
def test_the_page_is_served_with_its_own_assets_only(live_server, path):
    client = live_server.app.test_client()
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<h1>家庭医生签约服务管理看板</h1>" in html
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/admin/static/[^"]+)"', html):
        got = client.get(asset)
        assert got.status_code == 200 and len(got.data) > 100, asset
