# Sphinx configuration of the microgpt book. Build from the repository root:
#   sphinx-build -W --keep-going -j auto -c . -b html book _build/html
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'book', '_ext'))
# the chapters' kernels import the book's drawing helpers (book/_ext/drawing.py) by name
os.environ['PYTHONPATH'] = os.pathsep.join(
    [os.path.join(os.path.dirname(os.path.abspath(__file__)), 'book', '_ext')]
    + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])

project = 'microgpt'
author = 'The microgpt book authors'
copyright = '2026, ' + author

extensions = [
    'myst_nb',
    'sphinx_copybutton',
    'sphinx.ext.autodoc',      # the API reference (book/api.md), from the package's docstrings
    'mathjax_offline',         # sphinx-mathjax-offline (MathJax shipped with the book), parallel-safe
    'tangle',
    'apipage',                 # book/api.md: every module, linked to its chapters
    'pyodide_book',            # the book's Python in the reader's browser (Pyodide, shipped with the book)
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

# figures: numbered through the book, captioned and described in their cell's metadata
# (mystnb: figure: caption, name; image: alt), drawn as SVG by book/_ext/drawing.py
numfig = True
numfig_format = {'figure': 'Figure %s', 'table': 'Table %s', 'code-block': 'Listing %s', 'section': 'Section %s'}

# MathJax puts every formula in the Tab order (tabindex 0, for its menu and explorer): on
# the Autograd page that was 110 of its 257 Tab stops, between a keyboard reader and the
# links and widgets. Out of the Tab order, a formula is still read out by screen readers
# (MathJax adds it as MathML for them) and its menu still opens with a right click; the
# reader can put formulas back in the Tab order from that menu (Accessibility > Include
# in Tab Order). myst-nb adds its processHtmlClass to this same dict.
mathjax3_config = {'options': {'menuOptions': {'settings': {'inTabOrder': False}}}}

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
# two of the theme's and myst-nb's markup fixed for screen readers and voice control; the
# templates say why (axe's label-content-name-mismatch)
templates_path = ['book/_templates']
html_css_files = ['tangle.css', 'widgets.css', 'figures.css']
html_js_files = [('widgets.js', {'defer': 'defer'})]  # the tokenizer, temperature and explorer widgets
html_favicon = 'book/_static/favicon.svg'
html_theme_options = {
    'use_download_button': True,
    'show_toc_level': 2,
}
# light or dark as the reader's system prefers; unset, the theme logs an error on a first visit
html_context = {'default_mode': 'auto'}

# The EPUB (and, from it, the PDF): `python book/_ext/ebook.py` builds both
import tomllib
import uuid

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'pyproject.toml'), 'rb') as f:
    version = release = tomllib.load(f)['project']['version']
epub_title = html_title
epub_scheme = 'uuid'
epub_identifier = str(uuid.uuid5(uuid.NAMESPACE_URL, 'microgpt-book'))  # stable across builds
epub_use_index = False
epub_show_urls = 'no'           # a link's address is not repeated in the text
epub_tocdepth = 2
html_domain_indices = False     # no "Python module index" page
# the browser-Python files of the web edition (book/_ext/pyodide_book.py): not for the e-book
epub_exclude_files = ['_static/pyrunner.py', '_static/pyworker.mjs', '_static/runcells.js',
                      '_static/runcells.css']
