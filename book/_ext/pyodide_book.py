"""Run the book's own Python in the reader's browser, with Pyodide.

At build time this extension
- fetches the pinned Pyodide release from the npm registry (or takes it from the cache),
  checks it against the integrity hash pinned below, and copies the five files that boot
  Python into `_static/pyodide/`;
- packs the tangled package `microgpt/` and the data set into `_static/pyodide/book.zip`;
- gives every Part I page (chapters 01-11) the source and tags of its code cells as
  inline JSON, read with myst-nb's own reader, so `runcells.js` can run them;
- adds the `{train-panel}` directive: the training panel of the Sampling chapter.

Nothing is fetched at read time except from the book's own origin. A failed download
or a hash mismatch fails the build with one line.
"""
import base64
import hashlib
import json
import os
import re
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
VERSION = '314.0.8'  # Python 3.14.2
TARBALL = f'https://registry.npmjs.org/pyodide/-/pyodide-{VERSION}.tgz'
METADATA = f'https://registry.npmjs.org/pyodide/{VERSION}'
# the registry's dist.integrity for this version; a tarball with another hash is refused
INTEGRITY = 'sha512-74Wq1kXOC+CCEzAfxuRAO701nAcCMLjf8NrwvWpu8S41dVMXwXmLQ05dYB+F4e46AdnGo0oq7YHSVUpHsoarLQ=='
BOOT_FILES = ['pyodide.mjs', 'pyodide.asm.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip', 'pyodide-lock.json']
CHECKPOINT = ROOT / '_build' / 'reference-run.json'
PART_ONE = re.compile(r'^(0[1-9]|1[01])-')  # the pages whose cells can be run


def cache_dir():
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / 'microgpt-book'


def integrity(data):
    """The npm integrity string (sha512-<base64>) of bytes."""
    return 'sha512-' + base64.b64encode(hashlib.sha512(data).digest()).decode()


def registry_integrity():
    """The registry's published hash for VERSION, or None if the registry is out of reach."""
    try:
        with urllib.request.urlopen(METADATA, timeout=30) as response:
            return json.load(response)['dist']['integrity']
    except (OSError, ValueError, KeyError):
        return None


def tarball():
    """The path of the verified Pyodide tarball, downloaded once into the cache."""
    path = cache_dir() / f'pyodide-{VERSION}.tgz'
    if path.is_file() and integrity(path.read_bytes()) == INTEGRITY:
        return path
    published = registry_integrity()
    if published is not None and published != INTEGRITY:
        raise ExtensionError(f'pyodide {VERSION}: the registry publishes {published}, '
                             f'the book pins {INTEGRITY}')
    try:
        with urllib.request.urlopen(TARBALL, timeout=300) as response:
            data = response.read()
    except OSError as error:
        raise ExtensionError(f'cannot download Pyodide {VERSION} from {TARBALL}: {error}') from None
    if integrity(data) != INTEGRITY:
        raise ExtensionError(f'Pyodide {VERSION} from {TARBALL} has hash {integrity(data)}, '
                             f'expected {INTEGRITY}')
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:  # atomic: write, then rename
        tmp.write(data)
    os.replace(tmp.name, path)
    return path


def data_file():
    """The data set the build reads (MICROGPT_DATA, or the downloaded default)."""
    from microgpt.download import ensure
    return Path(ensure())


def copy_pyodide(outdir):
    target = Path(outdir) / '_static' / 'pyodide'
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball()) as archive:
        for name in BOOT_FILES:
            member = archive.extractfile(f'package/{name}')
            (target / name).write_bytes(member.read())
    # the package as tangled, and the data set, unpacked by the worker into its file system
    with zipfile.ZipFile(target / 'book.zip', 'w', zipfile.ZIP_DEFLATED) as pack:
        for module in sorted((ROOT / 'microgpt').glob('*.py')):
            pack.write(module, f'microgpt/{module.name}')
        pack.write(data_file(), 'names.txt')
        if CHECKPOINT.is_file():  # the reference model the chapters load, as the build wrote it
            pack.write(CHECKPOINT, '_build/reference-run.json')


def web(app):
    """Whether the build makes web pages (the EPUB is HTML too, but runs no Python)."""
    return app.builder.format == 'html' and not app.builder.name.startswith('epub')


def builder_inited(app):
    if web(app):
        tarball()  # fail early, before the chapters execute


def build_finished(app, exception):
    if exception is None and web(app):
        copy_pyodide(app.outdir)


def page_cells(path):
    """Every code cell of a chapter, in order: its source and tags."""
    from myst_nb.core.read import read_myst_markdown_notebook
    nb = read_myst_markdown_notebook(Path(path).read_text(encoding='utf-8'))
    return [{'source': cell.source, 'tags': list(cell.metadata.get('tags', []))}
            for cell in nb.cells if cell.cell_type == 'code']


def html_page_context(app, pagename, templatename, context, doctree):
    if not PART_ONE.match(pagename) or doctree is None or not web(app):
        return
    text = json.dumps(page_cells(app.env.doc2path(pagename)), separators=(',', ':')).replace('</', '<\\/')
    context['body'] = context.get('body', '') + (
        f'<script type="application/json" id="mg-cells">{text}</script>')


class TrainPanel(Directive):
    """The training panel: a placeholder that runcells.js fills in."""

    def run(self):
        markup = ('<div class="mg-train" data-steps="50">'
                  '<p class="mg-noscript">The training panel needs JavaScript.</p></div>')
        return [nodes.raw('', markup, format='html')]


def setup(app):
    app.add_directive('train-panel', TrainPanel)
    app.add_js_file('runcells.js', defer='defer')
    app.add_css_file('runcells.css')
    app.connect('builder-inited', builder_inited)
    app.connect('html-page-context', html_page_context)
    app.connect('build-finished', build_finished)
    return {'version': VERSION, 'parallel_read_safe': True, 'parallel_write_safe': True}
