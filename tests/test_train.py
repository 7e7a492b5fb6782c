"""microgpt.train and the command line: checkpoints (round trip, atomic write, refusal of bad
files) and the exit status and one-line errors of python -m microgpt."""
import json
import os
import random
import subprocess
import sys

import pytest

from conftest import ROOT, weights
from microgpt import checkpoint as checkpoint_module
from microgpt.cli import main
from microgpt.adam import Adam
from microgpt.errors import CheckpointError
from microgpt.model import GPT, Config
from microgpt.sample import sample
from microgpt.tokenizer import Tokenizer
from microgpt.checkpoint import VERSION, Checkpoint, load_checkpoint, save_checkpoint
from microgpt.train import train

NAMES = ['emma', 'olivia', 'ava', 'isabella', 'sophia', 'mia', 'zoe']


def small_run(steps_done=3, num_steps=10):
    """A small model partway through a run, with its optimizer and random stream."""
    tok = Tokenizer(NAMES)
    rng = random.Random(7)
    docs = list(NAMES)
    rng.shuffle(docs)
    model = GPT(Config(vocab_size=tok.vocab_size, n_embd=8, n_head=2, block_size=8), rng)
    opt = Adam(model.parameters())
    loss = train(model, tok, docs, opt, num_steps, stop=steps_done)
    return Checkpoint(model, tok, opt, rng, steps_done, num_steps, loss), docs


@pytest.fixture
def saved(tmp_path):
    ckpt, docs = small_run()
    path = tmp_path / 'run.json'
    save_checkpoint(path, ckpt)
    return path, ckpt, docs


# ---------------------------------------------------------------- round trip

def test_round_trip_restores_everything(saved):
    path, ckpt, _ = saved
    back = load_checkpoint(path)
    assert weights(back.model) == weights(ckpt.model)
    assert back.model.config == ckpt.model.config
    assert back.tokenizer.chars == ckpt.tokenizer.chars
    assert back.optimizer.m == ckpt.optimizer.m and back.optimizer.v == ckpt.optimizer.v
    assert (back.optimizer.lr, back.optimizer.beta1, back.optimizer.beta2, back.optimizer.eps) == \
           (ckpt.optimizer.lr, ckpt.optimizer.beta1, ckpt.optimizer.beta2, ckpt.optimizer.eps)
    assert back.rng.getstate() == ckpt.rng.getstate()
    assert (back.step, back.num_steps, back.loss) == (ckpt.step, ckpt.num_steps, ckpt.loss)


def test_loaded_run_continues_exactly(saved):
    path, ckpt, docs = saved
    back = load_checkpoint(path)
    for run in (ckpt, back):
        train(run.model, run.tokenizer, docs, run.optimizer, run.num_steps, start=run.step)
    assert weights(back.model) == weights(ckpt.model)
    assert [sample(back.model, back.tokenizer, back.rng) for _ in range(5)] == \
           [sample(ckpt.model, ckpt.tokenizer, ckpt.rng) for _ in range(5)]


def test_rng_state_with_a_pending_gauss_survives(tmp_path):
    ckpt, _ = small_run()
    ckpt.rng.gauss(0, 1)  # leaves a second Gaussian waiting in the state
    assert ckpt.rng.getstate()[2] is not None
    save_checkpoint(tmp_path / 'run.json', ckpt)
    assert load_checkpoint(tmp_path / 'run.json').rng.getstate() == ckpt.rng.getstate()


# ---------------------------------------------------------------- atomic write

def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name != 'run.json')


def test_failed_serialisation_leaves_the_old_checkpoint(saved):
    path, ckpt, _ = saved
    before = path.read_bytes()
    ckpt.model.parameters()[0].data = float('nan')
    with pytest.raises(ValueError):
        save_checkpoint(path, ckpt)
    assert path.read_bytes() == before and leftovers(path.parent) == []


@pytest.mark.parametrize('step', ['fsync', 'replace'])
def test_failure_while_writing_leaves_the_old_checkpoint(saved, monkeypatch, step):
    path, ckpt, _ = saved
    before = path.read_bytes()
    train(ckpt.model, ckpt.tokenizer, NAMES, ckpt.optimizer, ckpt.num_steps, start=ckpt.step, stop=ckpt.step + 1)

    def fail(*args):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(checkpoint_module.os, step, fail)
    with pytest.raises(OSError):
        save_checkpoint(path, ckpt)
    monkeypatch.undo()
    assert path.read_bytes() == before and leftovers(path.parent) == []
    load_checkpoint(path)  # still a good checkpoint


def test_save_replaces_an_existing_checkpoint(saved):
    path, ckpt, _ = saved
    ckpt.step += 1
    save_checkpoint(path, ckpt)
    assert load_checkpoint(path).step == ckpt.step and leftovers(path.parent) == []


# ---------------------------------------------------------------- refusing bad files

def rewrite(path, change):
    """Apply change to the parsed file, keep the checksum valid, write it back."""
    data = json.loads(path.read_text())
    change(data)
    data['sha256'] = checkpoint_module._digest(data['run'])
    path.write_text(json.dumps(data))


def flip_a_digit(path):
    text = path.read_text()
    i = text.index('"weights"') + 50
    while not text[i].isdigit():
        i += 1
    path.write_text(text[:i] + ('7' if text[i] != '7' else '3') + text[i + 1:])


def set_version(data):
    data['version'] = VERSION + 1


CASES = {
    'missing': (lambda p: p.unlink(), 'no checkpoint'),
    'empty': (lambda p: p.write_text(''), 'truncated or corrupted'),
    'truncated': (lambda p: p.write_text(p.read_text()[:len(p.read_text()) // 2]), 'truncated or corrupted'),
    'garbage bytes': (lambda p: p.write_bytes(b'\x00\xff\xfe binary'), 'not UTF-8'),
    'a digit changed': (flip_a_digit, 'checksum'),
    'not a checkpoint': (lambda p: p.write_text('{"names": ["emma"]}'), 'not a microgpt checkpoint'),
    'json list': (lambda p: p.write_text('[1, 2, 3]'), 'not a microgpt checkpoint'),
    'wrong version': (lambda p: rewrite(p, set_version), f'version {VERSION + 1}'),
    'no version': (lambda p: rewrite(p, lambda d: d.pop('version')), 'version None'),
    'wrong shape': (lambda p: rewrite(p, lambda d: d['run']['weights']['wte'].pop()), 'wte'),
    'missing part': (lambda p: rewrite(p, lambda d: d['run'].pop('adam')), "'adam'"),
    'bad number': (lambda p: rewrite(p, lambda d: d['run']['weights']['wpe'][0].__setitem__(0, 'x')), 'number'),
    'bad random state': (lambda p: rewrite(p, lambda d: d['run'].__setitem__('rng', [3, [1, 2], None])),
                         'random'),
    'bad vocabulary': (lambda p: rewrite(p, lambda d: d['run']['chars'].pop()), 'vocabulary'),
    'step past the end': (lambda p: rewrite(p, lambda d: d['run'].__setitem__('step', 11)), 'past the end'),
}


@pytest.mark.parametrize('case', CASES)
def test_bad_checkpoint_is_a_one_line_data_error(saved, case):
    path, _, _ = saved
    damage, words = CASES[case]
    damage(path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert '\n' not in message and str(path) in message and words in message, message


def test_a_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match='cannot read checkpoint'):
        load_checkpoint(tmp_path)


# ---------------------------------------------------------------- the command line

@pytest.fixture
def tiny_data(tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text('\n'.join(NAMES) + '\n')
    return path


def test_main_runs_a_short_run(tiny_data, capsys):
    assert main(['--data', str(tiny_data), '--steps', '2', '--seed', '1']) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:3] == [f'num docs: {len(NAMES)}', f'vocab size: {len(set("".join(NAMES))) + 1}',
                         lines[2]] and lines[2].startswith('num params: ')
    assert [line[:16] for line in lines[3:5]] == ['step    1 /    2', 'step    2 /    2']
    assert lines[5:7] == ['', '--- inference (new, hallucinated names) ---']
    assert len(lines) == 7 + 20 and all(line.startswith('sample ') for line in lines[7:])
    assert len(err.splitlines()) == 1 and 'trained' in err


@pytest.mark.parametrize('argv, words', [
    (['--steps', '0'], '--steps'),
    (['--steps', '-3'], '--steps'),
    (['--steps', 'many'], '--steps'),
    (['--seed', 'x'], '--seed'),
    (['--bogus'], 'unrecognized'),
    (['--step', '5'], 'unrecognized'),  # no abbreviations: a typo is an error, not a guess
    (['extra'], 'unrecognized'),
])
def test_usage_errors_exit_2_with_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == '' and len(err.splitlines()) == 1 and words in err and 'Traceback' not in err


@pytest.mark.parametrize('content', [None, b'', b'\n  \n', b'emma\nz\xf6e\n'])
def test_data_errors_exit_1_with_one_line(tmp_path, content, capsys):
    path = tmp_path / 'names.txt'
    if content is not None:
        path.write_bytes(content)
    assert main(['--data', str(path), '--steps', '1']) == 1
    out, err = capsys.readouterr()
    assert out == '' and len(err.splitlines()) == 1 and err.startswith('microgpt: error: ')


def test_help_exits_0(capsys):
    with pytest.raises(SystemExit) as info:
        main(['--help'])
    assert info.value.code == 0 and '--steps' in capsys.readouterr().out


@pytest.mark.parametrize('args, status', [(['--steps', '0'], 2), (['--data', 'no/such/file.txt'], 1)])
def test_python_m_microgpt_errors(args, status):
    done = subprocess.run([sys.executable, '-m', 'microgpt', *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={k: v for k, v in os.environ.items() if k != 'MICROGPT_DATA'})
    assert done.returncode == status
    assert done.stdout == '' and len(done.stderr.splitlines()) == 1 and 'Traceback' not in done.stderr


def test_python_m_microgpt_runs(tiny_data):
    done = subprocess.run([sys.executable, '-m', 'microgpt', '--data', str(tiny_data), '--steps', '1'], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3 + 1 + 2 + 20
