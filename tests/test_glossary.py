"""The glossary, book/glossary.md: every entry links to where its term is defined.

Checked on the Markdown sources, without building the book:

- every entry of the ``{glossary}`` block has at least one link into the book;
- every link resolves: a ``{ref}`` label is a ``(label)=`` target of some
  book/*.md, a ``{doc}`` names an existing file, and ``file.md#anchor`` names an
  existing file with a heading whose MyST anchor (``myst_heading_anchors`` in
  conf.py, GitHub-style slugs) is ``anchor``;
- the entries are in alphabetical order, and no term is defined twice;
- every ``{term}`` role in the chapters names a term of the glossary;
- every entry is referred to with ``{term}`` from at least one book/*.md other
  than glossary.md, so no definition is left that the chapters never point at.

``python tests/test_glossary.py`` prints the entries no chapter refers to yet,
with the sections that define them, and exits with status 1 if there are any.
"""
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / 'book'
GLOSSARY = BOOK / 'glossary.md'


# ------------------------------------------------------------------ reading Markdown

FENCE = re.compile(r'^ {0,3}(`{3,}|~{3,})')
HEADING = re.compile(r'^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$')
LABEL = re.compile(r'^ {0,3}\(([^()\s]+)\)=[ \t]*$')


def prose_lines(text):
    """(line number, line) of the lines outside front matter and fenced blocks."""
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == '---':  # YAML front matter
        end = next((i for i in range(1, len(lines)) if lines[i].strip() == '---'), None)
        if end is not None:
            start = end + 1
    fence = None
    for number in range(start, len(lines)):
        line = lines[number]
        marker = FENCE.match(line)
        if fence is None:
            if marker:
                fence = marker.group(1)
            else:
                yield number + 1, line
        elif marker and line.strip() == fence[0] * len(line.strip()) and len(line.strip()) >= len(fence):
            fence = None


ROLE = re.compile(r'\{[\w:.+-]+\}(`+)(.+?)(?<!`)\1(?!`)')
CODE = re.compile(r'(`+)(.+?)(?<!`)\1(?!`)')
MATH = re.compile(r'\$\$.+?\$\$|\$(?=\S)(?:.*?\S)?\$')
LINK = re.compile(r'!?\[([^\]]*)\]\([^)]*\)')
EMPHASIS = re.compile(r'\*+|(?<![^\W_])_+|_+(?![^\W_])')
ESCAPE = re.compile(r'\\([!-/:-@\[-`{-~])')


def heading_title(source):
    """The text MyST slugifies: the heading's plain text and inline code, nothing else.

    MyST joins the ``text`` and ``code_inline`` children of the heading; roles,
    math and images are other kinds of children and drop out, emphasis markers
    are not text, and a link contributes its text.
    """
    parts, last = [], 0
    source = ROLE.sub('', source)
    for code in CODE.finditer(source):
        parts.append(_plain(source[last:code.start()]))
        content = code.group(2)
        if content.startswith(' ') and content.endswith(' ') and content.strip():
            content = content[1:-1]
        parts.append(content)
        last = code.end()
    parts.append(_plain(source[last:]))
    return ''.join(parts)


def _plain(text):
    text = MATH.sub('', text)
    text = LINK.sub(lambda m: '' if m.group(0).startswith('!') else m.group(1), text)
    text = EMPHASIS.sub('', text)
    return ESCAPE.sub(r'\1', text)


GITHUB_CLEAN = re.compile(r'[^\w\u4e00-\u9fff\- ]')


def slugify(title):
    """MyST's default (GitHub) slug: lowercase, spaces to hyphens, drop the rest.

    The rule of myst_parser.slugs.github_slugify: every character that is not a
    word character, a CJK ideograph, a hyphen or a space is removed; nothing is
    stripped, so a title ending in a space ends in a hyphen.
    """
    return GITHUB_CLEAN.sub('', title.lower().replace(' ', '-'))


def unique(slug, taken):
    """The slug, or slug-1, slug-2, ... for a repeated heading in the same file."""
    candidate, n = slug, 1
    while candidate in taken:
        candidate = f'{slug}-{n}'
        n += 1
    return candidate


def heading_anchors_depth():
    """myst_heading_anchors of conf.py: headings up to this level get anchors."""
    conf = (ROOT / 'conf.py').read_text(encoding='utf-8')
    assert not re.search(r'^myst_heading_slug_func\s*=', conf, re.M), \
        'conf.py sets myst_heading_slug_func; this test implements only the default (GitHub) slugs'
    found = re.search(r'^myst_heading_anchors\s*=\s*(\d+)', conf, re.M)
    return int(found.group(1)) if found else 0


def anchors(path, depth=None):
    """{anchor: heading line} of a Markdown file, as MyST makes them."""
    depth = heading_anchors_depth() if depth is None else depth
    found = {}
    for number, line in prose_lines(path.read_text(encoding='utf-8')):
        m = HEADING.match(line)
        if m and len(m.group(1)) <= depth:
            slug = slugify(heading_title((m.group(2) or '').strip()))
            if slug:  # an empty slug gives no anchor
                found[unique(slug, found)] = line.strip()
    return found


def labels():
    """{label: file name} of every (label)= target of the book."""
    found = {}
    for path in sorted(BOOK.glob('*.md')):
        for _, line in prose_lines(path.read_text(encoding='utf-8')):
            if m := LABEL.match(line):
                found[m.group(1)] = path.name
    return found


# ------------------------------------------------------------------ reading the glossary

def glossary_entries(text=None):
    """[(terms, definition, line number)] of the {glossary} block, in file order."""
    text = GLOSSARY.read_text(encoding='utf-8') if text is None else text
    lines = text.splitlines()
    opening = re.compile(r'^(`{3,}|:{3,})\{glossary\}')
    start = next((i for i, line in enumerate(lines) if opening.match(line)), None)
    assert start is not None, 'book/glossary.md has no {glossary} block'
    fence = opening.match(lines[start]).group(1)
    entries, blank, options = [], True, True
    for number in range(start + 1, len(lines)):
        line = lines[number]
        if line.strip() == fence[0] * len(line.strip()) and len(line.strip()) >= len(fence):
            break
        if not line.strip():
            blank, options = True, False
            continue
        if options and line.startswith(':'):  # directive options such as :sorted:
            continue
        options = False
        if line[0] not in ' \t':
            if blank or not entries or entries[-1][1]:
                entries.append(([], [], number + 1))
            entries[-1][0].append(line.strip())
        else:
            assert entries, f'glossary.md:{number + 1}: a definition without a term'
            entries[-1][1].append(line.strip())
        blank = False
    else:
        raise AssertionError('the {glossary} block of book/glossary.md is not closed')
    return [(terms, ' '.join(definition), line) for terms, definition, line in entries]


def role_targets(role, text):
    """Targets of {role}`target` and {role}`text <target>` in text."""
    pattern = re.compile(r'\{' + role + r'\}`([^`]*)`')
    targets = []
    for m in pattern.finditer(text):
        body = m.group(1)
        inner = re.search(r'<([^<>]+)>\s*$', body)
        targets.append((inner.group(1) if inner else body).strip())
    return targets


MD_LINK = re.compile(r'(?<!!)\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')


def links(definition):
    """[(kind, target)] of the links in a definition: 'ref', 'doc' or 'md'."""
    found = [('ref', t) for t in role_targets('ref', definition)]
    found += [('doc', t) for t in role_targets('doc', definition)]
    found += [('md', t) for t in MD_LINK.findall(definition)
              if not re.match(r'^[a-z][a-z0-9+.-]*:', t)]  # not http:, mailto:, ...
    return found


def problem(kind, target, known_labels, anchor_cache):
    """Why a link does not resolve, or None when it does."""
    if kind == 'ref':
        return None if target in known_labels else f'no (label)= target {target!r} in book/*.md'
    if kind == 'doc':
        path = (GLOSSARY.parent / target).with_suffix('.md')
        return None if path.exists() else f'no file {path.relative_to(ROOT)}'
    name, _, anchor = target.partition('#')
    path = (GLOSSARY.parent / name) if name else GLOSSARY
    if path.suffix != '.md' or not path.exists():
        return f'no Markdown file {name!r} in book/'
    if not anchor:
        return None
    if path not in anchor_cache:
        anchor_cache[path] = anchors(path)
    if anchor not in anchor_cache[path]:
        return f'{path.name} has no heading with anchor #{anchor}'
    return None


def chapter_term_references():
    """{term (casefolded): [file names]} of the {term} roles outside the glossary."""
    used = {}
    for path in sorted(BOOK.glob('*.md')):
        if path == GLOSSARY:
            continue
        text = '\n'.join(line for _, line in prose_lines(path.read_text(encoding='utf-8')))
        for target in role_targets('term', text):
            used.setdefault(' '.join(target.split()).casefold(), []).append(path.name)
    return used


def unreferenced_terms():
    """[(terms, where it is defined)] of the entries no chapter refers to with {term}."""
    used = chapter_term_references()
    missing = []
    for terms, definition, _ in glossary_entries():
        if not any(term.casefold() in used for term in terms):
            places = [t.partition('#')[0] or 'glossary.md' for k, t in links(definition) if k == 'md']
            places += [labels().get(t, t) for k, t in links(definition) if k == 'ref']
            missing.append((terms, ', '.join(dict.fromkeys(places))))
    return missing


# ------------------------------------------------------------------ the tests

ENTRIES = glossary_entries()


def test_the_glossary_has_entries_with_definitions():
    assert len(ENTRIES) > 40
    empty = [terms[0] for terms, definition, _ in ENTRIES if not definition]
    assert not empty, f'entries without a definition: {empty}'


def test_entries_are_in_alphabetical_order():
    firsts = [terms[0] for terms, _, _ in ENTRIES]
    for before, after in zip(firsts, firsts[1:]):
        assert before.casefold() < after.casefold(), f'{after!r} should come before {before!r}'


def test_no_term_is_defined_twice():
    # Sphinx compares glossary terms case-insensitively and warns on a repeat
    seen = {}
    for terms, _, line in ENTRIES:
        for term in terms:
            assert term.casefold() not in seen, \
                f'{term!r} (glossary.md:{line}) is already defined at glossary.md:{seen[term.casefold()]}'
            seen[term.casefold()] = line


def test_every_entry_links_into_the_book():
    bare = [f'{terms[0]} (glossary.md:{line})' for terms, definition, line in ENTRIES if not links(definition)]
    assert not bare, f'entries without a link to the section that defines them: {bare}'


def test_every_link_resolves():
    known, cache, broken = labels(), {}, []
    for terms, definition, line in ENTRIES:
        for kind, target in links(definition):
            if why := problem(kind, target, known, cache):
                broken.append(f'{terms[0]} (glossary.md:{line}): {target}: {why}')
    assert not broken, 'broken glossary links:\n' + '\n'.join(broken)


def test_a_broken_anchor_is_caught():
    known, cache = labels(), {}
    assert problem('md', '08-adam.md#the-optimizer', known, cache) is None
    assert problem('md', '08-adam.md#the-optimiser', known, cache)
    assert problem('md', '99-nothing.md#the-optimizer', known, cache)
    assert problem('ref', 'adam', known, cache) is None
    assert problem('ref', 'no-such-label', known, cache)
    entries = glossary_entries('```{glossary}\nAdam\n  See [x](08-adam.md#nowhere).\n```\n')
    assert [problem(k, t, known, cache) for k, t in links(entries[0][1])] == [
        '08-adam.md has no heading with anchor #nowhere']


@pytest.mark.parametrize('title, slug', [
    ('Bias correction: the averages start at zero', 'bias-correction-the-averages-start-at-zero'),
    ('Checkpoints, and Ctrl-C', 'checkpoints-and-ctrl-c'),
    ('2. `doc_loss` by hand', '2-doc_loss-by-hand'),
    (r'Guessing: $\ln 27$', 'guessing-'),  # math is not part of the title
    ('The *second* moment', 'the-second-moment'),
    ('See {ref}`adam` now', 'see--now'),
])
def test_slug_rule(title, slug):
    assert slugify(heading_title(title)) == slug


def test_repeated_headings_are_numbered(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# A\n## Summary\n```\n## Not a heading\n```\n## Summary\n#### Too deep\n', encoding='utf-8')
    assert list(anchors(page, depth=3)) == ['a', 'summary', 'summary-1']


def test_anchors_agree_with_myst():
    """Our slugs are MyST's own, for every heading of every page of the book."""
    mdit = pytest.importorskip('myst_parser.parsers.mdit')
    from markdown_it.renderer import RendererHTML
    from markdown_it.tree import SyntaxTreeNode
    from myst_parser.config.main import MdParserConfig
    from myst_parser.mdit_to_docutils.base import compute_unique_slug

    conf = (ROOT / 'conf.py').read_text(encoding='utf-8')
    extensions = set(re.findall(r"'(\w+)'", re.search(r'^myst_enable_extensions\s*=\s*\[(.*?)\]', conf, re.M | re.S).group(1)))
    depth = heading_anchors_depth()
    md = mdit.create_md_parser(MdParserConfig(enable_extensions=extensions, heading_anchors=depth), RendererHTML)

    def theirs(path):
        slugs = {}

        def walk(node):
            for child in node.children:
                if child.type == 'heading':
                    if int(child.tag[1:]) <= depth and (slug := compute_unique_slug(child, slugs)):
                        slugs[slug] = True
                else:
                    walk(child)
        walk(SyntaxTreeNode(md.parse(path.read_text(encoding='utf-8'))))
        return list(slugs)

    for path in sorted(BOOK.glob('*.md')):
        assert list(anchors(path)) == theirs(path), path.name


def test_every_term_role_names_a_glossary_term():
    defined = {term.casefold() for terms, _, _ in ENTRIES for term in terms}
    unknown = [f'{target!r} in {", ".join(files)}'
               for target, files in chapter_term_references().items() if target not in defined]
    assert not unknown, 'terms used with {term} but not in the glossary: ' + '; '.join(unknown)


def unreferenced_report(missing):
    """The list of entries no chapter refers to, one a line, with where each is defined."""
    lines = [f'{len(missing)} of {len(ENTRIES)} glossary entries have no {{term}} reference in a chapter:']
    lines += [f'  {" / ".join(terms)}: {places}' for terms, places in missing]
    return '\n'.join(lines)


def test_every_entry_is_referred_to_from_a_chapter():
    missing = unreferenced_terms()
    assert not missing, unreferenced_report(missing)


if __name__ == '__main__':
    missing = unreferenced_terms()
    print(unreferenced_report(missing))
    sys.exit(1 if missing else 0)
