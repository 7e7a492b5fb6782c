import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared'
sys.path.insert(0, str(ROOT / 'book' / '_ext'))

# The 20 names the reference program prints after its 1000 steps (seed 42).
REFERENCE_SAMPLES = ['kamon', 'ann', 'karai', 'jaire', 'vialan', 'karia', 'yeran', 'anna', 'areli', 'kaina',
                     'konna', 'keylen', 'liole', 'alerin', 'earan', 'lenne', 'kana', 'lara', 'alela', 'anton']


# ---------------------------------------------------------------- slow tests: only with --slow

def pytest_addoption(parser):
    parser.addoption('--slow', action='store_true',
                     help='also run the tests marked slow (minutes): the full reference run on every engine '
                          'and the gradient check of every parameter (CI runs them)')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--slow'):
        return
    slow = [item for item in items if item.get_closest_marker('slow')]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker('slow')]


def pytest_report_header(config):
    if not config.getoption('--slow'):
        return 'slow tests (marked slow): deselected; pytest --slow runs them too'


# ---------------------------------------------------------------- the data set

def pytest_configure(config):
    # a relative MICROGPT_DATA names a file from where pytest started; pin it down, since the
    # exercises run in book/ and many tests run commands in other folders
    if os.environ.get('MICROGPT_DATA'):
        os.environ['MICROGPT_DATA'] = os.path.abspath(os.environ['MICROGPT_DATA'])


def names_path():
    """The data set for tests: MICROGPT_DATA, else ../shared/data/names.txt beside the repo."""
    env = os.environ.get('MICROGPT_DATA')
    path = Path(env) if env else SHARED / 'data' / 'names.txt'
    if not path.exists():
        pytest.fail(f'tests need the data set: set MICROGPT_DATA or put it at {SHARED / "data" / "names.txt"}')
    return path


@pytest.fixture(scope='session')
def names_txt():
    return names_path()


@pytest.fixture(scope='session')
def docs(names_txt):
    """The documents of the data set, in file order."""
    from microgpt.data import load_docs
    return load_docs(names_txt)


@pytest.fixture(scope='session')
def tok(docs):
    """The tokenizer of the data set."""
    from microgpt.tokenizer import Tokenizer
    return Tokenizer(docs)


# ---------------------------------------------------------------- the reference run

def reference_file(name):
    """A file of ../shared/reference: what the reference program printed."""
    path = SHARED / 'reference' / name
    if not path.exists():
        pytest.fail(f'the reference file {path} is missing')
    return path


def reference_losses():
    """The reference run's first 20 losses, to 12 decimals: [{'step': 1, 'loss': ...}, ...]."""
    import json
    return json.loads(reference_file('original-losses-first20.json').read_text(encoding='utf-8'))


def reference_head():
    """The first 23 lines the reference program prints."""
    return reference_file('original-output-head.txt').read_text(encoding='utf-8').splitlines()


def reference_start(names_txt):
    """The shuffled names, tokenizer, untrained model and random stream of the reference run."""
    from microgpt.data import load_docs
    from microgpt.train import begin
    return begin(load_docs(names_txt))


def weights(model):
    """Every parameter's value, in the model's order."""
    return [p.data for p in model.parameters()]


@pytest.fixture(scope='session')
def first_steps(names_txt):
    """The reference run's first 20 steps on the teaching engine, as python -m microgpt runs
    them (microgpt.reference.run, stopped after 20 of its 1000 steps): its standard output and
    error, every loss, and the model and optimizer after the 20 steps. Do not change them."""
    import contextlib
    import io
    import types

    from microgpt.data import load_docs
    from microgpt.reference import run
    from microgpt.train import train
    got = types.SimpleNamespace(losses=[])

    def trainer(model, tokenizer, docs, optimizer, *args, report, **kwargs):  # train, keeping what it made
        got.model, got.optimizer = model, optimizer

        def both(s, loss):
            got.losses.append(loss)
            report(s, loss)

        return train(model, tokenizer, docs, optimizer, *args, report=both, **kwargs)

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        run(load_docs(names_txt), stop_after=20, trainer=trainer)
    got.stdout, got.stderr = out.getvalue(), err.getvalue()
    return got


@pytest.fixture(scope='session')
def reference_run(names_txt):
    """reference_run(engine): the finished `python -m microgpt --engine engine` (1000 steps and
    20 samples), run once per session and engine however many tests ask for it; the teaching
    engine's takes minutes. Only slow tests should ask."""
    runs = {}

    def run(engine):
        if engine not in runs:
            env = {k: v for k, v in os.environ.items() if k != 'MICROGPT_DATA'}  # --data, not the variable
            runs[engine] = subprocess.run(
                [sys.executable, '-m', 'microgpt', '--data', str(names_txt), '--engine', engine],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        return runs[engine]

    return run


# ---------------------------------------------------------------- the built book in a browser

from served import browser, site, visit  # noqa: E402,F401  one server, one Playwright, for every module
