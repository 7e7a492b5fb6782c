"""The PDF and the EPUB that `python book/_ext/ebook.py` writes to _build/ebook/.

The EPUB must pass epubcheck (Debian's package) and carry its formulas as MathML;
the PDF must hold every chapter, in the book's order, with its figures' captions. Without
the files (or epubcheck) the tests skip, unless MICROGPT_BROWSER_TESTS=1 (as in
CI, after the ebook command), when they fail.
"""
import os
import re
import shutil
import subprocess
import unicodedata
import zipfile

import pytest

from conftest import ROOT

pytestmark = pytest.mark.book

OUT = ROOT / '_build' / 'ebook'
EPUB, PDF = OUT / 'microgpt.epub', OUT / 'microgpt.pdf'
REQUIRED = os.environ.get('MICROGPT_BROWSER_TESTS') == '1'
COMMAND = "pip install -e '.[book,ebook]' && .venv/bin/python book/_ext/ebook.py"


def unavailable(why):
    if REQUIRED:
        pytest.fail(f'{why} (MICROGPT_BROWSER_TESTS=1 requires the ebook tests)', pytrace=False)
    pytest.skip(why)


def built(path):
    if not path.exists():
        unavailable(f'no {path.relative_to(ROOT)}: build it with {COMMAND}')
    import tangle

    newest = max(c.stat().st_mtime for c in tangle.chapters())
    if path.stat().st_mtime < newest:
        unavailable(f'{path.relative_to(ROOT)} is older than the chapters: build it again with {COMMAND}')
    return path


def titles():
    """Every page's title in the book's order, as the e-book numbers them."""
    import tangle

    found = []
    for chapter in tangle.chapters():
        title = re.search(r'^# (.+)$', chapter.read_text(encoding='utf-8'), re.M)[1]
        found.append(title.removeprefix('Appendix: '))  # the e-book says 'Appendix A.'
    return found


def plain(text):
    """Text as extracted from a PDF, comparable: ligatures undone, spaces collapsed."""
    return ' '.join(unicodedata.normalize('NFKC', text).split())


@pytest.fixture(scope='module')
def pdf_text():
    path = built(PDF)
    from pypdf import PdfReader

    reader = PdfReader(path)
    return reader, [plain(page.extract_text()) for page in reader.pages]


def test_the_epub_passes_epubcheck():
    epub = built(EPUB)
    jar = shutil.which('epubcheck') or '/usr/share/java/epubcheck.jar'
    if not os.path.exists(jar):
        unavailable('no epubcheck: apt-get install epubcheck')
    # Debian installs the jar itself as /usr/bin/epubcheck
    result = subprocess.run(['java', '-jar', os.path.realpath(jar), str(epub)],
                            capture_output=True, text=True, timeout=600)
    report = result.stdout + result.stderr
    assert result.returncode == 0 and 'No errors or warnings detected' in report, report[-3000:]


def test_the_epub_has_mathml_no_scripts_and_no_widgets():
    with zipfile.ZipFile(built(EPUB)) as z:
        assert z.namelist()[0] == 'mimetype' and z.read('mimetype') == b'application/epub+zip'
        pages = {n: z.read(n).decode('utf-8') for n in z.namelist() if n.endswith('.xhtml')}
        opf = z.read('content.opf').decode('utf-8')
    assert sum(p.count('<m:math') for p in pages.values()) > 300  # the book's formulas
    assert not any('<script' in p or 'MathJax' in p for p in pages.values())
    assert not any('mg-widget' in p or 'mg-train' in p for p in pages.values())
    assert sum(p.count('class="widget-note"') for p in pages.values()) >= 3
    mathml_pages = [n for n, p in pages.items() if '<m:math' in p]
    for name in mathml_pages:  # EPUB 3 wants each page with MathML declared so
        assert re.search(rf'href="{re.escape(name)}"[^>]*properties="[^"]*mathml', opf), name


def test_the_pdf_holds_every_chapter_in_order(pdf_text):
    reader, pages = pdf_text
    text = ' '.join(pages)
    at = 0
    for title in titles():
        found = text.find(plain(title), at)
        assert found >= 0, f'{title!r} is missing from the PDF, or out of order'
        at = found
    assert len(reader.outline) >= len(titles())  # a bookmark per chapter


def test_the_pdf_and_the_epub_have_every_figure(pdf_text):
    """The figures are numbered through the book, as on the web; each is an image file in
    the EPUB (SVG, drawn as vector paths in the PDF) and its caption is in the PDF's text."""
    _, pages = pdf_text
    with zipfile.ZipFile(built(EPUB)) as z:
        names = set(z.namelist())
        xhtml = [z.read(n).decode('utf-8') for n in sorted(names) if n.endswith('.xhtml')]
    figures = [f for p in xhtml for f in re.findall(r'<figure [^>]*class="[^"]*numbered[^"]*".*?</figure>', p, re.S)]
    numbers = sorted(int(re.search(r'Figure (\d+)', f)[1]) for f in figures)
    assert len(numbers) >= 20 and numbers == list(range(1, len(numbers) + 1)), numbers
    for f in figures:
        src = re.search(r'<img [^>]*src="([^"]+)"', f)[1]
        assert src.endswith(('.svg', '.png')) and src in names, src
    text = ' '.join(pages)
    at = 0
    for n in numbers:  # every caption, in order
        found = text.find(f'Figure {n} ', at)
        assert found >= 0, f'the caption of Figure {n} is missing from the PDF, or out of order'
        at = found
