"""No build plumbing in the code a reader sees.

The chapters put computed numbers into the prose with myst-nb's `glue` and show
tables through IPython's `display`. That machinery belongs in cells the reader
does not see (tagged `remove-cell`, or `remove-input` when only the output is
for the reader). A cell the reader sees, or may open (`hide-input`,
`hide-cell`), must not call `glue` nor import myst_nb or IPython; and a toggle
the reader opens must show more than imports.

    python tests/test_plumbing.py    lists every finding, with a count per kind
"""
import ast
import re
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from myst_nb.core.read import read_myst_markdown_notebook

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / 'book').glob('[0-9][0-9]-*.md'))
UNSEEN = {'remove-cell', 'remove-input'}  # the reader never sees the code of these
TOGGLES = {'hide-input', 'hide-cell'}     # the reader sees a bar that opens the code
PLUMBING = {'myst_nb', 'IPython'}
FENCE = re.compile(r'^(`{3,})\{code-cell\}')

# glue calls once left in figure-drawing cells while issue 17 rewrote them; the figure work
# moved them out, and none may come back.
PENDING = {}  # glue keys allowed in a visible cell, by chapter: none


def code_cells(text):
    """The code cells of a MyST notebook as (line of the first source line, tags, source lines)."""
    lines, i = text.splitlines(), 0
    while i < len(lines):
        fence = FENCE.match(lines[i])
        if not fence:
            i += 1
            continue
        j, options = i + 1, {}
        if j < len(lines) and lines[j] == '---':  # options as a YAML block
            end = lines.index('---', j + 1)
            options = yaml.safe_load('\n'.join(lines[j + 1:end])) or {}
            j = end + 1
        else:                                     # options as :key: value lines
            while j < len(lines) and re.match(r'^:[\w-]+:', lines[j]):
                key, value = lines[j][1:].split(':', 1)
                options[key] = yaml.safe_load(value.strip())
                j += 1
        end = next(k for k in range(j, len(lines)) if lines[k].rstrip() == fence.group(1))
        yield j + 1, set(options.get('tags') or []), lines[j:end]
        i = end + 1


def is_setup(statement):
    """An import, or a change to the import path."""
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return True
    call = statement.value if isinstance(statement, ast.Expr) else None
    return (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and ast.unparse(call.func.value) == 'sys.path')


def findings(name, text):
    """(chapter:line, what) for every piece of plumbing a reader sees in a chapter."""
    found = []
    for first, tags, source in code_cells(text):
        if tags & UNSEEN:
            continue
        try:
            tree = ast.parse('\n'.join(source))
        except SyntaxError as error:
            found.append((f'{name}:{first + error.lineno - 1}', 'code that does not parse'))
            continue
        for node in ast.walk(tree):
            where = f'{name}:{first + getattr(node, "lineno", 1) - 1}'
            if isinstance(node, ast.Call) and ast.unparse(node.func).split('.')[-1] == 'glue':
                key = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                if key not in PENDING.get(name, ()):
                    found.append((where, 'glue call'))
            elif isinstance(node, ast.Import):
                found += [(where, 'plumbing import') for a in node.names if a.name.split('.')[0] in PLUMBING]
            elif isinstance(node, ast.ImportFrom) and (node.module or '').split('.')[0] in PLUMBING:
                found.append((where, 'plumbing import'))
        if tags & TOGGLES and tree.body and all(map(is_setup, tree.body)):
            found.append((f'{name}:{first}', 'toggle that opens on imports only'))
    return found


def test_the_parser_reads_cells_as_myst_nb_does():
    for path in CHAPTERS:
        text = path.read_text(encoding='utf-8')
        nb = read_myst_markdown_notebook(text, path=str(path))
        theirs = [(set(c.metadata.get('tags', [])), c.source.strip('\n'))
                  for c in nb.cells if c.cell_type == 'code']
        ours = [(tags, '\n'.join(source).strip('\n')) for _, tags, source in code_cells(text)]
        assert ours == theirs, path.name


def test_the_checker_has_teeth():
    chapter = '\n'.join([
        '# A chapter', '```{code-cell} ipython3', 'x = 1', "glue('x', x, display=False)", '```',
        '```{code-cell} ipython3', ':tags: [remove-cell]', 'from myst_nb import glue', "glue('y', 2)", '```',
        '```{code-cell} ipython3', '---', 'tags: [hide-input]', '---', 'import math', '', 'import IPython.display',
        '```',
        '```{code-cell} ipython3', ':tags: [hide-input]', 'import math', '', 'print(math.pi)', '```',
        '```{code-cell} ipython3', ':tags: [hide-input]', "glue('lr_last', 1, display=False)", '```',
    ])
    assert findings('08-adam.md', chapter) == [
        ('08-adam.md:4', 'glue call'),
        ('08-adam.md:17', 'plumbing import'),
        ('08-adam.md:15', 'toggle that opens on imports only'),
        ('08-adam.md:27', 'glue call'),
    ]


@pytest.mark.parametrize('path', CHAPTERS, ids=lambda p: p.stem)
def test_no_plumbing_where_the_reader_looks(path):
    found = findings(path.name, path.read_text(encoding='utf-8'))
    assert not found, '\n'.join(f'{where}: {what}' for where, what in found)


if __name__ == '__main__':
    everything = [f for p in CHAPTERS for f in findings(p.name, p.read_text(encoding='utf-8'))]
    for where, what in everything:
        print(f'{where}: {what}')
    print(dict(Counter(what for _, what in everything)), file=sys.stderr)
