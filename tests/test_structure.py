"""The shape of the book and of the package: two parts, and modules that follow them.

Part I (building the GPT) must be readable without Part II (engineering it): no
module written in Part I imports one written in Part II or in an appendix, lazy
imports inside functions included, and no module imports another in a cycle.
Chapters and modules stay short enough to read.
"""
import ast
import re

import pytest

import tangle
from conftest import ROOT

PACKAGE = ROOT / 'microgpt'
MAX_CHAPTER_LINES = 800
MAX_MODULE_LINES = 400


def parts():
    """{chapter path: caption of the toctree that lists it}; the root document is Part I's front door."""
    index = ROOT / 'book' / 'index.md'
    found, caption = {index: 'Part I'}, None
    for line in index.read_text(encoding='utf-8').splitlines():
        if line.startswith(':caption:'):
            caption = line.split(':', 2)[2].strip()
        elif line.startswith('```'):
            caption = caption if line.startswith('```{toctree}') else None
        elif caption and line.strip() and not line.startswith(':'):
            found[ROOT / 'book' / f'{line.strip()}.md'] = caption
    return found


def module_parts():
    """{module name: set of the parts whose chapters feed it}."""
    by_chapter = parts()
    feeds = {}
    for chapter in tangle.chapters(ROOT):
        for module, _, _ in tangle.cells(chapter, ROOT):
            name = module.removeprefix('microgpt/').removesuffix('.py').replace('/', '.')
            feeds.setdefault(name, set()).add(by_chapter[chapter].split('.')[0])
    return feeds


def imports(path):
    """The microgpt modules a file imports, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f'{node.module}.{a.name}' for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith('microgpt.') and (PACKAGE / f'{name.split(".")[1]}.py').exists():
                found.add(name.split('.')[1])
    return found - {path.stem}


def graph():
    return {p.stem: imports(p) for p in sorted(PACKAGE.glob('*.py'))}


def test_the_book_has_two_parts_and_appendices():
    captions = list(dict.fromkeys(parts().values()))
    assert captions == ['Part I', 'Part I. Building a GPT', 'Part II. Engineering it', 'Appendices']


def test_every_module_belongs_to_one_part():
    mixed = {m: p for m, p in module_parts().items() if len(p) > 1}
    assert not mixed, f'modules fed by chapters of several parts: {mixed}'


def test_part_one_never_imports_part_two():
    part = {m: next(iter(p)) for m, p in module_parts().items()}
    assert {m for m, p in part.items() if p == 'Part I'} >= {'autograd', 'model', 'train', 'sample'}
    bad = [f'{m} imports {other} ({part[other]})' for m, deps in graph().items()
           if part[m] == 'Part I' for other in deps if part[other] != 'Part I']
    assert not bad, bad


def test_no_import_cycles():
    edges, state, cycles = graph(), {}, []

    def visit(m, path):
        state[m] = 'open'
        for other in sorted(edges[m]):
            if state.get(other) == 'open':
                cycles.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[m] = 'done'

    for m in edges:
        if m not in state:
            visit(m, [m])
    assert not cycles, cycles


def test_the_checker_sees_lazy_imports(tmp_path):
    code = tmp_path / 'x.py'
    code.write_text('def f():\n    from microgpt.cli import main\n    import microgpt.fast\n')
    assert imports(code) == {'cli', 'fast'}


@pytest.mark.parametrize('path', sorted(PACKAGE.glob('*.py')), ids=lambda p: p.name)
def test_modules_are_short(path):
    assert len(path.read_text(encoding='utf-8').splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize('path', sorted((ROOT / 'book').glob('[0-9][0-9]-*.md')), ids=lambda p: p.name)
def test_chapters_are_short(path):
    assert len(path.read_text(encoding='utf-8').splitlines()) <= MAX_CHAPTER_LINES


def test_defaults_have_one_home():
    """The reference run's length and seed are written once, in microgpt/train.py."""
    for path in PACKAGE.glob('*.py'):
        text = path.read_text(encoding='utf-8')
        code = re.sub(r'#.*', '', re.sub(r'""".*?"""', '', text, flags=re.S))  # prose may mention them
        if path.name != 'train.py':
            # as a value given to a name, an argument or a tuple: 1000 * seconds is a unit, not a default
            assert not re.search(r'(=\s*|[(,]\s*)(1000|42)\b(?!\s*\*)', code), path.name
