"""microgpt.data and microgpt.download: finding, downloading (for real, from a local server)
and reading the data set."""
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import microgpt
from microgpt import data, download
from microgpt.data import DataError

GOOD_SHA = data.SHA256


def serve(handler):
    """Serve with handler on 127.0.0.1 in a thread: yields the base URL, then stops."""
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope='module')
def server(names_txt):
    """A web server on 127.0.0.1 with the good file, a corrupted copy and a failing route."""
    good = names_txt.read_bytes()
    assert hashlib.sha256(good).hexdigest() == GOOD_SHA
    routes = {'/names.txt': good, '/corrupt.txt': good.replace(b'emma', b'emmy', 1)}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = routes.get(self.path)
            if body is None:
                self.send_error(500, 'the server had a bad day')
                return
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep the test output clean
            pass

    yield from serve(Handler)


def refused_url():
    """An address on 127.0.0.1 where nothing listens: a port just handed out and closed again."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    return f'http://127.0.0.1:{port}/names.txt'


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------- download

def test_download_writes_the_verified_file(server, tmp_path):
    dest = tmp_path / 'deep' / 'er' / 'names.txt'
    download.download(f'{server}/names.txt', dest, GOOD_SHA)
    assert sha(dest) == GOOD_SHA
    assert list(dest.parent.iterdir()) == [dest]  # no temporary file left beside it


@pytest.mark.parametrize('route', ['/corrupt.txt', '/error', None])
def test_failed_download_leaves_nothing_and_says_so_in_one_line(server, tmp_path, route):
    url = refused_url() if route is None else server + route
    dest = tmp_path / 'names.txt'
    with pytest.raises(DataError) as caught:
        download.download(url, dest, GOOD_SHA)
    message = str(caught.value)
    assert '\n' not in message
    assert url in message
    assert str(dest) in message  # where to put the file by hand
    assert list(tmp_path.iterdir()) == []  # no file, no temporary file


def test_failed_download_creates_no_folders(server, tmp_path):
    with pytest.raises(DataError):
        download.download(f'{server}/error', tmp_path / 'cache' / 'microgpt' / 'names.txt', GOOD_SHA)
    assert list(tmp_path.iterdir()) == []


def test_failure_reasons_are_named(server, tmp_path):
    reasons = {}
    for name, url in [('corrupt', f'{server}/corrupt.txt'), ('error', f'{server}/error'),
                      ('refused', refused_url())]:
        with pytest.raises(DataError) as caught:
            download.download(url, tmp_path / 'names.txt', GOOD_SHA)
        reasons[name] = str(caught.value)
    assert 'SHA-256' in reasons['corrupt']
    assert '500' in reasons['error']
    assert 'refused' in reasons['refused'].lower()


def test_failed_download_keeps_an_existing_file(server, tmp_path):
    dest = tmp_path / 'names.txt'
    dest.write_text('old\n')
    with pytest.raises(DataError):
        download.download(f'{server}/corrupt.txt', dest, GOOD_SHA)
    assert dest.read_text() == 'old\n'
    assert list(tmp_path.iterdir()) == [dest]


# ---------------------------------------------------------------- a server that misbehaves

@pytest.fixture(scope='module')
def bad_server():
    """A web server on 127.0.0.1 that sends its answer a byte at a time, or far too much."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            try:
                if self.path == '/trickle-all':  # the status line and headers a byte at a time too
                    self.trickle(b'HTTP/1.0 200 OK\r\nContent-Length: 1000\r\n\r\n' + b'a\n' * 500)
                    return
                self.send_response(200)
                if self.path == '/trickle':
                    self.send_header('Content-Length', '1000')
                    self.end_headers()
                    self.trickle(b'a\n' * 500)
                elif self.path == '/huge':  # says how big it is
                    self.send_header('Content-Length', str(10**10))
                    self.end_headers()
                    self.endless()
                else:  # /endless: no length, keeps sending until the client hangs up
                    self.end_headers()
                    self.endless()
            except OSError:  # the client hung up, which is the point
                pass

        def trickle(self, data):
            for byte in data:
                self.wfile.write(bytes([byte]))
                time.sleep(0.02)

        def endless(self):
            while True:
                self.wfile.write(b'ada\n' * 4096)

        def log_message(self, *args):
            pass

    yield from serve(Handler)


def refused_cleanly(url, dest, **limits):
    """Download url into dest expecting a failure: the one-line message."""
    with pytest.raises(DataError) as caught:
        download.download(url, dest, GOOD_SHA, **limits)
    message = str(caught.value)
    assert '\n' not in message and url in message and str(dest) in message
    assert not dest.exists() and not dest.parent.exists() or list(dest.parent.iterdir()) == []
    return message


@pytest.mark.parametrize('route', ['/trickle', '/trickle-all'])
def test_a_trickling_server_meets_the_overall_deadline(bad_server, tmp_path, route):
    start = time.monotonic()
    message = refused_cleanly(bad_server + route, tmp_path / 'names.txt', deadline=0.5)
    assert time.monotonic() - start < 3  # the per-read timeout alone would wait 20 s and more
    assert 'not complete after 0.5 seconds' in message


@pytest.mark.parametrize('route, words', [('/huge', 'offers 10,000,000,000 bytes'),
                                          ('/endless', 'sent more than')])
def test_an_oversized_answer_is_refused(bad_server, tmp_path, route, words):
    message = refused_cleanly(bad_server + route, tmp_path / 'names.txt', limit=100_000)
    assert words in message and '100,000 bytes allowed' in message


def test_the_default_limits_fit_the_real_file(names_txt, bad_server, tmp_path):
    assert names_txt.stat().st_size * 10 < download.LIMIT
    assert 60 <= download.DEADLINE <= 600
    start = time.monotonic()
    refused_cleanly(bad_server + '/endless', tmp_path / 'names.txt')  # the real limit, read for real
    assert time.monotonic() - start < 30


def test_the_address_is_configurable(monkeypatch):
    monkeypatch.delenv('MICROGPT_DATA_URL', raising=False)
    assert download.address() == data.URL
    monkeypatch.setenv('MICROGPT_DATA_URL', '')  # set but empty counts as not set
    assert download.address() == data.URL
    monkeypatch.setenv('MICROGPT_DATA_URL', 'http://127.0.0.1:1/mirror.txt')
    assert download.address() == 'http://127.0.0.1:1/mirror.txt'


def command_with_empty_default(tmp_path, url, *args):
    """Run `python -m microgpt ARGS` from a copy of the package outside any checkout, with no
    MICROGPT_DATA, a per-user cache in tmp_path and MICROGPT_DATA_URL=url."""
    package = tmp_path / 'site' / 'microgpt'
    shutil.copytree(Path(microgpt.__file__).parent, package, ignore=shutil.ignore_patterns('__pycache__'))
    env = {k: v for k, v in os.environ.items() if k != 'MICROGPT_DATA'}
    env.update(PYTHONPATH=str(package.parent), HOME=str(tmp_path / 'home'),
               XDG_CACHE_HOME=str(tmp_path / 'cache'), MICROGPT_DATA_URL=url, PYTHONDONTWRITEBYTECODE='1')
    where = subprocess.run([sys.executable, '-c', 'import microgpt.data as d; print(d.default_path())'],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()
    default = tmp_path / 'cache' / 'microgpt' / 'names.txt'
    assert where == str(default)  # the download cannot land in this checkout
    result = subprocess.run([sys.executable, '-m', 'microgpt', *args], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    return result, default


def test_the_command_line_downloads_from_the_configured_address(server, tmp_path):
    result, default = command_with_empty_default(tmp_path, f'{server}/names.txt', 'bench', '--steps', '1')
    assert result.returncode == 0, result.stderr
    assert sha(default) == GOOD_SHA
    assert os.listdir(default.parent) == ['names.txt']


@pytest.mark.parametrize('route', ['/corrupt.txt', '/error'])
def test_the_command_line_refuses_a_bad_download_in_one_line(server, tmp_path, route):
    result, default = command_with_empty_default(tmp_path, server + route, 'bench', '--steps', '1')
    assert result.returncode != 0
    assert result.stderr.count('\n') == 1 and 'Traceback' not in result.stderr
    assert server + route in result.stderr and 'MICROGPT_DATA' in result.stderr
    assert not (tmp_path / 'cache').exists()


# ---------------------------------------------------------------- where the file is found

@pytest.fixture
def places(tmp_path, monkeypatch):
    """Three existing files, one per source, and a default location that must not download."""
    files = {}
    for name in ('explicit', 'env', 'default'):
        files[name] = tmp_path / name / 'names.txt'
        files[name].parent.mkdir()
        files[name].write_text(f'{name}\n')
    monkeypatch.setattr(data, 'default_path', lambda: files['default'])
    monkeypatch.setattr(data, 'URL', refused_url())
    return files


def test_explicit_path_wins(places, monkeypatch):
    monkeypatch.setenv('MICROGPT_DATA', str(places['env']))
    assert data.find(places['explicit']) == places['explicit']
    assert data.find(str(places['explicit'])) == places['explicit']


def test_environment_beats_default(places, monkeypatch):
    monkeypatch.setenv('MICROGPT_DATA', str(places['env']))
    assert data.find() == places['env']


def test_default_when_nothing_is_named(places, monkeypatch):
    monkeypatch.delenv('MICROGPT_DATA', raising=False)
    assert data.find() == places['default']
    monkeypatch.setenv('MICROGPT_DATA', '')  # set but empty counts as not set
    assert data.find() == places['default']


def test_ensure_finds_the_same_files(places, monkeypatch):
    monkeypatch.setattr(download, 'download', lambda *a: pytest.fail('must not download'))
    monkeypatch.setenv('MICROGPT_DATA', str(places['env']))
    assert download.ensure(places['explicit']) == places['explicit']
    assert download.ensure() == places['env']
    monkeypatch.delenv('MICROGPT_DATA')
    assert download.ensure() == places['default']


def test_missing_explicit_file_is_an_error_not_a_download(places, monkeypatch, tmp_path):
    monkeypatch.setattr(download, 'download', lambda *a: pytest.fail('must not download'))
    monkeypatch.delenv('MICROGPT_DATA', raising=False)
    missing = tmp_path / 'nope.txt'
    for find in (data.find, download.ensure):
        with pytest.raises(DataError, match='nope.txt'):
            find(missing)
    monkeypatch.setenv('MICROGPT_DATA', str(missing))
    for find in (data.find, download.ensure):
        with pytest.raises(DataError, match='MICROGPT_DATA'):
            find()
    assert not missing.exists()


def test_reading_never_downloads(tmp_path, monkeypatch, server):
    """data.find of a missing default says how to get the file, in one line, and fetches nothing."""
    monkeypatch.delenv('MICROGPT_DATA', raising=False)
    default = tmp_path / 'cache' / 'names.txt'
    monkeypatch.setattr(data, 'default_path', lambda: default)
    monkeypatch.setattr(data, 'URL', f'{server}/names.txt')
    with pytest.raises(DataError) as caught:
        data.load_docs()
    message = str(caught.value)
    assert 'downloads it' in message and 'MICROGPT_DATA' in message and '\n' not in message
    assert list(tmp_path.iterdir()) == []


def test_part_one_does_not_import_the_download():
    import ast
    tree = ast.parse(Path(data.__file__).read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {'urllib.request', 'http.client', 'microgpt.download'} & names


def test_missing_default_is_downloaded(server, tmp_path, monkeypatch, names_txt):
    monkeypatch.delenv('MICROGPT_DATA', raising=False)
    default = tmp_path / 'cache' / 'microgpt' / 'names.txt'
    monkeypatch.setattr(data, 'default_path', lambda: default)
    monkeypatch.setattr(data, 'URL', f'{server}/names.txt')
    assert download.ensure() == default
    assert sha(default) == GOOD_SHA
    assert data.find() == default
    assert data.load_docs() == data.read_docs(names_txt)


def test_missing_default_that_cannot_be_downloaded(server, tmp_path, monkeypatch):
    monkeypatch.delenv('MICROGPT_DATA', raising=False)
    default = tmp_path / 'names.txt'
    monkeypatch.setattr(data, 'default_path', lambda: default)
    monkeypatch.setattr(data, 'URL', f'{server}/error')
    with pytest.raises(DataError, match='MICROGPT_DATA'):
        download.ensure()
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    """Pretend the package was imported from tmp_path/root/microgpt."""
    root = tmp_path / 'root'
    (root / 'microgpt').mkdir(parents=True)
    monkeypatch.setattr(microgpt, '__file__', str(root / 'microgpt' / '__init__.py'))
    return root


def test_default_path_in_a_checkout(fake_package):
    (fake_package / 'pyproject.toml').write_text('')
    (fake_package / 'book').mkdir()
    assert data.default_path() == fake_package.resolve() / 'data' / 'names.txt'


def test_default_path_when_installed(fake_package, tmp_path, monkeypatch):
    (fake_package / 'pyproject.toml').write_text('')  # a pyproject.toml alone is not a checkout
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert data.default_path() == tmp_path / 'xdg' / 'microgpt' / 'names.txt'
    monkeypatch.delenv('XDG_CACHE_HOME')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert data.default_path() == tmp_path / 'home' / '.cache' / 'microgpt' / 'names.txt'


def test_this_checkout_keeps_the_data_in_data_folder():
    root = Path(microgpt.__file__).resolve().parents[1]
    if (root / 'pyproject.toml').is_file() and (root / 'book').is_dir():
        assert data.default_path() == root / 'data' / 'names.txt'
    else:
        assert data.default_path().parts[-2:] == ('microgpt', 'names.txt')


# ---------------------------------------------------------------- reading

def test_lines_are_stripped_and_blank_lines_dropped(tmp_path):
    path = tmp_path / 'docs.txt'
    path.write_bytes(b'\n  emma \r\nolivia\n\n \t \nava\tx \n\n')
    assert data.read_docs(path) == ['emma', 'olivia', 'ava\tx']


def test_line_ends_and_a_byte_order_mark(tmp_path):
    """\n, \r\n and a lone \r each end a line; a leading byte order mark is not a character."""
    path = tmp_path / 'docs.txt'
    path.write_bytes('\ufeffemma\rolivia\r\nava\nmia\r'.encode())
    assert data.read_docs(path) == ['emma', 'olivia', 'ava', 'mia']


@pytest.mark.parametrize('content, words', [
    (None, 'cannot read'),
    (b'', 'no documents'),
    (b'\n  \n\t\r\n', 'no documents'),
    (b'emma\nol\xffivia\n', 'line 2'),
    (b'\0' * 16, "line 1 has the control character '\\x00'"),
    ('emma\nava\n'.encode('utf-16-le'), 'control character'),
    ('emma\nava\n'.encode('utf-16'), 'not UTF-8'),
    (b'emma\rava\rmi\x1ba\r', 'line 3'),
])
def test_bad_files_are_one_line_data_errors(tmp_path, content, words):
    path = tmp_path / 'docs.txt'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError) as caught:
        data.read_docs(path)
    message = str(caught.value)
    assert words in message and str(path) in message and '\n' not in message


def test_invalid_utf8_names_the_byte(tmp_path):
    path = tmp_path / 'latin1.txt'
    path.write_bytes('emma\nzoë\n'.encode('latin-1'))
    with pytest.raises(DataError, match='0xeb on line 2'):
        data.read_docs(path)


def test_load_docs_of_the_real_file(names_txt, monkeypatch):
    docs = data.load_docs(names_txt)
    assert len(docs) == 32033
    assert docs[:3] == ['emma', 'olivia', 'ava']
    assert all(doc == doc.strip() and doc for doc in docs)
    monkeypatch.setenv('MICROGPT_DATA', str(names_txt))
    assert data.load_docs() == docs
