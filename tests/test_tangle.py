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


# ---------------------------------------------------------------- refusals (issue 13)

def refused(root, capsys, *extra):
    """Run the command line on a book it must refuse: exit 2, one line, nothing written."""
    assert tangle.main([*extra, '--root', str(root)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith('tangle: ') and 'Traceback' not in err
    return err


@pytest.mark.parametrize('check', [False, True])
def test_a_target_through_a_symlinked_folder_is_refused(tmp_path, capsys, check):
    book, outside = tmp_path / 'book_root', tmp_path / 'outside'
    outside.mkdir()
    make_book(book, {'c': chapter('C', ('microgpt/ok.py', 'x = 1'), ('microgpt/linked/m.py', 'y = 2'))})
    (book / 'microgpt').mkdir()
    (book / 'microgpt' / 'linked').symlink_to(outside, target_is_directory=True)
    err = refused(book, capsys, *(['--check'] if check else []))
    assert 'symlink microgpt/linked' in err and 'book/c.md:' in err
    assert list(outside.iterdir()) == [] and not (book / 'microgpt' / 'ok.py').exists()


def test_a_target_that_is_a_symlink_is_refused(tmp_path, capsys):
    outside = tmp_path / 'precious.py'
    outside.write_text('keep = 1\n')
    make_book(tmp_path / 'r', {'c': chapter('C', ('microgpt/m.py', 'x = 1'))})
    (tmp_path / 'r' / 'microgpt').mkdir()
    (tmp_path / 'r' / 'microgpt' / 'm.py').symlink_to(outside)
    assert 'symlink microgpt/m.py' in refused(tmp_path / 'r', capsys)
    assert outside.read_text() == 'keep = 1\n'


@pytest.mark.parametrize('target', ['microgpt/__pycache__/m.py', 'microgpt/.hidden/m.py', 'microgpt/__x__/m.py',
                                    'microgpt/my-module.py', 'microgpt/class.py', 'microgpt/sub dir/m.py',
                                    'microgpt/.m.py'])
def test_a_target_python_could_not_import_is_refused(tmp_path, capsys, target):
    make_book(tmp_path, {'c': chapter('C', (target, 'x = 1'))})
    err = refused(tmp_path, capsys)
    assert 'not an importable module' in err and 'book/c.md:' in err
    assert not (tmp_path / 'microgpt').exists()


def test_dunder_modules_are_fine(tmp_path):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/__init__.py', 'x = 1'), ('microgpt/__main__.py', 'y = 1'))})
    assert sorted(tangle.write(tmp_path)) == ['microgpt/__init__.py', 'microgpt/__main__.py']


@pytest.mark.parametrize('first, second, name', [
    ('def f():\n    return 1', 'def f():\n    return 2', 'f'),
    ('X = 1', 'X: int = 2', 'X'),
    ('class C:\n    pass', 'def C():\n    pass', 'C'),
    ('a, b = 1, 2', 'b = 3', 'b'),
    ('class V:\n    def m(self):\n        return 1', 'class V(V):\n    def m(self):\n        return 2', 'V.m'),
])
def test_one_name_defined_by_two_cells_is_refused(tmp_path, capsys, first, second, name):
    make_book(tmp_path, {'a': chapter('A', ('microgpt/m.py', first)),
                         'b': chapter('B', ('microgpt/other.py', 'z = 0'), ('microgpt/m.py', second))})
    err = refused(tmp_path, capsys)
    lines = {n: text.splitlines() for n, text in
             (('a', (tmp_path / 'book' / 'a.md').read_text()), ('b', (tmp_path / 'book' / 'b.md').read_text()))}
    where = {n: next(i for i, line in enumerate(lines[n], 1) if line.startswith(('def', 'class', 'X', 'a,', 'b =')))
             for n in lines}
    where['b'] = [i for i, line in enumerate(lines['b'], 1) if line.startswith(('def', 'class', 'X', 'b ='))][-1]
    if name == 'V.m':
        where = {n: where[n] + 1 for n in where}  # the method, a line below its class
    assert f'book/b.md:{where["b"]}: {name} is already defined in microgpt/m.py at book/a.md:{where["a"]}' in err
    assert not (tmp_path / 'microgpt').exists()


def test_one_name_twice_in_one_cell_or_in_two_modules_is_fine(tmp_path):
    make_book(tmp_path, {'a': chapter('A', ('microgpt/m.py', 'x = 1\nx = x + 1\n\n\ndef x():\n    pass'),
                                      ('microgpt/n.py', 'x = 2'), ('microgpt/m.py', 'y = [x]\ny[0] = 3'))})
    assert sorted(tangle.tangle(tmp_path)) == ['microgpt/m.py', 'microgpt/n.py']


def test_a_cell_that_does_not_parse_is_refused(tmp_path, capsys):
    make_book(tmp_path, {'a': chapter('A', ('microgpt/m.py', 'def f(:\n    pass'))})
    assert 'does not parse' in refused(tmp_path, capsys)


@pytest.mark.parametrize('check', [False, True])
@pytest.mark.parametrize('which', ['index', 'c'])
def test_a_chapter_that_is_not_utf8_is_one_line(tmp_path, capsys, check, which):
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'))})
    path = tmp_path / 'book' / f'{which}.md'
    path.write_bytes(path.read_bytes().replace(b'Some prose', b'Some pr\xe9se', 1).replace(b'# Preface', b'# Pr\xe9face'))
    err = refused(tmp_path, capsys, *(['--check'] if check else []))
    line = next(i for i, text in enumerate(path.read_bytes().split(b'\n'), 1) if b'\xe9' in text)
    assert f'tangle: book/{which}.md: not UTF-8 text (byte 0xe9 at line {line})' in err


def test_the_command_line_exits_with_one_line_on_a_bad_chapter(tmp_path):
    """The same through `python book/_ext/tangle.py`: a status, one line, no traceback."""
    import subprocess
    import sys
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'))})
    (tmp_path / 'book' / 'c.md').write_bytes(b'\xff\xfe')
    for extra in ([], ['--check']):
        result = subprocess.run([sys.executable, str(ROOT / 'book' / '_ext' / 'tangle.py'), *extra,
                                 '--root', str(tmp_path)], capture_output=True, text=True)
        assert result.returncode == 2 and result.stderr == 'tangle: book/c.md: not UTF-8 text (byte 0xff at line 1)\n'


def test_modules_get_the_usual_mode_and_keep_their_own(tmp_path):
    import os
    make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 1'), ('microgpt/n.py', 'y = 1'))})
    old = os.umask(0o022)
    try:
        tangle.write(tmp_path)
        assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / 'microgpt').iterdir()} == \
            {'m.py': 0o644, 'n.py': 0o644}
        (tmp_path / 'microgpt' / 'n.py').chmod(0o664)
        make_book(tmp_path, {'c': chapter('C', ('microgpt/m.py', 'x = 2'), ('microgpt/n.py', 'y = 2'))})
        assert sorted(tangle.write(tmp_path)) == ['microgpt/m.py', 'microgpt/n.py']
        assert (tmp_path / 'microgpt' / 'n.py').stat().st_mode & 0o777 == 0o664
        assert (tmp_path / 'microgpt' / 'm.py').stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)
    assert sorted(p.name for p in (tmp_path / 'microgpt').iterdir()) == ['m.py', 'n.py']  # no temporary file
