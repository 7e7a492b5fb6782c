"""The API page, a Sphinx extension loaded by conf.py.

book/api.md holds a ```{tangled-api}``` block. Before the page is parsed, the block
is replaced by one section per tangled module, in book order: links to the chapters
and sections the module is written in (from the tangler), then the module's
docstrings (autodoc).
"""
import re
from pathlib import Path

import tangle

API_BLOCK = re.compile(r'^```\{tangled-api\}[ \t]*\n```[ \t]*$', re.M)


def _headings(path):
    """(line number, level, title) of the Markdown headings of a chapter, outside code."""
    found, fence = [], None
    for number, line in enumerate(path.read_text(encoding='utf-8').splitlines(), 1):
        marker = re.match(r'^(`{3,}|~{3,})', line)
        if marker and fence is None:
            fence = marker.group(1)
        elif marker and line.strip() == fence[0] * len(line.strip()) and len(line.strip()) >= len(fence):
            fence = None
        elif fence is None and (m := re.match(r'^(#{1,6})\s+(.*?)\s*#*\s*$', line)):
            found.append((number, len(m.group(1)), m.group(2)))
    return found


def tangled_api(app):
    """MyST text documenting every tangled module, with links back to its chapters."""
    from myst_parser.slugs import github_slugify

    root = Path(app.confdir)
    feeds = {}  # module -> [(chapter docname, [(section title, anchor)])]
    for chapter in tangle.chapters(root):
        app.env.note_dependency(str(chapter))
        doc = chapter.relative_to(root / 'book').with_suffix('').as_posix()
        heads = _headings(chapter)
        for module, _, line in tangle.cells(chapter, root):
            places = feeds.setdefault(module, [])
            if not places or places[-1][0] != doc:
                places.append((doc, []))
            above = [h for h in heads if h[0] < line]
            if above and above[-1][1] > 1:
                title = above[-1][2]
                anchor = github_slugify(title.replace('`', ''))
                if (title, anchor) not in places[-1][1]:
                    places[-1][1].append((title, anchor))
    parts = []
    for module, places in feeds.items():
        name = module.removesuffix('.py').removesuffix('/__init__').replace('/', '.')
        chapters = []
        for doc, sections in places:
            links = ', '.join(f'[{title}]({doc}.md#{anchor})' for title, anchor in sections)
            chapters.append(f'{{doc}}`{doc}`' + (f' (sections {links})' if links else ''))
        parts.append(
            f'(api-{name.replace(".", "-").replace("_", "")})=\n'
            f'## `{name}`\n\n'
            f'`{module}` is tangled from {"; then ".join(chapters)}.\n\n'
            f'```{{eval-rst}}\n.. automodule:: {name}\n```\n')
    return '\n'.join(parts)


def _on_source_read(app, docname, source):
    if API_BLOCK.search(source[0]):
        source[0] = API_BLOCK.sub(lambda _: tangled_api(app), source[0], count=1)


def setup(app):
    app.connect('source-read', _on_source_read)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True}
