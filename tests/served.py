"""The built book served on 127.0.0.1 and opened in Debian's Chromium: what the
browser tests share. conftest.py registers the fixtures (site, browser, visit), so that
every test module uses one server and one Playwright session.
"""
import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]

HTML = ROOT / '_build' / 'html'
CHECKPOINT = ROOT / '_build' / 'reference-run.json'
CHROMIUM = Path(os.environ.get('MICROGPT_CHROMIUM', '/usr/bin/chromium'))
ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync']
REQUIRED = os.environ.get('MICROGPT_BROWSER_TESTS') == '1'
LOCAL = {'127.0.0.1', 'localhost'}


def unavailable(why):
    """Skip, or fail when the browser tests are required."""
    if REQUIRED:
        pytest.fail(f'{why} (MICROGPT_BROWSER_TESTS=1 requires the browser tests)', pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope='session')
def site():
    """The base URL of _build/html, served on 127.0.0.1 for the whole session."""
    build = '`sphinx-build -W --keep-going -j auto -c . -b html book _build/html`'
    if not (HTML / 'index.html').exists():
        unavailable(f'no built book at {HTML}: build it first with {build}')
    import tangle

    # the build keeps a copy of each page's source: a page that differs was built from an older chapter
    stale = [c.name for c in tangle.chapters()
             if not (HTML / '_sources' / f'{c.stem}.md').exists()
             or (HTML / '_sources' / f'{c.stem}.md').read_bytes() != c.read_bytes()]
    if stale:
        unavailable(f'the built book in {HTML} is older than {", ".join(stale)}: build it again with {build}')

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(HTML)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/'
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='session')
def browser(site):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable('Playwright is not installed: pip install -e ".[test]"')
    if not CHROMIUM.exists():
        unavailable(f'no Chromium at {CHROMIUM}: apt-get install chromium (or set MICROGPT_CHROMIUM)')
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


class Visit:
    """A browser tab that records console errors, page errors, failed and foreign requests."""

    def __init__(self, browser, site, **options):
        """options: of Playwright's browser.new_context (a viewport, a color_scheme, ...)."""
        self.site = site
        self.context = browser.new_context(**{'viewport': {'width': 1280, 'height': 900}, **options})
        self.context.set_default_timeout(20_000)
        self.problems = []
        self.context.route('**/*', self._route)
        self.page = self.context.new_page()
        self.page.on('console', lambda m: m.type == 'error' and self.problems.append(f'console error: {m.text}'))
        self.page.on('pageerror', lambda e: self.problems.append(f'page error: {e}'))
        self.page.on('response', lambda r: r.status >= 400 and self.problems.append(f'HTTP {r.status}: {r.url}'))
        self.page.on('requestfailed', lambda r: self.problems.append(f'request failed: {r.url} {r.failure}'))

    def _route(self, route):
        url = urlsplit(route.request.url)
        if url.scheme in ('http', 'https', 'ws', 'wss') and url.hostname not in LOCAL:
            self.problems.append(f'request to another host: {route.request.url}')
            route.abort()
        else:
            route.continue_()

    def open(self, path):
        self.page.goto(self.site + path, wait_until='load')
        self.page.wait_for_load_state('networkidle')
        return self.page

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    v = Visit(browser, site)
    yield v
    v.close()
    assert not v.problems, '\n'.join(v.problems)
