"""The book as an EPUB and a PDF, for reading without a browser.

    .venv/bin/pip install -e '.[book,ebook]' && .venv/bin/python book/_ext/ebook.py

Sphinx's epub builder writes the pages (executing every chapter, as the HTML build
does). Then the pages are rewritten for readers that run no JavaScript:

- every formula becomes MathML, which e-readers and screen readers read (no MathJax);
- each widget becomes a sentence that says what it does and where it lives;
- hidden build code (the drawing of a figure, say) is dropped, while the code of a
  solution stays, under the label "Solution";
- chapters are numbered (1-19, appendices A-D); the figures keep the numbers, captions
  and alt text of the web edition (each image must be such a figure);
- scripts are removed, and the package's manifest lists exactly what is inside.

The result is `_build/ebook/microgpt.epub`. The same pages, joined into one, are
printed by Chromium (Debian's, through Playwright) to `_build/ebook/microgpt.pdf`,
with a table of contents, page numbers and bookmarks. Any failure exits non-zero
with one line.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

ROOT = Path(__file__).resolve().parents[2]
XHTML = 'http://www.w3.org/1999/xhtml'
OPF = 'http://www.idpf.org/2007/opf'
EPUB_NS = 'http://www.idpf.org/2007/ops'
MATHML = 'http://www.w3.org/1998/Math/MathML'
for prefix, uri in (('', XHTML), ('epub', EPUB_NS), ('m', MATHML)):
    ET.register_namespace(prefix, uri)
X = f'{{{XHTML}}}'
APPENDICES = {'20-ablations': 'A', 'glossary': 'B', 'api': 'C', 'modules': 'D'}
WIDGETS = {  # what each widget of the web edition does, for readers of the EPUB and the PDF
    'tokenizer': 'type a name and see its tokens',
    'temperature': 'move the temperature and watch the next-letter probabilities change',
    'explorer': 'type the start of a name and see the trained model\'s next-letter probabilities',
    'train': 'train the model on the page, with the loss drawn as it falls, then sample from it',
}
TYPES = {'.xhtml': 'application/xhtml+xml', '.css': 'text/css', '.png': 'image/png',
         '.svg': 'image/svg+xml', '.jpg': 'image/jpeg', '.gif': 'image/gif',
         '.ncx': 'application/x-dtbncx+xml', '.woff2': 'font/woff2', '.woff': 'font/woff'}


class EbookError(Exception):
    pass


def classes(el):
    return el.get('class', '').split()


def label(stem):
    """The chapter number of a page ('7', 'A'), or None for the preface."""
    if stem in APPENDICES:
        return APPENDICES[stem]
    return str(int(stem[:2])) if stem[:2].isdigit() else None


def tex_to_mathml(tex, display):
    """The MathML of a formula; its TeX source in <code> where the converter fails."""
    from latex2mathml.converter import convert

    split = ('\\begin{split}', '\\end{split}')  # Sphinx wraps multi-line formulas in it
    if tex.startswith(split[0]) and tex.endswith(split[1]):
        inner = tex[len(split[0]):-len(split[1])].strip()
        tex = inner if inner.startswith('\\begin{') else tex
    tex = tex.replace('{aligned}', '{split}')  # the converter knows split, not aligned
    try:
        el = ET.fromstring(convert(tex, display='block' if display else 'inline'))
    except Exception:  # the converter's output is not always well-formed XML
        UNCONVERTED.append(tex)
        el = ET.Element(X + 'code', {'class': 'tex'})
        el.text = tex
        return el
    for token in el.iter():  # '\\mathrel{+}' gives <mo><mrow><mo>+</mo></mrow></mo>: not MathML
        if token.tag.split('}')[1] in ('mi', 'mo', 'mn', 'mtext') and len(token):
            text = ''.join(token.itertext())
            for child in list(token):
                token.remove(child)
            token.text = text
    el.set('alttext', tex)  # what a reader without MathML support shows
    return el


UNCONVERTED = []  # formulas left as TeX, reported at the end


def rewrite_math(body):
    """<span class="math">\\(x\\)</span> and <div class="math">\\[x\\]</div> to MathML."""
    for parent in list(body.iter()):  # a snapshot: what is added is not visited
        for i, el in enumerate(list(parent)):
            if 'math' in classes(el) and el.tag in (X + 'span', X + 'div'):
                tex = ''.join(el.itertext()).strip()
                display = el.tag == X + 'div'
                tex = tex[2:-2] if tex[:2] in ('\\(', '\\[') else tex
                math = tex_to_mathml(tex, display)
                math.tail = el.tail
                if display:
                    wrapper = ET.Element(X + 'div', {'class': 'math-display'})
                    wrapper.append(math)
                    wrapper.tail, math.tail = el.tail, None
                    math = wrapper
                parent[i] = math


def rewrite_widgets(body, stem, web):
    for parent in list(body.iter()):  # a snapshot: what is added is not visited
        for i, el in enumerate(list(parent)):
            if 'mg-widget' in classes(el) or 'mg-train' in classes(el):
                kind = el.get('data-widget', 'train')
                p = ET.Element(X + 'p', {'class': 'widget-note'})
                where = f'{web.rstrip("/")}/{stem}.html' if web else None
                p.text = (f'In the web edition of the book, this place holds an interactive '
                          f'widget: {WIDGETS.get(kind, kind)}. It runs in the browser, so it is '
                          f'left out of the e-book')
                if where:
                    p.text += ' ('
                    a = ET.SubElement(p, X + 'a', {'href': where})
                    a.text = where
                    a.tail = ').'
                else:
                    p.text += '; build the web edition with the first command of the README.'
                p.tail = el.tail
                parent[i] = p


def rewrite_cells(body):
    """Drop hidden build code; keep a solution's code under a 'Solution' label."""
    for parent in list(body.iter()):  # a snapshot: what is added is not visited
        for i, el in enumerate(list(parent)):
            if el.tag != X + 'details':
                continue
            cell_classes = classes(parent)
            if 'tag_solution' in cell_classes:
                box = ET.Element(X + 'div', {'class': 'solution'})
                title = ET.SubElement(box, X + 'p', {'class': 'solution-title'})
                title.text = 'Solution'
                for child in el:
                    if child.tag != X + 'summary':
                        box.append(child)
                box.tail = el.tail
                parent[i] = box
            else:
                summary = el.find(X + 'summary')
                if summary is not None and 'Toggle hidden content' in (summary.get('aria-label') or ''):
                    parent.remove(el)  # the code that draws a figure or glues a number
                else:  # another toggle: print it open, with its title as plain text
                    el.set('open', 'open')
                    if summary is not None:
                        text = ' '.join(''.join(summary.itertext()).split())
                        summary.clear()
                        summary.text = text


def number(body, stem):
    """Prefix the page title with its chapter number; check that every image is a figure
    numbered and captioned by Sphinx (numfig), with the numbers of the web edition."""
    for parent in list(body.iter()):
        for el in parent:
            if el.tag == X + 'img':
                caption = ''.join(parent.find(X + 'figcaption').itertext()).strip() \
                    if parent.tag == X + 'figure' and parent.find(X + 'figcaption') is not None else ''
                if not caption.startswith('Figure '):
                    raise EbookError(f'{stem}: an image that is not a numbered figure: {el.get("src")}')
                if not el.get('alt') or el.get('alt', '').endswith(('.png', '.svg')):  # a file name says nothing
                    raise EbookError(f'{stem}: {caption.split(maxsplit=2)[:2]} has no alt text')
                parent.set('class', (parent.get('class', '') + ' numbered').strip())
    n = label(stem)
    h1 = body.find(f'.//{X}h1')
    if n is None or h1 is None:
        return
    word = 'Appendix' if n.isalpha() else 'Chapter'
    h1.text = f'{word} {n}. ' + (h1.text or '').removeprefix('Appendix: ')


STYLES = {'epub.css', 'pygments.css', 'tangle.css'}  # the rest are for the web page only


def strip_scripts(root):
    """Remove scripts and the web page's style sheets (their modern CSS is not EPUB's)."""
    head = root.find(X + 'head')
    for el in list(head):
        href = el.get('href', '')
        if el.tag == X + 'script' or (el.tag == X + 'link' and href.startswith('_static/')
                                      and href.split('/')[-1].split('?')[0] not in STYLES):
            head.remove(el)
    for parent in root.iter():
        for el in list(parent):
            if el.tag == X + 'script':
                parent.remove(el)


def rewrite_page(path, web):
    tree = ET.parse(path)
    root = tree.getroot()
    body = root.find(X + 'body')
    strip_scripts(root)
    rewrite_widgets(body, path.stem, web)
    rewrite_cells(body)
    rewrite_math(body)
    number(body, path.stem)
    head = root.find(X + 'head')
    ET.SubElement(head, X + 'link', {'rel': 'stylesheet', 'type': 'text/css',
                                     'href': '_static/ebook.css'})
    tree.write(path, encoding='utf-8', xml_declaration=True)


def rewrite_nav(path):
    """Number the chapters in the table of contents, as in their titles."""
    tree = ET.parse(path)
    for a in tree.getroot().iter(X + 'a'):
        href = a.get('href', '')
        if '#' not in href and href.endswith('.xhtml'):
            n = label(href[:-6])
            if n:
                title = (a.text or '').removeprefix('Appendix: ')
                a.text = f'{"Appendix" if n.isalpha() else "Chapter"} {n}. {title}'
    tree.write(path, encoding='utf-8', xml_declaration=True)


def manifest(epub):
    """Rewrite content.opf's manifest: every file in the package, nothing else, with the
    properties EPUB 3 requires (mathml, nav)."""
    opf_path = epub / 'content.opf'
    tree = ET.parse(opf_path)
    ET.register_namespace('', OPF)
    man = tree.getroot().find(f'{{{OPF}}}manifest')
    ids = {item.get('href'): item.get('id') for item in man}
    for item in list(man):
        man.remove(item)
    n = 0
    for path in sorted(p for p in epub.rglob('*') if p.is_file()):
        href = path.relative_to(epub).as_posix()
        if href in ('mimetype', 'content.opf') or href.startswith('META-INF/'):
            continue
        kind = TYPES.get(path.suffix)
        if path.suffix == '.css' and path.parent.name == '_static' and path.name not in STYLES | {'ebook.css', 'print.css'}:
            kind = None
        if kind is None:
            path.unlink()  # scripts, fonts of MathJax, anything an e-book does not use
            continue
        attrs = {'id': ids.get(href) or f'file-{n}', 'href': href, 'media-type': kind}
        n += 1
        props = []
        if href == 'nav.xhtml':
            props.append('nav')
        if path.suffix == '.xhtml' and f'xmlns:m="{MATHML}"' in path.read_text(encoding='utf-8'):
            props.append('mathml')
        if props:
            attrs['properties'] = ' '.join(props)
        ET.SubElement(man, f'{{{OPF}}}item', attrs)
    tree.write(opf_path, encoding='utf-8', xml_declaration=True)


def pack(epub, out):
    """Zip the package as EPUB wants it: 'mimetype' first and uncompressed."""
    tmp = out.with_name(out.name + '.part')
    with zipfile.ZipFile(tmp, 'w') as z:
        z.write(epub / 'mimetype', 'mimetype', compress_type=zipfile.ZIP_STORED)
        for path in sorted(p for p in epub.rglob('*') if p.is_file()):
            name = path.relative_to(epub).as_posix()
            if name != 'mimetype':
                z.write(path, name, compress_type=zipfile.ZIP_DEFLATED)
    os.replace(tmp, out)


def spine(epub):
    tree = ET.parse(epub / 'content.opf')
    items = {i.get('id'): i.get('href') for i in tree.getroot().iter(f'{{{OPF}}}item')}
    return [items[ref.get('idref')] for ref in tree.getroot().iter(f'{{{OPF}}}itemref')
            if items[ref.get('idref')] != 'nav.xhtml']


def printable(epub):
    """One XHTML page with every chapter in spine order and a table of contents:
    what the PDF prints. Ids get the page's name in front, so they stay unique."""
    pages = spine(epub)
    root = ET.Element(X + 'html', {'lang': 'en'})
    head = ET.SubElement(root, X + 'head')
    ET.SubElement(head, X + 'meta', {'charset': 'utf-8'})
    ET.SubElement(head, X + 'title').text = 'microgpt: a GPT from an empty file'
    for css in ('_static/pygments.css', '_static/ebook.css', '_static/print.css'):
        ET.SubElement(head, X + 'link', {'rel': 'stylesheet', 'href': css})
    body = ET.SubElement(root, X + 'body')
    cover = ET.SubElement(body, X + 'section', {'class': 'cover'})
    ET.SubElement(cover, X + 'h1').text = 'microgpt'
    ET.SubElement(cover, X + 'p').text = 'A GPT from an empty file, in pure Python'
    toc = ET.SubElement(body, X + 'nav', {'class': 'toc'})
    ET.SubElement(toc, X + 'h1').text = 'Contents'
    ol = ET.SubElement(toc, X + 'ol')
    for href in pages:
        stem = href[:-6]
        page = ET.parse(epub / href).getroot()
        section = ET.SubElement(body, X + 'section', {'class': 'chapter', 'id': stem})
        for el in page.find(X + 'body'):
            section.append(el)
        for el in section.iter():
            if el.get('id'):
                el.set('id', f'{stem}--{el.get("id")}')
            link = el.get('href')
            if el.tag == X + 'a' and link and not re.match(r'[a-z]+:', link):
                target, _, frag = link.partition('#')
                target = target[:-6] if target.endswith('.xhtml') else stem
                el.set('href', f'#{target}--{frag}' if frag else f'#{target}')
        h1 = section.find(f'.//{X}h1')
        li = ET.SubElement(ol, X + 'li')
        ET.SubElement(li, X + 'a', {'href': f'#{stem}'}).text = ''.join(h1.itertext()).strip('¶ #')
    out = epub / 'print.xhtml'
    ET.ElementTree(root).write(out, encoding='utf-8', xml_declaration=True)
    return out


def print_pdf(page, out, chromium):
    from playwright.sync_api import sync_playwright

    tmp = out.with_name(out.name + '.part')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=['--headless', '--no-sandbox'])
        try:
            tab = browser.new_page()
            tab.goto(page.resolve().as_uri())
            tab.wait_for_load_state('load')
            tab.pdf(path=str(tmp), format='A4', print_background=True, outline=True, tagged=True,
                    margin={'top': '18mm', 'bottom': '18mm', 'left': '16mm', 'right': '16mm'},
                    display_header_footer=True, header_template='<span></span>',
                    footer_template='<div style="font-size:8px;width:100%;text-align:center">'
                                    '<span class="pageNumber"></span></div>')
        finally:
            browser.close()
    os.replace(tmp, out)


def build(out_dir, web, chromium):
    epub = out_dir / 'epub'
    shutil.rmtree(epub, ignore_errors=True)
    cmd = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-j', 'auto', '-c', str(ROOT), '-b', 'epub',
           '-d', str(out_dir / 'doctrees'), str(ROOT / 'book'), str(epub)]
    if subprocess.run(cmd, cwd=ROOT).returncode:
        raise EbookError('the epub build failed (its errors are above)')
    return finish(out_dir, web, chromium)


def finish(out_dir, web, chromium):
    """Rewrite the pages Sphinx wrote to out_dir/epub, pack the EPUB, print the PDF."""
    epub = out_dir / 'epub'
    (epub / 'microgpt.epub').unlink(missing_ok=True)  # Sphinx's own zip: we pack our own
    for name in ('ebook.css', 'print.css'):
        shutil.copy(Path(__file__).with_name(name), epub / '_static' / name)
    for path in sorted(epub.glob('*.xhtml')):
        if path.name == 'nav.xhtml':
            rewrite_nav(path)
        else:
            try:
                rewrite_page(path, web)
            except ET.ParseError as error:
                raise EbookError(f'{path.name}: {error}') from None
    ncx = epub / 'toc.ncx'  # Sphinx puts the identifier's name where its value belongs
    identifier = ET.parse(epub / 'content.opf').getroot().find(
        './/{http://purl.org/dc/elements/1.1/}identifier').text
    ncx.write_text(re.sub(r'(name="dtb:uid" content=")[^"]*', lambda m: m[1] + identifier,
                          ncx.read_text(encoding='utf-8')), encoding='utf-8')
    manifest(epub)
    pack(epub, out_dir / 'microgpt.epub')
    print_pdf(printable(epub), out_dir / 'microgpt.pdf', chromium)
    (epub / 'print.xhtml').unlink()
    return out_dir / 'microgpt.epub', out_dir / 'microgpt.pdf'


def main(argv=None):
    p = argparse.ArgumentParser(prog='python book/_ext/ebook.py', description=__doc__.split('\n')[0])
    p.add_argument('--out', default=str(ROOT / '_build' / 'ebook'), help='output folder (default: _build/ebook)')
    p.add_argument('--web', default=os.environ.get('MICROGPT_BOOK_URL', ''),
                   help='address of the web edition, linked where a widget was (default: $MICROGPT_BOOK_URL)')
    p.add_argument('--chromium', default=os.environ.get('MICROGPT_CHROMIUM', '/usr/bin/chromium'),
                   help='the Chromium that prints the PDF (default: /usr/bin/chromium)')
    args = p.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f'ebook: error: no Chromium at {args.chromium}: apt-get install chromium '
              f'(or pass --chromium)', file=sys.stderr)
        return 1
    try:
        import latex2mathml, playwright  # noqa: F401  (checked here, used later)
    except ImportError as error:
        print(f"ebook: error: {error.name} is missing: pip install -e '.[book,ebook]'", file=sys.stderr)
        return 1
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    try:
        for path in build(out, args.web, args.chromium):
            print(f'wrote {path} ({path.stat().st_size:,} bytes)')
        for tex in UNCONVERTED:
            print(f'ebook: warning: left as TeX, not MathML: {" ".join(tex.split())[:70]}', file=sys.stderr)
    except (EbookError, OSError, ET.ParseError) as error:
        print(f'ebook: error: {" ".join(str(error).split())}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
