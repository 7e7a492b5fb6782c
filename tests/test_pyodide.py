"""The book's own Python in the reader's browser (Pyodide, shipped with the book).

The built book, served from 127.0.0.1 and opened in Debian's Chromium as in
test_browser.py (whose fixtures these tests share): every request to another host is
blocked and fails the test. What runs in the page is compared with what CPython
prints for the same code.
"""
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT
from served import HTML, unavailable

pytestmark = pytest.mark.book

RUNNER = ROOT / 'book' / '_static' / 'pyrunner.py'
BOOT = 120_000  # ms: Pyodide boots in tens of seconds on a busy two-core machine
TRAIN = 600_000


def cpython(source):
    """What CPython prints for source run as a notebook cell (book/_static/pyrunner.py)."""
    driver = f'import sys; sys.path.insert(0, {str(RUNNER.parent)!r}); import pyrunner; ' \
             'pyrunner.install_stubs(); pyrunner.run_cell(sys.stdin.read(), {"__name__": "__main__"})'
    done = subprocess.run([sys.executable, '-c', driver], input=source, capture_output=True, text=True,
                          cwd=ROOT / 'book', timeout=600)
    return done.stdout


def in_page(page, source):
    return page.evaluate('source => window.microgptBook.run(source)', source)


def test_the_boot_files_are_the_pinned_pyodide_and_the_package(site):
    import tarfile
    import zipfile

    import pyodide_book

    folder = HTML / '_static' / 'pyodide'
    assert sorted(p.name for p in folder.iterdir()) == sorted(pyodide_book.BOOT_FILES + ['book.zip'])
    with zipfile.ZipFile(folder / 'book.zip') as pack:
        for module in (ROOT / 'microgpt').glob('*.py'):  # the package exactly as tangled
            assert pack.read(f'microgpt/{module.name}') == module.read_bytes()
        assert 'names.txt' in pack.namelist()
    with tarfile.open(pyodide_book.tarball()) as archive:  # the cached, verified tarball's files, unchanged
        for name in pyodide_book.BOOT_FILES:
            assert (folder / name).read_bytes() == archive.extractfile(f'package/{name}').read(), name


def test_a_tarball_with_another_hash_fails_the_build_in_one_line(tmp_path, monkeypatch):
    import pyodide_book
    from sphinx.errors import ExtensionError

    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path))
    cached = tmp_path / 'microgpt-book' / f'pyodide-{pyodide_book.VERSION}.tgz'
    cached.parent.mkdir()
    cached.write_bytes(b'not the tarball')  # a corrupt cache is not trusted: it is fetched again
    monkeypatch.setattr(pyodide_book, 'TARBALL', (tmp_path / 'other.tgz').as_uri())
    monkeypatch.setattr(pyodide_book, 'registry_integrity', lambda: None)
    (tmp_path / 'other.tgz').write_bytes(b'a different release')
    with pytest.raises(ExtensionError) as error:
        pyodide_book.tarball()
    assert 'expected ' + pyodide_book.INTEGRITY in str(error.value) and '\n' not in str(error.value)
    assert cached.read_bytes() == b'not the tarball'  # nothing unverified was written


PROGRAMS = [
    # the package, used as a reader would
    """
    from microgpt.tokenizer import Tokenizer
    tok = Tokenizer(['emma', 'olivia', 'ava'])
    print(tok.vocab_size, tok.encode('ava'), repr(tok.decode(tok.encode('olivia'))))
    """,
    """
    from microgpt.autograd import Value
    x = Value(3.0)
    y = x * x + 2 * x
    y.backward()
    print(y.data, x.grad)
    x.grad
    """,
    # programs the project knows nothing about
    """
    import random, collections
    rng = random.Random(7)
    words = [''.join(rng.choice('abc') for _ in range(3)) for _ in range(200)]
    print(collections.Counter(words).most_common(3))
    print(sum(rng.randrange(1000) for _ in range(1000)), rng.random())
    sorted({w[::-1] for w in words})[:5]
    """,
    """
    import math
    def primes(n):
        return [p for p in range(2, n) if all(p % d for d in range(2, math.isqrt(p) + 1))]
    print(primes(60), math.fsum(1 / k for k in range(1, 10**4)), f'{math.pi:.15f}')
    """,
]


@pytest.mark.parametrize('number', range(len(PROGRAMS)))
def test_run_prints_what_cpython_prints(visit, number):
    source = textwrap.dedent(PROGRAMS[number]).strip() + '\n'
    page = visit.open('02-tokens.html')
    page.set_default_timeout(BOOT)
    result = in_page(page, source)
    assert result['error'] is None and result['stderr'] == '', result
    assert result['stdout'] == cpython(source)


def requests_of(visit):
    seen = []
    visit.page.on('request', lambda r: seen.append(r.url))
    return seen


def test_an_edited_cell_prints_what_cpython_prints_and_errors_keep_the_session(visit):
    seen = requests_of(visit)
    page = visit.open('03-autograd.html')
    page.set_default_timeout(BOOT)
    page.locator('.mg-switch').check()
    # an exercise's solution is tagged hide-input: its editor stays in the closed toggle until
    # the reader opens it, and then replaces the read-only source there too
    hidden = page.locator('div.cell.tag_hide-input.tag_solution').first
    assert hidden.locator('.mg-editor').count() == 1 and not hidden.locator('.mg-editor').is_visible()
    hidden.locator('summary').click()
    assert hidden.locator('.mg-editor').is_visible() and not hidden.locator('.cell_input').is_visible()
    # the first cell whose code the page shows
    cell = page.locator('div.cell:not(.tag_hide-input) .mg-cellrun').first
    editor = cell.locator('.mg-editor')
    assert editor.is_visible()
    code = 'from microgpt.autograd import Value\na = Value(2.0)\nb = a * a * a\nb.backward()\nprint(b)\na.grad\n'
    editor.fill(code)
    cell.locator('button', has_text='Run').click()
    out = cell.locator('.mg-out[data-state]')
    out.wait_for()
    assert out.get_attribute('data-state') == 'ok'
    assert out.locator('pre.mg-stdout').text_content() == cpython(code)
    # an exception: its traceback under the cell, and the session goes on
    editor.fill('kept = 41\ndef f():\n    return 1 / 0\nf()\n')
    cell.locator('button', has_text='Run').click()
    page.locator('.mg-out[data-state="error"]').first.wait_for()
    trace = out.locator('pre.mg-stderr').text_content()
    assert trace.startswith('Traceback (most recent call last):')
    assert 'line 3, in f' in trace and trace.strip().endswith('ZeroDivisionError: division by zero')
    assert 'pyrunner' not in trace  # the runner's own frames are left out
    assert in_page(page, 'kept + 1') == {'stdout': '42\n', 'stderr': '', 'error': None}
    assert seen and all(url.startswith(visit.site) for url in seen), [u for u in seen if not u.startswith(visit.site)]


def test_cells_that_cannot_run_say_so(visit):
    page = visit.open('01-documents.html')
    page.locator('.mg-switch').check()
    notes = page.locator('.mg-cellrun .mg-py-note')
    assert notes.count() >= 1  # the figure of the name lengths
    assert 'cannot' in notes.first.text_content()
    assert page.locator('.mg-cellrun button', has_text='Run').count() >= 5


def test_stop_ends_a_run_and_python_starts_again(visit):
    page = visit.open('02-tokens.html')
    page.set_default_timeout(BOOT)
    assert in_page(page, 'print(6 * 7)')['stdout'] == '42\n'
    page.evaluate('() => { window.endless = window.microgptBook.run("while True: pass"); }')
    page.locator('.mg-runbar button', has_text='Stop').click()
    assert 'Stopped' in page.evaluate('window.endless')['error']
    assert in_page(page, 'print(6 * 7)')['stdout'] == '42\n'  # a new session


def test_the_training_panel_prints_the_reference_run_and_keeps_the_page_responsive(visit, names_txt):
    seen = requests_of(visit)
    page = visit.open('10-sampling.html')
    page.set_default_timeout(BOOT)
    in_page(page, 'pass')  # boot first: the timer below measures training
    panel = page.locator('.mg-train')
    panel.locator('input.mg-steps').fill('50')
    # a 10 ms timer on the main thread records how late it ever fires while training
    page.evaluate('''() => { window.late = 0; let last = performance.now();
        window.timer = setInterval(() => { const now = performance.now();
            window.late = Math.max(window.late, now - last - 10); last = now; }, 10); }''')
    panel.locator('button', has_text='Train').click()
    page.locator('.mg-train[data-done]').wait_for(timeout=TRAIN)
    late = page.evaluate('clearInterval(window.timer), window.late')
    expected = subprocess.run([sys.executable, '-m', 'microgpt', '--steps', '50', '--data', str(names_txt)],
                              capture_output=True, text=True, check=True, timeout=600).stdout
    assert panel.get_attribute('data-stdout') == expected
    points = panel.locator('svg.mg-curve polyline').get_attribute('points').split()
    assert len(points) == 50  # one point per step, drawn as the steps came
    assert late < 200, f'the main thread was {late:.0f} ms late during training'
    # the explorer of the next chapter can use the weights just trained
    page.goto(visit.site + '11-explore.html')
    if not page.locator('.mg-widget[data-widget="explorer"]').count():
        unavailable('no explorer widget in 11-explore.html: the book was built without executing the chapters')
    page.locator('button', has_text='weights I trained').click()
    widget = page.locator('.mg-widget[data-widget="explorer"][data-ready]')
    box = widget.locator('input')
    box.fill('')
    box.type('emm')
    probs = [float(p) for p in widget.locator('.mg-col').evaluate_all('cs => cs.map(c => c.dataset.p)')]
    assert abs(sum(probs) - 1) < 1e-9
    assert seen and all(url.startswith(visit.site) for url in seen), [u for u in seen if not u.startswith(visit.site)]


def test_a_readers_own_list_trains_and_samples(visit, tmp_path):
    names = ['hydrogen', 'helium', 'lithium', 'beryllium', 'boron', 'carbon']
    page = visit.open('10-sampling.html')
    page.set_default_timeout(BOOT)
    panel = page.locator('.mg-train')
    panel.locator('input.mg-steps').fill('20')
    panel.locator('textarea').fill('\n'.join(names))
    panel.locator('button', has_text='Train').click()
    page.locator('.mg-train[data-done]').wait_for(timeout=TRAIN)
    (tmp_path / 'mine.txt').write_text('\n'.join(names) + '\n', encoding='utf-8')
    expected = subprocess.run([sys.executable, '-m', 'microgpt', '--steps', '20', '--data', 'mine.txt'],
                              cwd=tmp_path, capture_output=True, text=True, check=True, timeout=600).stdout
    out = panel.get_attribute('data-stdout')
    assert out == expected
    assert out.startswith('num docs: 6\n') and out.count('\nsample ') == 20


def test_opened_from_a_file_the_page_says_how_to_serve_it(browser):
    context = browser.new_context()
    page = context.new_page()
    page.goto((HTML / '03-autograd.html').as_uri())
    status = page.locator('.mg-runbar .mg-runstatus').text_content()
    assert 'python -m http.server -d _build/html' in status
    assert page.locator('.mg-switch').is_disabled()
    result = page.evaluate('window.microgptBook.run("1").catch(e => e.message)')
    assert 'python -m http.server' in result
    context.close()
