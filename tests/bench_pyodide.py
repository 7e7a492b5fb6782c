"""Benchmark: the book's Python in the browser against CPython (a script, not a test).

    .venv/bin/python tests/bench_pyodide.py [STEPS ...]      (default: 50 1000)

Serves the built book (_build/html) on 127.0.0.1, opens the Sampling chapter in
Debian's Chromium, and prints the time Python takes to boot in the page, then, for
each number of steps, the training time that `python -m microgpt --steps N` reports
on CPython and in the page's training panel (its "trained in" line), the panel's
wall time, and whether the two printed the same bytes.
"""
import functools
import http.server
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get('MICROGPT_CHROMIUM', '/usr/bin/chromium')


def trained_in(stderr):
    return float(re.search(r'trained in ([\d.]+) s', stderr).group(1))


def main(steps):
    from playwright.sync_api import sync_playwright

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                             functools.partial(Quiet, directory=str(ROOT / '_build' / 'html')))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f'http://127.0.0.1:{server.server_address[1]}/'
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=['--headless', '--no-sandbox'])
        page = browser.new_page()
        page.set_default_timeout(3_600_000)
        page.goto(site + '10-sampling.html')
        began = time.perf_counter()
        page.evaluate('window.microgptBook.run("pass")')
        print(f'boot: {time.perf_counter() - began:.1f} s to the first result '
              f'(worker reports {page.evaluate("window.microgptBook.bootSeconds"):.1f} s)')
        panel = page.locator('.mg-train')
        for n in steps:
            done = subprocess.run([sys.executable, '-m', 'microgpt', '--steps', str(n)],
                                  capture_output=True, text=True, check=True)
            panel.evaluate('p => p.removeAttribute("data-done")')
            panel.locator('input.mg-steps').fill(str(n))
            began = time.perf_counter()
            panel.locator('button', has_text='Train').click()
            page.locator('.mg-train[data-done]').wait_for()
            wall = time.perf_counter() - began
            browser_s = trained_in(panel.get_attribute('data-stderr'))
            cpython_s = trained_in(done.stderr)
            same = panel.get_attribute('data-stdout') == done.stdout
            print(f'{n} steps: CPython {cpython_s:.1f} s, browser {browser_s:.1f} s '
                  f'({browser_s / cpython_s:.2f}x; panel wall time {wall:.1f} s), same stdout: {same}')
        browser.close()
    server.shutdown()


if __name__ == '__main__':
    main([int(n) for n in sys.argv[1:]] or [50, 1000])
