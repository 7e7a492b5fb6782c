"""The book's figures, as built: numbered, captioned, described, sharp, and readable
in both themes and at phone width.

Every figure is drawn by book/_ext/drawing.py as SVG for the 688-pixel column, with
its own dark colours (used when the page is dark), and is captioned and described in
its cell's metadata. The checks read the built HTML in _build/html; the last ones open
it in Chromium. Without a built book they skip (they fail with MICROGPT_BROWSER_TESTS=1).
"""
import re
from html.parser import HTMLParser

import pytest

from conftest import ROOT

pytestmark = pytest.mark.book

import drawing  # noqa: E402  (book/_ext, on the path from conftest)
from served import HTML, unavailable  # noqa: E402

BOOK = ROOT / 'book'
COLUMN_PX = 688
MIN_TEXT_PX = 9  # the smallest text on a figure, in CSS pixels at the column's width


class Figures(HTMLParser):
    """The <figure>s of a page: id, caption number and text, and their images."""

    def __init__(self):
        super().__init__()
        self.figures, self.loose, self.stack, self.span = [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'figure':
            self.figures.append({'id': attrs.get('id'), 'number': '', 'caption': '', 'images': [],
                                 'links': []})
            self.stack.append(self.figures[-1])
        elif tag == 'img':
            (self.stack[-1]['images'] if self.stack else self.loose).append(attrs)
        elif tag == 'a' and self.stack:
            self.stack[-1]['links'].append(attrs.get('href', ''))
        elif tag == 'span' and self.stack:
            cls = attrs.get('class', '')
            self.span = 'number' if 'caption-number' in cls else 'caption' if 'caption-text' in cls else None

    def handle_endtag(self, tag):
        if tag == 'figure' and self.stack:
            self.stack.pop()
        elif tag == 'span':
            self.span = None

    def handle_data(self, data):
        if self.stack and self.span:
            self.stack[-1][self.span] += data


def built():
    if not (HTML / 'index.html').exists():
        unavailable(f'no built book at {HTML}: build it with sphinx-build -c . -b html book _build/html')


def chapters():
    import tangle

    return list(tangle.chapters())


@pytest.fixture(scope='module')
def pages():
    """page name: its figures and its images outside figures, for every chapter page."""
    built()
    found = {}
    for chapter in chapters():
        parser = Figures()
        parser.feed((HTML / f'{chapter.stem}.html').read_text(encoding='utf-8'))
        found[chapter.stem] = parser
    return found


def declared(chapter):
    """How many figures a chapter's source declares: cells with figure metadata, glued figures."""
    text = chapter.read_text(encoding='utf-8')
    return len(re.findall(r'^:mystnb: \{figure: \{name: ', text, re.M)) + text.count('```{glue:figure}')


def test_every_declared_figure_is_built_and_numbered_in_order(pages):
    numbers = []
    for chapter in chapters():
        figures = pages[chapter.stem].figures
        assert len(figures) == declared(chapter), chapter.stem
        numbers += [f['number'].strip() for f in figures]
    assert len(numbers) >= 20
    assert numbers == [f'Figure {n}' for n in range(1, len(numbers) + 1)]


def test_every_image_is_a_captioned_figure_with_alt_text_that_describes_it(pages):
    for name, page in pages.items():
        assert not page.loose, f'{name}: an image outside a figure: {page.loose[0].get("src")}'
        for figure in page.figures:
            assert figure['id'], f'{name}: a figure without a name'
            assert len(figure['caption'].split()) >= 8, (name, figure['id'], figure['caption'])
            assert len(figure['images']) == 1, (name, figure['id'])
            alt = figure['images'][0].get('alt', '')
            assert len(alt.split()) >= 12, (name, figure['id'], alt)
            assert not re.search(r'\.(svg|png)\b|_images/', alt), (name, figure['id'], alt)


def svg_of(src):
    return (HTML / src).read_text(encoding='utf-8')


def test_figures_are_themed_svg_drawn_for_the_column(pages):
    for name, page in pages.items():
        for figure in page.figures:
            img = figure['images'][0]
            assert img['src'].endswith('.svg'), (name, figure['id'], img['src'])
            svg = svg_of(img['src'])
            head = svg[svg.index('<svg'):svg.index('>', svg.index('<svg'))]
            size = re.search(r'\swidth="([\d.]+)(pt|px)?"', head)
            px = float(size[1]) * (4 / 3 if size[2] == 'pt' else 1)
            # shown at its own size, and no smaller than the style's letters allow: a plot
            # of matplotlib is drawn for the column; a wider diagram, scaled down to the
            # column, keeps its letters at 9 pixels or more
            assert int(img['width']) == round(px), (name, figure['id'], img['width'], px)
            if 'Matplotlib' in svg:
                assert px <= COLUMN_PX, (name, figure['id'], px)
            else:
                fonts = [float(f) for f in re.findall(r'font-size="([\d.]+)"', svg)]
                assert fonts and min(fonts) * min(1, COLUMN_PX / px) >= MIN_TEXT_PX, (name, figure['id'])
            assert 'prefers-color-scheme: dark' in svg, (name, figure['id'])
            # a transparent background: no white rectangle under the whole figure
            assert not re.search(r'<path d="M 0 [\d.]+ L [\d.]+ [\d.]+ L [\d.]+ 0 L 0 0 z"\s*'
                                 r'style="fill: #ffffff', svg), (name, figure['id'])
            # every colour drawn has a dark counterpart in the figure's own style sheet
            dark = {light for light, _ in drawing.COLOURS.values()}
            drawn = set(re.findall(r'(?:fill|stroke): (#[0-9a-f]{6})', svg))
            drawn |= set(re.findall(r'(?:fill|stroke)="(#[0-9a-f]{6})"', svg))
            assert drawn <= dark, (name, figure['id'], drawn - dark)
            # wider than a phone's column: it links to itself, to be opened full size
            assert img['src'] in figure['links'], (name, figure['id'])


def test_no_text_on_a_figure_is_smaller_than_9_pixels_at_the_column_width():
    sizes = {k: v for k, v in drawing.STYLE.items() if k.endswith(('size', 'labelsize', 'fontsize'))
             and isinstance(v, (int, float))}
    assert {'font.size', 'xtick.labelsize', 'ytick.labelsize', 'legend.fontsize'} <= set(sizes)
    explicit = []
    for path in [*chapters(), BOOK / '_ext' / 'drawing.py']:
        explicit += [float(x) for x in re.findall(r'fontsize=([\d.]+)', path.read_text(encoding='utf-8'))]
    for points in [*sizes.values(), *explicit]:
        assert points * 4 / 3 >= MIN_TEXT_PX, points  # a point is 4/3 of a CSS pixel


def test_one_style_every_figure_cell_draws_through_drawing():
    for chapter in chapters():
        text = chapter.read_text(encoding='utf-8')
        assert 'plt.subplots(' not in text and 'plt.show()' not in text, chapter.name
        # a figure cell shows its figure with drawing.show, or calls a function that does
        showing = ['drawing.show('] + [f'{name}(' for name in re.findall(
            r'^def (\w+)\(.*?\n(?=\S)', text, re.M | re.S) if 'drawing.show(' in
            re.search(rf'^def {name}\(.*?\n(?=\S)', text, re.M | re.S)[0]]
        for cell in re.findall(r'^:mystnb: \{figure: .*?\n(.*?)^```', text, re.M | re.S):
            assert any(call in cell for call in showing), chapter.name


# ---------------------------------------------------------------- in the browser

def figure_pages(pages):
    return [f'{name}.html' for name, page in pages.items() if page.figures]


def test_figures_fit_the_column_at_phone_width(pages, browser, site):
    context = browser.new_context(viewport={'width': 390, 'height': 844})
    page = context.new_page()
    try:
        for name in figure_pages(pages):
            page.goto(site + name, wait_until='load')
            wide = page.evaluate('''() => [...document.querySelectorAll('.bd-article figure:has(img)')].map(f => {
                const img = f.querySelector('img'), article = f.closest('.bd-article');
                const r = img.getBoundingClientRect(), a = article.getBoundingClientRect();
                return [f.id, r.left >= a.left - 1 && r.right <= a.right + 1 && r.right <= 390,
                        img.complete && img.naturalWidth > 0];
            })''')
            for fid, fits, loaded in wide:
                assert fits and loaded, (name, fid, fits, loaded)
            assert page.evaluate('document.documentElement.scrollWidth') <= 390, name
    finally:
        context.close()


def luminance(png):
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png)).convert('L')
    pixels = list(image.getdata())
    return sum(pixels) / len(pixels) / 255, max(pixels) / 255


def test_figures_follow_the_theme_and_are_not_dimmed(pages, browser, site):
    """Dark: the theme's grey filter and white card are off and the figure is dark with
    light letters; light: the same figure is light."""
    for scheme in ('light', 'dark'):
        context = browser.new_context(viewport={'width': 1280, 'height': 900}, color_scheme=scheme)
        page = context.new_page()
        try:
            for name in figure_pages(pages)[:6]:
                page.goto(site + name, wait_until='load')
                assert page.evaluate('document.documentElement.dataset.theme') == scheme
                for img in page.locator('.bd-article figure img').all():
                    style = img.evaluate('i => [getComputedStyle(i).filter, getComputedStyle(i).backgroundColor]')
                    assert style[0] == 'none' and style[1] in ('rgba(0, 0, 0, 0)', 'transparent'), (name, style)
                    img.scroll_into_view_if_needed()
                    mean, brightest = luminance(img.screenshot())
                    if scheme == 'dark':
                        assert mean < 0.35 and brightest > 0.7, (name, mean, brightest)
                    else:
                        assert mean > 0.7, (name, mean)
        finally:
            context.close()
