"""The tangler: order, drift of every kind, bad targets, growing classes."""
import textwrap

import pytest

import tangle
from conftest import ROOT

FRONT = '---\nkernelspec:\n  display_name: Python 3\n  language: python\n  name: python3\n---\n'


def chapter(title, *cells):
    body = [FRONT, f'# {title}\n']
    for target, code in cells:
        option = f':tangle: {target}\n' if target else ''
        body.append(f'Some prose.\n\n```{{code-cell}} ipython3\n{option}{textwrap.dedent(code).strip()}\n```\n')
    return '\n'.join(body)


def make_book(root, chapters, toc=None):
    """A small book under root: {name: text}; toc order defaults to the dict's order."""
    (root / 'book').mkdir(parents=True, exist_ok=True)
    names = list(toc if toc is not None else [n for n in chapters if n != 'index'])
    index = chapters.get('index', chapter('Preface'))
    toctree = '\n```{toctree}\n:maxdepth: 2\n\n' + '\n'.join(names) + '\n```\n'
    (root / 'book' / 'index.md').write_text(index + toctree, encoding='utf-8')
    for name, text in chapters.items():
        if name != 'index':
            (root / 'book' / f'{name}.md').write_text(text, encoding='utf-8')
    return root


def test_order_is_toc_order_then_cell_order(tmp_path):
    make_book(tmp_path, {
        'b': chapter('B', ('microgpt/m.py', 'x = 2'), ('microgpt/m.py', 'y = 3')),
        'a': chapter('A', ('microgpt/m.py', 'z = 1')),
    }, toc=['b', 'a'])
    text = tangle.tangle(tmp_path)['microgpt/m.py']
    assert text.index('x = 2') < text.index('y = 3') < text.index('z = 1')
    assert 'from book/b.md, book/a.md.' in text.splitlines()[0]


def test_cell_text_is_unchanged_and_output_deterministic(tmp_path):
    code = "def f( a,b ):\n    return a+b   # odd spacing stays\n\n\n\nX = [1,\n  2]"
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', code), (None, 'not = "tangled"'))})
    first = tangle.tangle(tmp_path)
    assert code in first['microgpt/m.py']
    assert 'not = ' not in first['microgpt/m.py']
    assert tangle.tangle(tmp_path) == first
    assert first['microgpt/m.py'].splitlines()[1].startswith('# Do not edit')


def test_write_then_check_is_clean(tmp_path):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/__init__.py', '"""pkg"""'), ('microgpt/sub/m.py', 'x = 1'))})
    assert sorted(tangle.write(tmp_path)) == ['microgpt/__init__.py', 'microgpt/sub/m.py']
    assert tangle.diff(tmp_path) == ''
    assert tangle.write(tmp_path) == []  # nothing to do the second time
    assert tangle.main(['--check', '--root', str(tmp_path)]) == 0


@pytest.mark.parametrize('kind', ['edited', 'missing', 'orphan'])
def test_check_reports_every_kind_of_drift(tmp_path, capsys, kind):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'))})
    tangle.write(tmp_path)
    module = tmp_path / 'microgpt' / 'm.py'
    if kind == 'edited':
        module.write_text(module.read_text().replace('x = 1', 'x = 2'))
    elif kind == 'missing':
        module.unlink()
    else:
        (tmp_path / 'microgpt' / 'stray.py').write_text('y = 1\n')
    assert tangle.main(['--check', '--root', str(tmp_path)]) == 1
    out = capsys.readouterr()
    name = 'microgpt/stray.py' if kind == 'orphan' else 'microgpt/m.py'
    assert f'--- {name}' in out.out and 'differs from the book' in out.err
    if kind == 'edited':
        assert '-x = 2' in out.out and '+x = 1' in out.out
    if kind == 'orphan':
        assert 'orphan' in out.out


def test_write_removes_generated_orphans_but_never_handwritten_files(tmp_path):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'), ('microgpt/old.py', 'y = 1'))})
    tangle.write(tmp_path)
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'))})
    assert tangle.write(tmp_path) == ['microgpt/old.py']
    assert not (tmp_path / 'microgpt' / 'old.py').exists()
    (tmp_path / 'microgpt' / 'mine.py').write_text('precious = True\n')
    with pytest.raises(tangle.TangleError, match='mine.py'):
        tangle.write(tmp_path)
    assert (tmp_path / 'microgpt' / 'mine.py').read_text() == 'precious = True\n'


@pytest.mark.parametrize('target, message', [
    ('tests/m.py', 'outside microgpt/'),
    ('/tmp/m.py', 'outside microgpt/'),
    ('microgpt/../setup.py', 'outside microgpt/'),
    ('microgpt/m.txt', 'not a .py file'),
    ('microgpt', 'outside microgpt/'),
])
def test_bad_target_is_a_one_line_error_naming_file_and_line(tmp_path, capsys, target, message):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/ok.py', 'x = 1'), (target, 'y = 2'))})
    assert tangle.main(['--root', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and message in err
    # the second cell's fence: find its line in the file
    lines = (tmp_path / 'book' / 'c.md').read_text().splitlines()
    fence = [n for n, line in enumerate(lines, 1) if line.startswith('```{code-cell}')][1]
    assert f'book/c.md:{fence}:' in err
    assert not (tmp_path / 'microgpt').exists()  # nothing was written


def test_nested_cell_is_an_error(tmp_path):
    nested = FRONT + '# N\n\n````{note}\n```{code-cell} ipython3\n:tangle: microgpt/m.py\nx = 1\n```\n````\n'
    make_book(tmp_path, {'n': nested})
    with pytest.raises(tangle.TangleError, match=r'book/n.md:\d+: a :tangle: cell must be a top-level'):
        tangle.tangle(tmp_path)


def test_growing_class_merges_into_one_class(tmp_path):
    make_book(tmp_path, {
        'a': chapter('A', ('microgpt/v.py', '''
            class V:
                def __init__(self, x):
                    self.x = x


            def helper():
                return V(1)'''), ('microgpt/v.py', '''
            class V(V):
                def double(self):
                    return V(2 * self.x)''')),
        'b': chapter('B', ('microgpt/v.py', '''
            class V(V):  # one more method
                def triple(self):
                    return V(3 * self.x)''')),
    })
    text = tangle.tangle(tmp_path)['microgpt/v.py']
    assert text.count('class V') == 1
    namespace = {}
    exec(text, namespace)
    v = namespace['helper']()
    assert (v.double().x, v.triple().x) == (2, 3)
    assert text.index('def triple') < text.index('def helper')  # merged inside the class, not appended


def test_growing_class_cells_run_as_written():
    """The convention also works cell by cell, as the notebook executes it."""
    namespace = {}
    exec('class V:\n    def __init__(self, x):\n        self.x = x\n    def inc(self):\n        return V(self.x + 1)', namespace)
    exec('class V(V):\n    def double(self):\n        return V(2 * self.x)', namespace)
    assert namespace['V'](1).inc().double().x == 4


def test_growing_an_undefined_class_is_an_error(tmp_path):
    make_book(tmp_path, {'a': chapter('A', ('microgpt/v.py', 'class W(W):\n    pass'))})
    with pytest.raises(tangle.TangleError, match=r'book/a.md:\d+: .*no earlier cell of this module defines'):
        tangle.tangle(tmp_path)


def test_missing_toc_entry_is_an_error(tmp_path):
    make_book(tmp_path, {}, toc=['ghost'])
    with pytest.raises(tangle.TangleError, match="toctree entry 'ghost'"):
        tangle.chapters(tmp_path)


def test_the_package_matches_the_book():
    """The drift check of this repository: microgpt/ is exactly what the book tangles."""
    text = tangle.diff(ROOT)
    assert text == '', 'microgpt/ differs from the book (run python book/_ext/tangle.py):\n' + text
