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
import re
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
    assert not widget.locator('.mg-lower').is_visible()
    box.fill('Zoë')  # a capital is read in lowercase; a character outside the vocabulary is flagged
    assert widget.locator('.mg-chip.mg-unknown').all_text_contents() == ['ë?']
    assert widget.locator('.mg-chip-ch').all_text_contents() == ['BOS', 'z', 'o', 'ë', 'BOS']
    assert '"ë"' in widget.locator('.mg-note').first.text_content()
    assert '"Z"' in widget.locator('.mg-lower').text_content()
    assert widget.locator('.mg-chip.mg-bos').count() == 2
    box.fill('OLIVIA')
    assert [int(i) for i in widget.locator('.mg-chip-id').all_text_contents()] == tok.encode('olivia')
    assert widget.locator('.mg-chip.mg-unknown').count() == 0
    assert '"O", "L", "I", "V", "A"' in widget.locator('.mg-lower').text_content()


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
    for typed, read in [('Emma!', 'emma'), ('maximilianalexanderthegreat', 'maximilianalexanderthegreat'[:n]),
                        ('ZZ 42', 'zz')]:
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
        # capitals are read in lowercase, and the widget says so
        assert ('"E"' in widget.locator('.mg-lower').text_content()) == (typed == 'Emma!')


def bar_heights(widget):
    """Each bar's height as a fraction of its track (the axis from 0 to 100%)."""
    return widget.locator('.mg-col').evaluate_all(
        'cols => cols.map(c => c.querySelector(".mg-bar").getBoundingClientRect().height'
        ' / c.querySelector(".mg-bar-track").clientHeight)')


def set_temperature(widget, T):
    widget.locator('input[type=range]').evaluate(
        '(s, T) => { s.value = String(T); s.dispatchEvent(new Event("input")); }', T)


def test_temperature_widget_draws_probabilities_on_a_fixed_axis(visit):
    page = visit.open('11-explore.html')
    widget = page.locator('.mg-widget[data-widget="temperature"]')
    track = widget.locator('.mg-bar-track').first.evaluate('t => t.clientHeight')
    assert track > 50
    tallest = []
    for T in [3, 1, 0.5, 0.1]:
        set_temperature(widget, T)
        probs, heights = bar_probs(widget), bar_heights(widget)
        # the height of a bar is its probability, not its share of the tallest bar
        assert max(abs(h - p) for h, p in zip(heights, probs)) < 1.5 / track, T
        tallest.append(max(heights))
    assert tallest == sorted(tallest) and tallest[0] < 0.5 < 0.9 < tallest[-1], tallest  # it sharpens, visibly
    # the axis says so
    assert widget.locator('.mg-tick').all_text_contents() == ['0', '50%', '100%']


def test_temperature_is_introduced_with_a_widget(visit):
    import math

    page = visit.open('10-sampling.html')
    section = page.locator('section', has=page.locator('h2:text-is("Temperature")'))
    widget = section.locator('.mg-widget[data-widget="temperature"]')
    assert widget.count() == 1 and widget.get_attribute('data-ready') == 'true'
    data = widget_data(page, 'temperature')
    assert len(data['contexts']) == 1 and data['contexts'][0]['prefix'] == ''  # the first letter, after BOS
    assert widget.locator('select').count() == 0  # one context needs no choice
    logits = data['contexts'][0]['logits']
    e = [math.exp(z - max(logits)) for z in logits]
    assert max(abs(a - x / sum(e)) for a, x in zip(bar_probs(widget), e)) < 1e-12
    # the chapter's own table of the same distribution: the favourite at T = 1, to 3 places
    favourite = max(range(len(logits)), key=lambda i: logits[i])
    assert f'{e[favourite] / sum(e):.3f}' in section.locator('table').first.text_content()
    set_temperature(widget, 0.1)
    assert widget.locator('output').text_content() == '0.10'
    assert max(bar_heights(widget)) > 0.9


def test_explorer_appends_the_letter_of_a_clicked_bar(visit):
    widget, data, model, ids = explorer(visit)
    box = widget.locator('input')
    box.fill('')
    box.type('em')
    widget.locator('.mg-bars button.mg-col[data-token="m"]').click()
    assert box.input_value() == 'emm' and widget.get_attribute('data-prefix') == 'emm'
    widget.locator('.mg-bars button.mg-col[data-token="a"]').click()
    assert widget.get_attribute('data-prefix') == 'emma'
    probs, _ = python_reading(model, data, [ids[ch] for ch in 'emma'])
    assert max(abs(a - b) for a, b in zip(bar_probs(widget), probs)) < 1e-9
    # BOS ends a name: it is not a letter to add
    assert widget.locator('.mg-bars .mg-col[data-token="BOS"]').evaluate('c => c.tagName') == 'DIV'
    assert widget.locator('.mg-bars button').count() == len(data['chars'])


def test_explorer_bars_work_from_the_keyboard(visit):
    widget, data, model, ids = explorer(visit)
    page = widget.page
    box = widget.locator('input')
    box.fill('')
    box.type('jo')
    # the bars are one Tab stop (a toolbar); the arrow keys move along it
    tabbable = widget.locator('.mg-bars button').evaluate_all('bs => bs.filter(b => b.tabIndex >= 0).length')
    assert tabbable == 1
    box.focus()
    page.keyboard.press('Tab')
    assert page.evaluate('document.activeElement.dataset.token') == data['chars'][0]
    for _ in range(data['chars'].index('h')):
        page.keyboard.press('ArrowRight')
    assert page.evaluate('document.activeElement.dataset.token') == 'h'
    page.keyboard.press('Enter')
    assert widget.get_attribute('data-prefix') == 'joh'
    page.keyboard.press('End')
    page.keyboard.press('ArrowLeft')
    page.keyboard.press(' ')
    assert widget.get_attribute('data-prefix') == 'joh' + data['chars'][-2]
    # a bar's accessible name says its letter and its probability
    letter = data['chars'][-2]
    named = widget.get_by_role('button', name=re.compile(rf'^{letter}, \d+\.\d%$'))
    assert named.count() == 1 and named.evaluate('b => b === document.activeElement')


WIDGET_PAGES = [('02-tokens.html', 'tokenizer'), ('10-sampling.html', 'temperature'),
                ('11-explore.html', 'temperature'), ('11-explore.html', 'explorer')]

OVERFLOW = r"""w => {
    // every element of the widget inside its box (the attention grid scrolls in its own box)
    const box = w.getBoundingClientRect(), out = [];
    for (const e of w.querySelectorAll('*')) {
        if (e.closest('.mg-scroll') && !e.classList.contains('mg-scroll') || e.classList.contains('mg-sr')) continue;
        const r = e.getBoundingClientRect();
        if (!r.width && !r.height) continue;
        if (r.left < box.left - 0.5 || r.right > box.right + 0.5) out.push(e.className || e.tagName);
    }
    return out;
}"""

OVERLAPS = r"""(w, selector) => {
    // pairs of visible texts (numbers over the bars, letters under them) that touch
    const rects = [...w.querySelectorAll(selector)].filter(e => e.textContent.trim())
        .map(e => [e.textContent, e.getBoundingClientRect()]);
    const out = [];
    for (let i = 0; i < rects.length; i++)
        for (let j = i + 1; j < rects.length; j++) {
            const [a, r] = rects[i], [b, s] = rects[j];
            if (r.left < s.right && s.left < r.right && r.top < s.bottom && s.top < r.bottom) out.push(a + '|' + b);
        }
    return out;
}"""


@pytest.mark.parametrize('theme', ['light', 'dark'])
def test_widgets_fit_a_phone(browser, site, theme):
    from served import Visit

    visit = Visit(browser, site, viewport={'width': 390, 'height': 844}, color_scheme=theme)
    try:
        for name, kind in WIDGET_PAGES:
            page = visit.open(name)
            assert page.evaluate('document.scrollingElement.scrollWidth') <= 390, name
            widget = page.locator(f'.mg-widget[data-widget="{kind}"]')
            states = {'tokenizer': [('input', 'Zoë, the 2nd!')],
                      'explorer': [('input', 'emm'), ('input', 'maximilianalexander')],
                      'temperature': [('T', T) for T in (0.1, 1, 1.6, 3)]}[kind]
            for what, value in states:
                if what == 'input':
                    widget.locator('input').fill(value)
                else:
                    set_temperature(widget, value)
                contexts = widget.locator('select option').count() or 1
                for c in range(contexts):
                    if contexts > 1:
                        widget.locator('select').select_option(index=c)
                    assert widget.evaluate(OVERFLOW) == [], (name, kind, value)
                    for selector in ['.mg-bar-value', '.mg-bar-label']:
                        assert widget.evaluate(OVERLAPS, selector) == [], (name, kind, value, c, selector)
            assert page.evaluate('document.scrollingElement.scrollWidth') <= 390, name
        assert not visit.problems, visit.problems
    finally:
        visit.close()


CONTRAST = r"""w => {
    // the contrast of every text of the widget with what is behind it, from computed styles
    const rgba = c => {
        const n = c.match(/[\d.]+/g).map(Number);
        return c.startsWith('color(') ? [n[0] * 255, n[1] * 255, n[2] * 255, n.length > 3 ? n[3] : 1]
                                      : [n[0], n[1], n[2], n.length > 3 ? n[3] : 1];
    };
    const over = (top, bottom) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3])).concat([1]);
    const background = e => {
        const layers = [];
        for (; e; e = e.parentElement) {
            const c = rgba(getComputedStyle(e).backgroundColor);
            if (c[3] > 0) layers.push(c);
            if (c[3] >= 1) break;
        }
        return layers.reverse().reduce((under, c) => over(c, under), [255, 255, 255, 1]);
    };
    const lum = c => { const l = c.slice(0, 3).map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                       return 0.2126 * l[0] + 0.7152 * l[1] + 0.0722 * l[2]; };
    const ratio = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
    const found = [];
    for (const e of w.querySelectorAll('*')) {
        const text = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
        if (!text || e.closest('.mg-sr') || !e.getClientRects().length || getComputedStyle(e).visibility !== 'visible') continue;
        if (e.tagName === 'OPTION' || e.tagName === 'SCRIPT') continue;
        let opacity = 1;
        for (let a = e; a; a = a.parentElement) opacity *= Number(getComputedStyle(a).opacity);
        const bg = background(e), fg = rgba(getComputedStyle(e).color);
        const seen = over([fg[0], fg[1], fg[2], fg[3] * opacity], bg);
        found.push([text.slice(0, 20), e.className, ratio(seen, bg)]);
    }
    return found;
}"""


@pytest.mark.parametrize('theme', ['light', 'dark'])
def test_every_widget_text_has_contrast(browser, site, theme):
    from served import Visit

    visit = Visit(browser, site, color_scheme=theme)
    low, measured = [], 0
    try:
        for name, kind in WIDGET_PAGES:
            page = visit.open(name)
            widget = page.locator(f'.mg-widget[data-widget="{kind}"]')
            states = {'tokenizer': ['emma', 'Zoë 2'], 'temperature': [None],
                      'explorer': ['', 'emm', 'olivia', 'Emma!', 'maximilianalexander', 'xzq']}[kind]
            for state in states:
                if state is not None:
                    widget.locator('input').fill(state)
                for text, cls, ratio in widget.evaluate(CONTRAST):
                    measured += 1
                    if ratio < 4.5:
                        low.append(f'{name} {kind} {state!r}: {text!r} ({cls}) {ratio:.2f}:1')
            if kind == 'explorer':  # the reader switches theme: the attention grid follows
                other = 'light' if theme == 'dark' else 'dark'
                page.evaluate(f'document.documentElement.dataset.theme = "{other}"')
                for text, cls, ratio in widget.evaluate(CONTRAST):
                    if ratio < 4.5:
                        low.append(f'{name} {kind} switched to {other}: {text!r} ({cls}) {ratio:.2f}:1')
        assert not visit.problems, visit.problems
    finally:
        visit.close()
    assert measured > 200
    assert not low, '\n'.join(low)


def test_formulas_are_not_tab_stops(visit):
    page = visit.open('03-autograd.html')
    page.evaluate('MathJax.startup.promise')
    formulas = page.locator('mjx-container')
    assert formulas.count() > 50
    assert formulas.evaluate_all('ms => ms.filter(m => m.tabIndex >= 0).length') == 0
    # Tab through the whole page: focus never lands on a formula
    page.locator('body').focus()
    seen = set()
    for _ in range(400):
        page.keyboard.press('Tab')
        where = page.evaluate('(() => { const a = document.activeElement;'
                              ' return [!!a.closest("mjx-container"), a.outerHTML.slice(0, 80)]; })()')
        assert not where[0], where[1]
        if where[1] in seen and len(seen) > 20:
            break
        seen.add(where[1])
    assert len(seen) > 20
