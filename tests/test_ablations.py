"""The ablations engine and its results file: right gradients, reproducible runs, a
results file that is not stale and that a rerun reproduces, a usable command.
"""
import json
import math
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

import microgpt
from conftest import ROOT, SHARED, reference_start
from microgpt import ablations as A
from microgpt import knobs as K
from microgpt.fast import float_weights
from microgpt.loss import doc_loss as teaching_doc_loss
from microgpt.loss import split
from microgpt.model import GPT
from microgpt.train import SEED, begin

SMALL = dict(n_embd=8, n_head=2, block_size=8)


def flat(grads, w):
    return [x for name in w for row in grads[name] for x in row]


def test_reference_gradients_are_the_teaching_engines(names_txt):
    shuffled, tok, model, _ = reference_start(names_txt)
    for name in shuffled[:3]:
        tokens = tok.encode(name)
        w = float_weights(model)
        loss, saved = K.doc_loss(w, K.Variant(), tokens)
        ours = flat(K.backward(w, K.Variant(), saved), w)
        for p in model.parameters():
            p.grad = 0
        teaching = teaching_doc_loss(model, tokens)
        teaching.backward()
        theirs = [p.grad for p in model.parameters()]
        assert abs(loss - teaching.data) < 1e-13
        scale = max(abs(g) for g in theirs)
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-12 * scale


VARIATIONS = [K.Variant(**SMALL), K.Variant(**SMALL, activation='relu2'),
              K.Variant(**SMALL, activation='gelu'), K.Variant(**SMALL, embed_norm=False),
              K.Variant(**SMALL, n_layer=2), K.Variant(**SMALL, std=0.3),
              K.Variant(n_embd=12, n_head=3, block_size=4)]


@pytest.mark.parametrize('v', VARIATIONS, ids=lambda v: v.changes())
def test_gradients_match_finite_differences(v, tok):
    rng = random.Random(1)
    w = float_weights(GPT(v.config(tok.vocab_size), rng, v.std))
    tokens = tok.encode('christopher')  # longer than the block of 4 or 8: cropped
    grads = K.backward(w, v, K.doc_loss(w, v, tokens)[1])
    h = 1e-5
    checked = 0
    for name, rows in w.items():
        for r in range(len(rows)):
            c = rng.randrange(len(rows[r]))
            old = rows[r][c]
            rows[r][c] = old + h
            up = K.doc_loss(w, v, tokens)[0]
            rows[r][c] = old - h
            down = K.doc_loss(w, v, tokens)[0]
            rows[r][c] = old
            numeric = (up - down) / (2 * h)
            assert abs(numeric - grads[name][r][c]) <= 1e-6 * max(1.0, abs(numeric)), (name, r, c)
            checked += numeric != 0
    assert checked > 50  # most rows get a gradient: the check is not vacuous


@pytest.mark.parametrize('name', K.ACTIVATIONS)
def test_activation_slopes(name):
    f = K.ACTIVATIONS[name]
    for u in (-3.0, -0.7, -0.1, 0.2, 1.0, 2.5):
        numeric = (f(u + 1e-6)[0] - f(u - 1e-6)[0]) / 2e-6
        assert f(u)[1] == pytest.approx(numeric, abs=1e-7)


def test_gelu_is_gpt2s():
    assert K.gelu(0.0)[0] == 0.0
    assert K.gelu(1.0)[0] == pytest.approx(0.8411920, abs=1e-7)  # 0.5 (1 + tanh(c 1.044715))
    assert K.gelu(-10.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_schedules():
    T = 1000
    assert [K.SCHEDULES[s](0, T) for s in ('linear', 'constant', 'cosine')] == [1.0, 1.0, 1.0]
    assert [K.SCHEDULES[s](500, T) for s in ('linear', 'constant', 'cosine')] == \
        pytest.approx([0.5, 1.0, 0.5])
    assert K.SCHEDULES['cosine'](250, T) > K.SCHEDULES['linear'](250, T)
    assert K.SCHEDULES['cosine'](999, T) < K.SCHEDULES['linear'](999, T)


def test_changes_names_what_differs():
    assert K.Variant().changes() == 'nothing'
    assert A.ABLATIONS['gelu'].changes() == 'activation gelu'
    assert A.ABLATIONS['block-8'].changes() == 'block_size 8'
    assert A.ABLATIONS['momentum-0.03'].changes() == 'lr 0.03, optimizer momentum, beta1 0.9'
    # every model experiment changes exactly one setting
    assert [v.changes().count(',') for v in A.MODEL.values()] == [0] * len(A.MODEL)


def test_reference_variant_is_the_reference_run(names_txt):
    """Seed 42 of the reference recipe trains like the reference run, up to rounding."""
    shuffled, tok, model, _ = reference_start(names_txt)
    steps = json.loads((SHARED / 'reference' / 'original-losses-first20.json').read_text())
    expected = [s['loss'] for s in steps]  # to 12 decimals
    losses = []
    w, returned = K.train(K.Variant(), tok, shuffled, float_weights(model), stop=20,
                          report=lambda t, loss: losses.append(loss))
    assert returned == losses and len(losses) == 20
    assert max(abs(a - b) for a, b in zip(losses, expected)) < 1e-11


def test_run_is_reproducible(docs):
    v = K.Variant(steps=25)
    first, again, other = K.run(docs, v, 7), K.run(docs, v, 7), K.run(docs, v, 8)
    same = lambda r: (r.held_out, r.held_out_short, r.curve)
    assert same(first) == same(again)
    assert same(first) != same(other)
    assert all(math.isfinite(x) for x in same(first)[:2]) and first.curve == ()


def test_every_seed_is_graded_on_the_books_held_out_names(docs):
    """The held-out names are split()'s at the reference seed, for every seed; seed s trains
    on the rest in its own order, and at the reference seed on exactly split()'s training names."""
    shuffled = begin(docs)[0]
    assert K.held_out_names(docs) == split(shuffled)[1]
    assert K.training_names(docs, SEED) == split(shuffled)[0]
    held = split(K.order(docs, SEED))[1]
    for seed in (SEED + 1, 7):
        positions = K.order(docs, seed)
        assert [docs[i] for i in positions] == begin(docs, seed)[0]  # the run's own shuffle
        names = K.training_names(docs, seed)
        assert len(names) == len(docs) - len(held) and names != split(shuffled)[0]
        assert names == [docs[i] for i in positions if i not in set(held)]


def test_a_curve_starts_at_step_0_and_ends_at_the_held_out_loss(docs):
    r = K.run(docs, K.Variant(steps=2 * K.CURVE_EVERY, **SMALL), 3, curve=True)
    assert len(r.curve) == 3 and r.curve[-1] == r.held_out and r.curve[0] > r.curve[-1]


@pytest.mark.parametrize('name', ['sgd-1.0', 'momentum-0.03', 'rmsprop', 'adam-uncorrected'])
def test_every_optimizer_learns(docs, name):
    v = replace(A.ABLATIONS[name], steps=30, **SMALL)
    r = K.run(docs, v, 3, curve=False)
    untrained = K.run(docs, replace(v, steps=0), 3)
    assert r.held_out < untrained.held_out


def test_adam_without_correction_takes_larger_first_steps():
    """Step 0 with gradient g: corrected Adam moves every weight by lr; uncorrected by
    lr (1 - beta1) / sqrt(1 - beta2) = 1.5 lr, whatever g."""
    v = K.Variant()
    for corrected in (True, False):
        w, m, s = K.adam(replace(v, bias_correction=corrected), [0.0, 0.0], [0.3, -2.0],
                         [0.0, 0.0], [0.0, 0.0], 0)
        expected = 1.0 if corrected else (1 - v.beta1) / (1 - v.beta2) ** 0.5
        assert w == pytest.approx([-v.lr * expected, v.lr * expected], rel=1e-6)


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, '-m', 'microgpt.ablations', *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_runs_and_prints_runs_numbers(names_txt, docs):
    p = cli('block-8', 'gelu', '--seeds', '3', '--steps', '20', '--jobs', '2', '--data', str(names_txt))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ['name', 'seed', 'held-out', 'short']
    for line, name in zip(lines[1:], ('block-8', 'gelu')):
        r = K.run(docs, replace(A.ABLATIONS[name], steps=20), 3)
        assert line.split() == [name, '3', repr(r.held_out), repr(r.held_out_short)]
    assert len(lines) == 3


@pytest.mark.parametrize('args, status, words', [
    (['nonsense'], 2, "no experiment 'nonsense'"),
    (['--seeds', 'x'], 2, '--seeds'),
    (['--seeds'], 2, '--seeds'),
    (['--steps', '0'], 2, '--steps'),
    (['--jobs', '-1'], 2, '--jobs'),
    (['--data', 'no/such/file.txt'], 1, 'no/such/file.txt'),
    (['--data', 'data/elements.txt'], 1, 'hold out 500'),
])
def test_cli_bad_input_is_one_line(args, status, words):
    p = cli(*args)
    assert p.returncode == status
    assert p.stdout == ''
    assert p.stderr.count('\n') == 1 and words in p.stderr, p.stderr
    assert 'Traceback' not in p.stderr


@pytest.fixture(scope='module')
def stored():
    return A.load()


def test_the_results_file_is_not_stale(stored):
    """The engine that made data/ablations.json is the engine of today: its code (comments
    and docstrings aside) has the fingerprint stored in the file. If this fails, rebuild
    the file with the command in its 'commands' (see data/README.md)."""
    assert stored['modules'] == A.engine_modules()
    assert stored['fingerprint'] == A.fingerprint()


def test_the_fingerprint_sees_code_not_comments(tmp_path, monkeypatch):
    for name in A.engine_modules():
        (tmp_path / f'{name}.py').write_text((A.PACKAGE / f'{name}.py').read_text())
    monkeypatch.setattr(A, 'PACKAGE', tmp_path)
    before = A.fingerprint()
    adam = tmp_path / 'adam.py'
    adam.write_text(adam.read_text().replace('"""', '"""Reworded. ', 1) + '\n# a comment\n')
    assert A.fingerprint() == before
    adam.write_text(adam.read_text().replace('lr=0.01', 'lr=0.011'))
    assert A.fingerprint() != before


def test_the_results_file_records_how_it_was_made(stored):
    assert stored['version'] == microgpt.__version__
    assert stored['commands'] and all(c.startswith('python -m microgpt.ablations ') and
                                      '--out data/ablations.json' in c for c in stored['commands'])
    results = stored['results']
    assert 'reference' in results and set(results) <= set(A.ABLATIONS)
    for name, by_seed in results.items():
        assert sorted(by_seed) == list(A.SEEDS) and len(by_seed) >= 10, name
        assert stored['recipes'][name] == asdict(A.ABLATIONS[name]), name
        for seed, r in by_seed.items():
            # a loss is a positive number, or infinite where the run diverged
            assert r.held_out > 0 and not math.isnan(r.held_out) and r.seconds > 0
            assert bool(r.curve) == A.wants_curve(name, seed), (name, seed)
    reread = json.loads(A.RESULTS.read_text())  # the floats are stored exactly
    assert [r['held_out'] for r in reread['runs']] == [
        results[r['recipe']][r['seed']].held_out for r in reread['runs']]


@pytest.mark.slow  # one full run: about 20 s of CPU time, more on a busy machine
def test_a_random_run_of_the_file_reproduces_exactly(stored, docs):
    name = random.choice(sorted(stored['results']))
    seed = random.choice(sorted(stored['results'][name]))
    print(f'rerunning {name} at seed {seed}: python -m microgpt.ablations {name} --seeds {seed}')
    again = K.run(docs, A.ABLATIONS[name], seed, curve=A.wants_curve(name, seed))
    kept = stored['results'][name][seed]
    assert (again.held_out, again.curve) == (kept.held_out, kept.curve), (name, seed)
    assert again.held_out_short == kept.held_out_short or (
        math.isnan(again.held_out_short) and math.isnan(kept.held_out_short))


def test_save_keeps_the_runs_of_the_same_engine_and_drops_a_stale_file(tmp_path, monkeypatch):
    path = tmp_path / 'r.json'
    r = K.Result(2.5, 2.4, (), 1.0)
    A.save(path, 'first', {'reference': {42: r}})
    A.save(path, 'second', {'gelu': {42: replace(r, held_out=2.6)}})
    data = A.load(path)
    assert data['commands'] == ['first', 'second']
    assert data['results']['reference'][42] == r and data['results']['gelu'][42].held_out == 2.6
    monkeypatch.setattr(A, 'fingerprint', lambda: 'another engine')
    A.save(path, 'third', {'gelu': {43: r}})
    assert A.load(path)['commands'] == ['third'] and list(A.load(path)['results']) == ['gelu']


def state(pid):
    """(state, parent) of a process, read from /proc (Linux); None once it is gone."""
    try:
        fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def children(pid):
    """The running processes whose parent is pid."""
    found = []
    for path in Path('/proc').iterdir():
        if path.name.isdigit():
            s = state(int(path.name))
            if s and s[0] != 'Z' and s[1] == pid:
                found.append(int(path.name))
    return found


def wait_for(condition, what, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f'no {what} after {seconds} s'
        time.sleep(0.02)


@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='finds the worker processes in /proc')
@pytest.mark.parametrize('out', [False, True], ids=['print', 'out'])
def test_ctrl_c_stops_every_process_with_one_line(names_txt, tmp_path, monkeypatch, out):
    monkeypatch.setenv('MICROGPT_DATA', str(names_txt))
    args = ['--out', str(tmp_path / 'r.json')] if out else ['--data', str(names_txt)]
    # as from a terminal, even if this test runs where Ctrl-C is ignored (a background job)
    default_ctrl_c = lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    p = subprocess.Popen([sys.executable, '-m', 'microgpt.ablations', '--jobs', '2', *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         preexec_fn=default_ctrl_c)
    try:
        # the two workers have started: the runs are under way (the whole table takes minutes)
        wait_for(lambda: len(children(p.pid)) >= 2 or p.poll() is not None, 'worker processes')
        workers = children(p.pid)
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        stdout, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130
    assert stdout == '' and err.lstrip('\n') == 'microgpt.ablations: interrupted; nothing written\n'
    assert list(tmp_path.iterdir()) == []  # no results file, no temporary file
    assert all(state(w) is None or state(w)[0] == 'Z' for w in workers), 'a worker outlived the command'


# ---------------------------------------------------------------- awkward input (issue 13)

def long_names(n=600, length=20):
    r = random.Random(1)
    return [''.join(r.choice('abcdefghij') for _ in range(length)) for _ in range(n)]


def test_no_short_held_out_names_means_no_short_measure():
    """Every held-out name longer than SHORT: the short-names loss is not available (nan), not a crash."""
    r = K.run(long_names(), K.Variant(steps=2, **SMALL), 5)
    assert math.isnan(r.held_out_short)
    assert math.isfinite(r.held_out)


def test_cli_prints_n_a_for_a_measure_with_no_names(tmp_path):
    data = tmp_path / 'long.txt'
    data.write_text('\n'.join(long_names()) + '\n')
    p = cli('reference', '--seeds', '42', '--steps', '1', '--jobs', '1', '--data', str(data))
    assert p.returncode == 0 and p.stderr == '', p.stderr
    row = p.stdout.splitlines()[1].split()
    assert row[:2] == ['reference', '42'] and row[3] == 'nan'
    assert math.isfinite(float(row[2]))


@pytest.mark.parametrize('content, args, status, words', [
    (b'', [], 1, 'no documents'),
    (b'ada\n\xffbob\n', [], 1, 'not UTF-8'),
    (b'ada\nbob\n', [], 1, 'has 2 documents'),
    (None, [], 1, 'no data file'),  # a folder
    (b'ada\n', ['--jobs', '0'], 2, '--jobs'),
    (b'ada\n', ['--steps', '1000000001'], 2, 'at most 1,000,000,000'),
    (b'ada\n', ['--steps', '9' * 5000], 2, '--steps'),
])
def test_cli_awkward_data_and_numbers_are_one_line(tmp_path, content, args, status, words):
    data = tmp_path / 'docs.txt'
    if content is None:
        data.mkdir()
    else:
        data.write_bytes(content)
    before = sorted(tmp_path.rglob('*'))
    p = cli(*args, '--data', str(data), cwd=tmp_path)
    assert p.returncode == status and p.stdout == ''
    assert p.stderr.count('\n') == 1 and words in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert sorted(tmp_path.rglob('*')) == before  # nothing written, nothing left behind


def test_run_all_starts_no_more_processes_than_runs(monkeypatch):
    started = []
    real = A.multiprocessing.Pool
    monkeypatch.setattr(A.multiprocessing, 'Pool', lambda n, *a: started.append(n) or real(n, *a))
    out = A.run_all(long_names(), {'reference': K.Variant(steps=1, **SMALL)}, [1, 2], jobs=10**20)
    assert started == [2] and list(out['reference']) == [1, 2]
