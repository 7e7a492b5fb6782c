# Sphinx configuration of the microgpt book. Build from the repository root:
#   sphinx-build -W --keep-going -c . -b html book _build/html
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'book', '_ext'))

project = 'microgpt'
author = 'The microgpt book authors'
copyright = '2026, ' + author

extensions = [
    'myst_nb',
    'sphinx_copybutton',
    'sphinx.ext.autodoc',      # the API reference (book/api.md), from the package's docstrings
    'sphinx-mathjax-offline',  # MathJax shipped with the book: formulas render without a network
    'tangle',
]

root_doc = 'index'
exclude_patterns = ['_build', '_ext', '_static', '**/.ipynb_checkpoints', '**/__pycache__']

# MyST and execution: every chapter runs from scratch on every read
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence', 'deflist', 'attrs_inline']
myst_heading_anchors = 3
nb_execution_mode = 'force'
nb_execution_raise_on_error = True   # a failing cell fails the build
nb_execution_show_tb = True
nb_execution_timeout = 1800          # seconds; the slowest cell trains the reference model
nb_merge_streams = True
nb_render_markdown_format = 'myst'  # tables and roles in Markdown outputs

# the API reference: members in the order the book writes them
autodoc_member_order = 'bysource'
autodoc_default_options = {'members': True, 'undoc-members': True, 'special-members': '__call__'}
add_module_names = False

# copy buttons: from a `>>>` session copy only the code, without prompts or outputs
copybutton_prompt_text = r'>>> |\.\.\. |\$ '
copybutton_prompt_is_regexp = True
copybutton_exclude = '.linenos, .gp, .go'

html_theme = 'sphinx_book_theme'
html_title = 'microgpt: a GPT from an empty file'
html_static_path = ['book/_static']
html_css_files = ['tangle.css', 'widgets.css']
html_js_files = [('widgets.js', {'defer': 'defer'})]  # the tokenizer, temperature and explorer widgets
html_favicon = 'book/_static/favicon.svg'
html_theme_options = {
    'use_download_button': True,
    'show_toc_level': 2,
}
# light or dark as the reader's system prefers; unset, the theme logs an error on a first visit
html_context = {'default_mode': 'auto'}


# ---------------------------------------------------------------- the API page
# book/api.md holds a ```{tangled-api}``` block. Before the page is parsed it is replaced by
# one section per tangled module, in book order: links to the chapters and sections the
# module is written in (from the tangler), then the module's docstrings (autodoc).

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
    from pathlib import Path

    import tangle
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
