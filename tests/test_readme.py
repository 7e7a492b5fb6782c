"""The README's two commands: the ones CI runs, and they install what they need.

The test command's extras must provide every module the test suite imports (the
tests, the package, the tangler, the chapters the exercises run, the doctests);
the build command's extras every module the book build imports.
"""
import ast
import importlib.metadata
import os
import re
import sys
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import ROOT

LOCAL = ({'microgpt', 'conftest'} | {p.stem for p in (ROOT / 'tests').glob('*.py')}
         | {p.stem for p in (ROOT / 'book' / '_ext').glob('*.py')})


EBOOK = ROOT / 'book' / '_ext' / 'ebook.py'  # run by its own command, with the ebook extra


def commands():
    """The build command and the test command, as the README writes them."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    section = readme.split('\n## Two commands\n', 1)[1].split('\n## ', 1)[0]
    return re.findall(r'```sh\n(.*?)\n```', section, re.S)


def test_readme_has_the_build_and_the_test_command():
    build, test = commands()
    assert build.startswith('python3 -m venv .venv && ') and test.startswith('python3 -m venv .venv && ')
    assert "pip install -e '.[book]'" in build and 'sphinx-build -W' in build
    assert "pip install -e '.[test]'" in test and test.endswith('.venv/bin/python -m pytest')
    assert '--slow' in (ROOT / 'README.md').read_text(encoding='utf-8')


def test_ci_runs_the_readme_commands_and_the_slow_tests():
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8')
    build, test = commands()
    lines = ci.splitlines()

    def line_of(command):  # the command as written, alone on its line or followed by `|| fail ...`
        found = [i for i, line in enumerate(lines) if line == command or line.startswith(command + ' || ')]
        assert len(found) == 1, f'.ci/run must run {command!r} verbatim, once'
        return found[0]

    assert line_of(test) < line_of(build), 'the test command first, with only the test extra installed'
    slow = [i for i, line in enumerate(lines) if 'python -m pytest --slow' in line]
    assert slow and line_of(build) < slow[0], 'the slow tests and those that need the book, after the build'
    assert "-m 'slow or book'" in lines[slow[0]] and 'MICROGPT_BROWSER_TESTS=1' in lines[slow[0]]
    assert 'tangle.py --check' in ci


# ---------------------------------------------------------------- the extras provide every import

def modules_in(source, where):
    """(top-level module, where) for every absolute import in the Python source, and for
    every pytest.importorskip('name')."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.append(node.module)
        elif (isinstance(node, ast.Call) and getattr(node.func, 'attr', None) == 'importorskip'
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.append(node.args[0].value)
    return [(name.split('.')[0], where) for name in found]


def doctest_modules(text, where):
    """The imports of the doctest examples (>>> and its ... lines) in text."""
    found = []
    for example in re.findall(r'^[ \t]*>>> (.*(?:\n[ \t]*\.\.\. .*)*)', text, re.M):
        source = re.sub(r'\n[ \t]*\.\.\. ?', '\n', example)
        try:
            found += modules_in(source, where)
        except SyntaxError:  # an example that is one statement of several lines, without its end
            pass
    return found


def chapter_modules(path):
    from myst_nb.core.read import read_myst_markdown_notebook

    text = path.read_text(encoding='utf-8')
    found = doctest_modules(text, path.name)
    notebook = read_myst_markdown_notebook(text, path=str(path))
    for cell in notebook['cells']:
        if cell['cell_type'] == 'code':
            found += modules_in(''.join(cell['source']), f'a code cell of {path.name}')
    return found


def imported_by_the_tests():
    """Every module the test run imports: the tests, the package and the tangler, and the
    chapters (the exercises run their code cells, the doctests their examples)."""
    found = []
    for folder in ('tests', 'microgpt', 'book/_ext'):
        for path in sorted(p for p in (ROOT / folder).glob('*.py') if p != EBOOK):
            text = path.read_text(encoding='utf-8')
            found += modules_in(text, f'{folder}/{path.name}') + doctest_modules(text, f'{folder}/{path.name}')
    for path in sorted((ROOT / 'book').glob('*.md')):
        found += chapter_modules(path)
    return found


def imported_by_the_build():
    """Every module the book build imports: conf.py and its extensions, the chapters, the package."""
    conf = (ROOT / 'conf.py').read_text(encoding='utf-8')
    found = modules_in(conf, 'conf.py')
    [extensions] = [ast.literal_eval(node.value) for node in ast.parse(conf).body
                    if isinstance(node, ast.Assign) and getattr(node.targets[0], 'id', None) == 'extensions']
    found += [(name.split('.')[0], 'the extensions in conf.py') for name in extensions]
    for folder in ('microgpt', 'book/_ext'):
        for path in sorted(p for p in (ROOT / folder).glob('*.py') if p != EBOOK):
            found += modules_in(path.read_text(encoding='utf-8'), f'{folder}/{path.name}')
    for path in sorted((ROOT / 'book').glob('*.md')):
        found += chapter_modules(path)
    return found


class NotInstalled(Exception):
    """A distribution the extras require is not installed here."""


def installed_by(extras):
    """The canonical names of the distributions `pip install -e '.[extras]'` installs: the
    requirements in pyproject.toml, followed through the installed distributions' metadata,
    with the markers evaluated for this Python."""
    project = tomllib.loads((ROOT / 'pyproject.toml').read_text(encoding='utf-8'))['project']
    todo = [Requirement(r) for r in project['dependencies']]
    for extra in extras:
        todo += [Requirement(r) for r in project['optional-dependencies'][extra]]
    todo = [r for r in todo if r.marker is None or r.marker.evaluate({'extra': ''})]
    done, names = set(), set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        names.add(name)
        for extra in ['', *sorted(req.extras)]:
            if (name, extra) in done:
                continue
            done.add((name, extra))
            try:
                requires = importlib.metadata.requires(req.name) or []
            except importlib.metadata.PackageNotFoundError:
                raise NotInstalled(req.name) from None
            for r in map(Requirement, requires):
                if r.marker is None or r.marker.evaluate({'extra': extra}):
                    todo.append(r)
    return names


def missing(modules, extras):
    """The modules that are neither the standard library, this project's own, nor provided
    by a distribution that installing extras brings in; with where each is imported."""
    installed = installed_by(extras)
    providers = importlib.metadata.packages_distributions()
    gaps = {}
    for module, where in modules:
        if module in sys.stdlib_module_names or module in LOCAL:
            continue
        if not {canonicalize_name(d) for d in providers.get(module, [])} & installed:
            gaps.setdefault(module, []).append(where)
    return {module: sorted(set(where)) for module, where in gaps.items()}


def extras_of(command):
    [extras] = re.findall(r"pip install -e '\.\[([\w,-]+)\]'", command)
    return extras.split(',')


def test_the_test_command_installs_every_module_the_tests_import():
    test = commands()[1]
    modules = imported_by_the_tests()
    assert {'pytest', 'hypothesis', 'matplotlib', 'IPython', 'myst_nb'} <= {m for m, _ in modules}
    try:
        gaps = missing(modules, extras_of(test))
    except NotInstalled as error:
        pytest.fail(f'{error} is required by {test!r} but not installed: run the command again')
    assert not gaps, f'not installed by {test!r}: {gaps}'


@pytest.mark.book
def test_the_build_command_installs_every_module_the_build_imports():
    build = commands()[0]
    try:
        gaps = missing(imported_by_the_build(), extras_of(build))
    except NotInstalled as error:  # the test command alone does not install the book extra
        why = f'{error} is not installed: run the build command first'
        if os.environ.get('MICROGPT_BROWSER_TESTS') == '1':
            pytest.fail(why + ' (MICROGPT_BROWSER_TESTS=1 requires it)', pytrace=False)
        pytest.skip(why)
    assert not gaps, f'not installed by {build!r}: {gaps}'


def test_a_module_missing_from_the_extras_is_caught():
    gaps = missing([('matplotlib', 'book/01-documents.md'), ('json', 'x'), ('microgpt', 'y')], [])
    assert gaps == {'matplotlib': ['book/01-documents.md']}


def ebook_command():
    """The command that builds the PDF and the EPUB, as the README writes it."""
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    section = readme.split('\n## The PDF and the EPUB\n', 1)[1].split('\n## ', 1)[0]
    [command] = re.findall(r'```sh\n(.*?)\n```', section, re.S)
    return command


def test_ci_runs_the_ebook_command_after_the_build():
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8').splitlines()
    build, ebook = commands()[0], ebook_command()
    assert ebook.endswith('.venv/bin/python book/_ext/ebook.py')
    at = [i for i, line in enumerate(ci) if line == ebook or line.startswith(ebook + ' || ')]
    assert len(at) == 1, f'.ci/run must run {ebook!r} verbatim, once'
    slow = [i for i, line in enumerate(ci) if 'python -m pytest --slow' in line]
    assert [i for i, line in enumerate(ci) if line.startswith(build)][0] < at[0] < slow[0]


@pytest.mark.book
def test_the_ebook_command_installs_every_module_ebook_py_imports():
    command = ebook_command()
    modules = modules_in(EBOOK.read_text(encoding='utf-8'), 'book/_ext/ebook.py')
    assert {'latex2mathml', 'playwright'} <= {m for m, _ in modules}
    try:
        gaps = missing(modules, extras_of(command))
    except NotInstalled as error:
        why = f'{error} is not installed: run the ebook command first'
        if os.environ.get('MICROGPT_BROWSER_TESTS') == '1':
            pytest.fail(why + ' (MICROGPT_BROWSER_TESTS=1 requires it)', pytrace=False)
        pytest.skip(why)
    assert not gaps, f'not installed by {command!r}: {gaps}'
