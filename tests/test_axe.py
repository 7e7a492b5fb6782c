"""axe-core, the accessibility checker, on every page of the built book, in the light
and the dark theme: no serious or critical violation of WCAG 2.0/2.1 A and AA.

axe-core comes from the npm registry at test time: one pinned version, its tarball
checked against the sha512 the registry publishes for it (dist.integrity, as
`npm view axe-core@VERSION dist.integrity` prints it), and kept under _build/ so that it
is downloaded once. Nothing of it is committed.
"""
import io
import tarfile
import urllib.request

import pytest

from pyodide_book import integrity  # npm's sha512-<base64>, as the build checks Pyodide
from served import HTML, ROOT, Visit, unavailable

pytestmark = pytest.mark.book  # needs the built book; CI runs these after building it

AXE_VERSION = '4.14.1'
AXE_INTEGRITY = 'sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=='
AXE_TARBALL = f'https://registry.npmjs.org/axe-core/-/axe-core-{AXE_VERSION}.tgz'
AXE_CACHE = ROOT / '_build' / 'axe-core' / f'axe-core-{AXE_VERSION}.tgz'
TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']
SERIOUS = {'serious', 'critical'}
THEMES = ['light', 'dark']


def verified(blob):
    """blob, if its sha512 is the one the registry publishes; otherwise an error."""
    if integrity(blob) != AXE_INTEGRITY:
        raise ValueError(f'axe-core {AXE_VERSION}: the tarball does not match its sha512 from the registry')
    return blob


def axe_source():
    """The text of axe.min.js from the verified tarball, downloaded once into _build/."""
    if AXE_CACHE.exists():
        blob = AXE_CACHE.read_bytes()
    else:
        try:
            with urllib.request.urlopen(AXE_TARBALL, timeout=60) as response:
                blob = response.read()
        except OSError as error:
            unavailable(f'cannot download axe-core from the npm registry ({AXE_TARBALL}): {error}')
        verified(blob)
        AXE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        AXE_CACHE.write_bytes(blob)
    with tarfile.open(fileobj=io.BytesIO(verified(blob)), mode='r:gz') as tar:
        return tar.extractfile('package/axe.min.js').read().decode('utf-8')


@pytest.fixture(scope='module')
def axe():
    return axe_source()


def pages():
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.glob('*.html')) or ['index.html']


def audit(browser, site, axe, name, theme):
    """axe's violations of page name in theme: [(rule, impact, help, [targets])]."""
    visit = Visit(browser, site, color_scheme=theme)
    try:
        page = visit.open(name)
        assert page.evaluate('document.documentElement.dataset.theme') == theme
        # the page as the reader gets it: its formulas typeset (the widgets are drawn by now)
        page.evaluate('window.MathJax && MathJax.startup && MathJax.startup.promise')
        page.add_script_tag(content=axe)
        result = page.evaluate('tags => axe.run(document, {runOnly: {type: "tag", values: tags},'
                               ' resultTypes: ["violations"]})', TAGS)
        assert not visit.problems, visit.problems
    finally:
        visit.close()
    return [(v['id'], v['impact'], v['help'], [', '.join(n['target']) for n in v['nodes']])
            for v in result['violations']]


@pytest.mark.parametrize('theme', THEMES)
@pytest.mark.parametrize('name', pages())
def test_no_serious_accessibility_violation(browser, site, axe, name, theme):
    found = audit(browser, site, axe, name, theme)
    serious = [v for v in found if v[1] in SERIOUS]
    assert not serious, '\n'.join(f'{rule} ({impact}, {len(nodes)}x): {help}\n    ' + '\n    '.join(nodes[:8])
                                  for rule, impact, help, nodes in serious)


def test_the_pinned_tarball_is_checked():
    with pytest.raises(ValueError):
        verified(b'not axe-core')
