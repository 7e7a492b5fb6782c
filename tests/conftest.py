import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / 'shared'
sys.path.insert(0, str(ROOT / 'book' / '_ext'))


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


def reference_start(names_txt):
    """The shuffled names, tokenizer, untrained model and random stream of the reference run."""
    from microgpt.data import load_docs
    from microgpt.train import begin
    return begin(load_docs(names_txt))
