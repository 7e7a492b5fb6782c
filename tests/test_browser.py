"""The built book in a real browser: pages, widgets, search, math, copy and download.

Debian's Chromium (/usr/bin/chromium, or $MICROGPT_CHROMIUM), driven by Playwright,
opens the HTML that `sphinx-build ... book _build/html` wrote, served from 127.0.0.1.
Every request to another host is blocked and counted as a failure: the book must
work with no network.

The tests need the built book, built from the chapters as they are now. Without it
they are skipped, with the reason, unless MICROGPT_BROWSER_TESTS=1 (as CI sets it,
after building the book), when they fail.
"""
import json
import random
from urllib.parse import urlsplit

import pytest

from conftest import ROOT

pytestmark = pytest.mark.book  # needs the built book; CI runs these after building it

from served import CHECKPOINT, HTML, LOCAL, unavailable  # noqa: F401


def pages():
    return sorted(p.name for p in HTML.glob('*.html')) or ['index.html']


def widget_data(page, kind):
    return json.loads(page.locator(f'.mg-widget[data-widget="{kind}"] script.mg-data').text_content())


def bar_probs(widget):
    """The probability of every token, as the widget holds it, in vocabulary order."""
    return [float(p) for p in widget.locator('.mg-col').evaluate_all('cols => cols.map(c => c.dataset.p)')]


# ---------------------------------------------------------------- every page

@pytest.mark.parametrize('name', pages())
def test_page_loads_without_errors_or_foreign_requests(visit, name):
    page = visit.open(name)
    assert page.title(), name
    # every image (the figures) arrived and decoded
    broken = page.eval_on_selector_all('img', 'imgs => imgs.filter(i => !i.complete || !i.naturalWidth).map(i => i.src)')
    assert not broken, broken


def test_math_is_rendered_by_the_local_mathjax(visit):
    page = visit.open('03-autograd.html')
    sources = page.eval_on_selector_all('script[src*="mathjax" i]', 'ss => ss.map(s => s.src)')
    assert sources and all(urlsplit(s).hostname in LOCAL for s in sources), sources
    page.wait_for_selector('mjx-container')
    math = page.locator('.math')
    assert math.count() > 5
    # every formula was typeset: none is left as raw TeX
    raw = page.eval_on_selector_all('.math', 'ms => ms.filter(m => !m.querySelector("mjx-container")).length')
    assert raw == 0


def test_search_finds_a_word(visit):
    page = visit.open('search.html?q=gradient')
    results = page.locator('#search-results ul.search li')
    results.first.wait_for()
    assert results.count() >= 3
    links = results.locator('a').evaluate_all('as => as.map(a => a.getAttribute("href"))')
    assert any('03-autograd' in link for link in links), links


def test_copy_button_copies_the_code(visit):
    visit.context.grant_permissions(['clipboard-read', 'clipboard-write'], origin=visit.site.rstrip('/'))
    page = visit.open('03-autograd.html')
    block = page.locator('div.highlight-python div.highlight', has_text='>>> x = Value(3.0)').first
    block.hover()
    button = block.locator('button.copybtn')
    button.click()
    copied = page.evaluate('navigator.clipboard.readText()')
    # prompts and outputs are left out: what is copied runs as it is
    assert copied.splitlines()[:3] == ['x = Value(3.0)', 'y = x * x + 2 * x', 'y.backward()']
    assert '>>>' not in copied and '(15.0, 8.0)' not in copied


def test_every_chapter_source_can_be_downloaded(visit):
    import tangle

    page = visit.open('02-tokens.html')
    page.locator('.dropdown-download-buttons button.dropdown-toggle').click()  # the download menu
    link = page.locator('.dropdown-download-buttons a[href$="_sources/02-tokens.md"]')
    link.wait_for(state='visible')
    assert link.text_content().strip() == '.md'
    response = page.request.get(link.evaluate('a => a.href'))
    assert response.ok
    assert response.text() == (ROOT / 'book' / '02-tokens.md').read_text(encoding='utf-8')
    for chapter in tangle.chapters():  # every page of the book offers its own source
        html = (HTML / f'{chapter.stem}.html').read_text(encoding='utf-8')
        assert f'href="_sources/{chapter.stem}.md"' in html, chapter.stem
        assert (HTML / '_sources' / f'{chapter.stem}.md').read_bytes() == chapter.read_bytes()


def test_api_reference_links_every_module_to_its_chapters(visit):
    import tangle

    page = visit.open('api.html')
    for chapter in tangle.chapters():
        doc = chapter.stem
        for module, _, _ in tangle.cells(chapter):
            name = module.removesuffix('.py').removesuffix('/__init__').replace('/', '.')
            section = page.locator('section', has=page.locator(f'h2:has-text("{name}")')).first
            hrefs = section.locator('p a').evaluate_all('as => as.map(a => a.getAttribute("href"))')
            assert any(h.split('#')[0] == f'{doc}.html' for h in hrefs), (module, doc, hrefs)
    assert page.locator('dl.py.function').count() > 20


# ---------------------------------------------------------------- the widgets

def test_tokenizer_widget_shows_tokens_and_flags_unknown_characters(visit):
    from microgpt.tokenizer import Tokenizer

    page = visit.open('02-tokens.html')
    widget = page.locator('.mg-widget[data-widget="tokenizer"]')
    data = widget_data(page, 'tokenizer')
    tok = Tokenizer([''.join(data['chars'])])
    box = widget.locator('input')
    box.fill('')
    box.type('olivia')
    ids = widget.locator('.mg-chip-id').all_text_contents()
    assert [int(i) for i in ids] == tok.encode('olivia')
    assert str(tok.encode('olivia')) in widget.locator('.mg-ids').text_content()
    box.fill('Zoë')
    assert widget.locator('.mg-chip.mg-unknown').all_text_contents() == ['Z?', 'ë?']
    assert '"Z"' in widget.locator('.mg-note').text_content() and '"ë"' in widget.locator('.mg-note').text_content()
    assert widget.locator('.mg-chip.mg-bos').count() == 2


def test_temperature_widget_follows_the_slider(visit):
    import math

    page = visit.open('11-explore.html')
    widget = page.locator('.mg-widget[data-widget="temperature"]')
    data = widget_data(page, 'temperature')
    logits = data['contexts'][0]['logits']

    def expected(T):
        e = [math.exp(z / T - max(logits) / T) for z in logits]
        return [x / sum(e) for x in e]

    at_one = bar_probs(widget)
    assert max(abs(a - b) for a, b in zip(at_one, expected(1.0))) < 1e-9
    slider = widget.locator('input[type=range]')
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box['y'] + box['height'] / 2
    page.mouse.move(box['x'] + box['width'] * (1 - 0.1) / (3 - 0.1), y)  # the thumb, at T = 1
    page.mouse.down()
    page.mouse.move(box['x'] + 1, y, steps=8)  # drag to the far left: T = 0.1
    page.mouse.up()
    assert widget.locator('output').text_content() == '0.10'
    cold = bar_probs(widget)
    assert max(cold) > 0.9 > max(at_one)
    assert max(abs(a - b) for a, b in zip(cold, expected(0.1))) < 1e-9
    page.mouse.move(box['x'] + 1, y)
    page.mouse.down()
    page.mouse.move(box['x'] + box['width'] - 1, y, steps=8)  # and to the far right: T = 3
    page.mouse.up()
    assert widget.locator('output').text_content() == '3.00'
    hot = bar_probs(widget)
    assert max(hot) < max(at_one)
    widget.locator('select').select_option(index=len(data['contexts']) - 1)
    assert bar_probs(widget) != hot


def python_model(data):
    """The GPT of the package with the weights the page exported."""
    from microgpt.model import GPT, Config

    model = GPT(Config(**data['config']), random.Random(0))
    for name, rows in data['weights'].items():
        for row, saved in zip(model.state[name], rows):
            for p, x in zip(row, saved):
                p.data = x
    return model


def python_reading(model, data, ids):
    """softmax(model(...)) after BOS and ids, and each head's attention weights at the last position."""
    from microgpt.attention import attention_weights
    from microgpt.nn import linear, rmsnorm, softmax

    c = model.config
    keys, values = model.new_cache()
    for pos, token in enumerate([data['BOS']] + ids):
        x = model.embed(token, pos)
        q = linear(rmsnorm(x), model.state['layer0.attn_wq'])  # what the attention block computes
        logits = model(token, pos, keys, values)
    heads = []
    for h in range(c.n_head):
        s = slice(h * c.head_dim, (h + 1) * c.head_dim)
        heads.append([w.data for w in attention_weights(q[s], [k[s] for k in keys[0]])])
    return [p.data for p in softmax(logits)], heads


def test_explorer_exports_the_trained_weights(visit):
    page = visit.open('11-explore.html')
    data = widget_data(page, 'explorer')
    assert sum(len(row) for w in data['weights'].values() for row in w) == 4192
    if not CHECKPOINT.exists():
        unavailable(f'no checkpoint at {CHECKPOINT} to compare the exported weights with')
    from microgpt.checkpoint import load_checkpoint

    model = load_checkpoint(CHECKPOINT).model
    assert data['weights'] == {name: [[p.data for p in row] for row in w] for name, w in model.state.items()}


def explorer(visit):
    """The explorer widget, the data exported into its page, the Python model built
    from that data, and the token id of each character."""
    page = visit.open('11-explore.html')
    data = widget_data(page, 'explorer')
    ids = {ch: i for i, ch in enumerate(data['chars'])}
    return page.locator('.mg-widget[data-widget="explorer"]'), data, python_model(data), ids


def test_explorer_agrees_with_the_python_model(visit):
    widget, data, model, ids = explorer(visit)
    longest = 'abcdefghijklmnopqrstuvwxyz'[:data['config']['block_size'] - 1]
    box = widget.locator('input')
    worst = 0.0
    for prefix in ['', 'e', 'emm', 'olivia', 'xzq', longest]:
        box.fill('')
        box.type(prefix)
        assert widget.get_attribute('data-prefix') == prefix
        probs, heads = python_reading(model, data, [ids[ch] for ch in prefix])
        shown = bar_probs(widget)
        assert len(shown) == len(probs) == data['config']['vocab_size']
        worst = max(worst, max(abs(a - b) for a, b in zip(shown, probs)))
        assert abs(sum(shown) - 1) < 1e-12
        rows = widget.locator('table.mg-attention tbody tr')
        assert rows.count() == data['config']['n_head']
        for h in range(rows.count()):
            weights = [float(w) for w in rows.nth(h).locator('td').evaluate_all('ts => ts.map(t => t.dataset.w)')]
            assert len(weights) == len(prefix) + 1
            assert max(abs(a - b) for a, b in zip(weights, heads[h])) < 1e-9
        assert not widget.locator('.mg-warn').text_content()
    print(f"largest difference from the Python model: {worst:.3g}")
    assert worst < 1e-9, worst


def test_explorer_copes_with_long_prefixes_and_unknown_characters(visit):
    widget, data, model, ids = explorer(visit)
    n = data['config']['block_size'] - 1
    box = widget.locator('input')
    for typed, read in [('Emma!', 'mma'), ('maximilianalexanderthegreat', 'maximilianalexanderthegreat'[:n]),
                        ('ZZ 42', '')]:
        box.fill('')
        box.type(typed)
        assert widget.get_attribute('data-prefix') == read
        probs, _ = python_reading(model, data, [ids[ch] for ch in read])
        assert max(abs(a - b) for a, b in zip(bar_probs(widget), probs)) < 1e-9
        warning = widget.locator('.mg-warn').text_content()
        assert warning, typed
        if len(typed) > n:
            assert 'ignored' in warning
        else:
            assert 'not in the vocabulary' in warning
