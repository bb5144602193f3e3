"""The dashboard in headless Chromium (Debian's ``chromium``, driven by
Playwright with that executable; no browser download): its charts render
with the demo data, and a track saved through the API shows up in the
live feed."""

import os
import shutil

import pytest

pytest.importorskip('fastapi')
httpx = pytest.importorskip('httpx')

from cybertools_tracking.cli import main  # noqa: E402
from cybertools_tracking.db import open_db  # noqa: E402
from cybertools_tracking.web import create_app  # noqa: E402
from tests.conftest import missing_server  # noqa: E402
from tests.webserver import running  # noqa: E402

TOKEN = 'dashboard-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}
CHROMIUM = os.environ.get('CYBERTOOLS_TEST_CHROMIUM') or shutil.which(
    'chromium') or '/usr/bin/chromium'


@pytest.fixture
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_server('playwright is not installed (pip install '
                       "'cybertools-tracking[test]')")
    if not os.path.exists(CHROMIUM):
        missing_server('no Chromium at %s (apt-get install chromium; .ci/run '
                       'does)' % CHROMIUM)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=['--no-sandbox', '--disable-gpu'])
        yield browser
        browser.close()


@pytest.fixture
def demo_db(tmp_path, capsys):
    path = str(tmp_path / 'demo.fs')
    assert main(['--db', path, 'demo']) == 0
    capsys.readouterr()
    db = open_db(path)
    yield db
    db.close()


def test_charts_render_and_the_live_feed_shows_a_new_track(
        demo_db, browser, tmp_path):
    app = create_app(demo_db, tokens=[TOKEN], open_reads=True,
                     track_events=True, poll_seconds=0.05)
    with running(app) as url, httpx.Client(base_url=url,
                                           timeout=30) as api:
        # The demo's tracks are of January 2024; the charts show the day up
        # to the newest track, so these are saved at its time.
        newest = api.get('/tracks', params={'limit': 1}).json()['tracks'][0]
        once = {'type': 'CountTracker', 'name': 'three-pages', 'target': 3,
                'conditions': []}
        assert api.post('/templates', params={'taskId': 'python/intro'},
                        json=once, headers=AUTH).status_code == 201
        for user in ('alice', 'ben'):
            for page_number in range(3 if user == 'alice' else 1):
                api.post('/tracks', json={
                    'taskId': 'python/intro', 'userName': user,
                    'data': {'page': page_number},
                    'timeStamp': newest['timeStamp']}, headers=AUTH)
        runs = len(api.get('/runs').json())

        page = browser.new_page(viewport={'width': 1400, 'height': 1000})
        errors = []
        page.on('pageerror', lambda error: errors.append(str(error)))
        page.goto(url + '/')
        page.wait_for_selector('#status:text("connected")', timeout=15000)
        chart = 'svg[data-chart="%s"] %s'
        day = api.get('/tracks', params={
            'timeFrom': newest['timeStamp'] - 24 * 3600,
            'timeTo': newest['timeStamp'], 'limit': 10_000}).json()['tracks']
        tasks = {track['taskId'] for track in day}
        assert len(tasks) > 1
        assert page.locator(chart % ('tracks-per-hour',
                                     'polyline.series')).count() == len(tasks)
        assert page.locator(chart % ('active-users', 'rect.bar')).count() \
            == 24
        assert page.locator(chart % ('runs', 'rect.span')).count() == runs
        goal = page.locator(chart % ('goals', 'rect.progress'))
        assert goal.count() == 1
        # alice completed, ben has 1 of 3: half of it, in mean progress.
        assert float(goal.get_attribute('width')) > 0
        assert '1 of 2 completed' in page.locator(
            'svg[data-chart="goals"]').text_content()
        box = page.locator('svg[data-chart="tracks-per-hour"]').bounding_box()
        assert box['width'] > 300 and box['height'] > 100   # drawn

        saved = api.post('/tracks', json={
            'taskId': 'python/intro', 'userName': 'zoe-from-the-test',
            'data': {'page': 1}}, headers=AUTH).json()
        item = page.wait_for_selector(
            '#feed li[data-type="track.saved"]:has-text("zoe-from-the-test")',
            timeout=15000)
        assert saved['id'] in item.inner_text()
        # Her copy of the template was added with the track: same commit.
        page.wait_for_selector('#feed li[data-type="goal.tracker_added"]',
                               timeout=15000)
        page.screenshot(path=str(tmp_path / 'dashboard.png'), full_page=True)
        assert (tmp_path / 'dashboard.png').stat().st_size > 10_000
        assert errors == []
        page.close()
