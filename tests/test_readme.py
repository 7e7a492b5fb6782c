"""The README's two commands are the ones CI runs."""
import re

from conftest import ROOT


def commands():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    return re.findall(r'```sh\n(python3 -m venv .venv && .*)\n```', readme)


def test_readme_has_the_build_and_the_test_command():
    build, test = commands()
    assert "pip install -e '.[book]'" in build and 'sphinx-build -W' in build
    assert "pip install -e '.[test]'" in test and 'python -m pytest' in test


def test_ci_runs_the_readme_commands():
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8')
    build, test = commands()
    assert test.split(' && ')[-1] in ci
    assert build.split(' && ')[-1] in ci
    assert 'tangle.py --check' in ci
