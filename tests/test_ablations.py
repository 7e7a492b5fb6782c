"""The ablations engine and its table: right gradients, reproducible runs, a usable command.

The test that compares the book's table with a rerun needs the table the build
wrote (_build/ablations.json); without it, it is skipped, unless
MICROGPT_BROWSER_TESTS=1 (as CI sets it, after building the book), when it fails.
"""
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from conftest import ROOT, SHARED, reference_start
from microgpt import ablations as A
from microgpt.fast import float_weights
from microgpt.loss import doc_loss as teaching_doc_loss
from microgpt.model import GPT

TABLE = ROOT / '_build' / 'ablations.json'
SMALL = dict(n_embd=8, n_head=2, block_size=8)


def flat(grads, w):
    return [x for name in w for row in grads[name] for x in row]


def test_reference_gradients_are_the_teaching_engines(names_txt):
    shuffled, tok, model, _ = reference_start(names_txt)
    for name in shuffled[:3]:
        tokens = tok.encode(name)
        w = float_weights(model)
        loss, saved = A.doc_loss(w, A.Variant(), tokens)
        ours = flat(A.backward(w, A.Variant(), saved), w)
        for p in model.parameters():
            p.grad = 0
        teaching = teaching_doc_loss(model, tokens)
        teaching.backward()
        theirs = [p.grad for p in model.parameters()]
        assert abs(loss - teaching.data) < 1e-13
        scale = max(abs(g) for g in theirs)
        assert max(abs(a - b) for a, b in zip(ours, theirs)) < 1e-12 * scale


VARIATIONS = [A.Variant(**SMALL), A.Variant(**SMALL, activation='relu2'),
              A.Variant(**SMALL, activation='gelu'), A.Variant(**SMALL, embed_norm=False),
              A.Variant(**SMALL, n_layer=2), A.Variant(**SMALL, std=0.3),
              A.Variant(n_embd=12, n_head=3, block_size=4)]


@pytest.mark.parametrize('v', VARIATIONS, ids=lambda v: v.changes())
def test_gradients_match_finite_differences(v, tok):
    rng = random.Random(1)
    w = float_weights(GPT(v.config(tok.vocab_size), rng, v.std))
    tokens = tok.encode('christopher')  # longer than the block of 4 or 8: cropped
    grads = A.backward(w, v, A.doc_loss(w, v, tokens)[1])
    h = 1e-5
    checked = 0
    for name, rows in w.items():
        for r in range(len(rows)):
            c = rng.randrange(len(rows[r]))
            old = rows[r][c]
            rows[r][c] = old + h
            up = A.doc_loss(w, v, tokens)[0]
            rows[r][c] = old - h
            down = A.doc_loss(w, v, tokens)[0]
            rows[r][c] = old
            numeric = (up - down) / (2 * h)
            assert abs(numeric - grads[name][r][c]) <= 1e-6 * max(1.0, abs(numeric)), (name, r, c)
            checked += numeric != 0
    assert checked > 50  # most rows get a gradient: the check is not vacuous


@pytest.mark.parametrize('name', A.ACTIVATIONS)
def test_activation_slopes(name):
    f = A.ACTIVATIONS[name]
    for u in (-3.0, -0.7, -0.1, 0.2, 1.0, 2.5):
        numeric = (f(u + 1e-6)[0] - f(u - 1e-6)[0]) / 2e-6
        assert f(u)[1] == pytest.approx(numeric, abs=1e-7)


def test_gelu_is_gpt2s():
    assert A.gelu(0.0)[0] == 0.0
    assert A.gelu(1.0)[0] == pytest.approx(0.8411920, abs=1e-7)  # 0.5 (1 + tanh(c 1.044715))
    assert A.gelu(-10.0)[0] == pytest.approx(0.0, abs=1e-12)


def test_schedules():
    T = 1000
    assert [A.SCHEDULES[s](0, T) for s in ('linear', 'constant', 'cosine')] == [1.0, 1.0, 1.0]
    assert [A.SCHEDULES[s](500, T) for s in ('linear', 'constant', 'cosine')] == \
        pytest.approx([0.5, 1.0, 0.5])
    assert A.SCHEDULES['cosine'](250, T) > A.SCHEDULES['linear'](250, T)
    assert A.SCHEDULES['cosine'](999, T) < A.SCHEDULES['linear'](999, T)


def test_changes_names_what_differs():
    assert A.Variant().changes() == 'nothing'
    assert A.ABLATIONS['gelu'].changes() == 'activation gelu'
    assert A.ABLATIONS['block-8'].changes() == 'block_size 8'
    # every experiment but the reference changes exactly one setting
    assert [v.changes().count(',') for v in A.ABLATIONS.values()] == [0] * len(A.ABLATIONS)


def test_reference_variant_is_the_reference_run(names_txt):
    """Seed 42 of the reference recipe trains like the reference run, up to rounding."""
    shuffled, tok, model, _ = reference_start(names_txt)
    steps = json.loads((SHARED / 'reference' / 'original-losses-first20.json').read_text())
    expected = [s['loss'] for s in steps]  # to 12 decimals
    losses = []
    w, returned = A.train(A.Variant(), tok, shuffled, float_weights(model), stop=20,
                          report=lambda t, loss: losses.append(loss))
    assert returned == losses and len(losses) == 20
    assert max(abs(a - b) for a, b in zip(losses, expected)) < 1e-11


def test_run_is_reproducible(docs):
    v = A.Variant(steps=25)
    first, again, other = A.run(docs, v, 7), A.run(docs, v, 7), A.run(docs, v, 8)
    same = lambda r: (r.train_loss, r.held_out, r.held_out_short)
    assert same(first) == same(again)
    assert same(first) != same(other)
    assert all(math.isfinite(x) for x in same(first))


def cli(*args, cwd=ROOT):
    return subprocess.run([sys.executable, '-m', 'microgpt.ablations', *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def test_cli_runs_and_prints_runs_numbers(names_txt, docs):
    p = cli('block-8', 'gelu', '--seeds', '3', '--steps', '20', '--jobs', '2', '--data', str(names_txt))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ['name', 'seed', 'train', 'held-out', 'short']
    for line, name in zip(lines[1:], ('block-8', 'gelu')):
        r = A.run(docs, replace(A.ABLATIONS[name], steps=20), 3)
        assert line.split() == [name, '3', f'{r.train_loss:.4f}', f'{r.held_out:.4f}',
                                f'{r.held_out_short:.4f}']
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


@pytest.mark.book  # needs the built book's table; CI runs it after building the book
def test_the_books_table_matches_a_rerun(docs):
    """Two entries of the table the build computed, computed again by the package."""
    if not TABLE.exists():
        why = f'no {TABLE.relative_to(ROOT)}: build the book first'
        if os.environ.get('MICROGPT_BROWSER_TESTS') == '1':
            pytest.fail(why + ' (MICROGPT_BROWSER_TESTS=1 requires it)', pytrace=False)
        pytest.skip(why)
    table = json.loads(TABLE.read_text())
    assert set(table) == set(A.ABLATIONS)
    assert all(sorted(by_seed) == [str(s) for s in A.SEEDS] for by_seed in table.values())
    page = (ROOT / '_build' / 'html' / '20-ablations.html').read_text(encoding='utf-8')
    for name, by_seed in table.items():  # the page shows the numbers of the file
        for field in ('train_loss', 'held_out'):
            xs = [r[field] for r in by_seed.values()]
            shown = f'{A.mean(xs):.3f} ({min(xs):.3f}–{max(xs):.3f})'
            assert f'<code class="docutils literal notranslate"><span class="pre">{name}</span></code>' in page
            assert shown in page, (name, field, shown)
    for name, seed in (('block-8', 43), ('no-embed-norm', 44)):
        rerun = asdict(A.run(docs, A.ABLATIONS[name], seed))
        book = table[name][str(seed)]
        for field in ('train_loss', 'held_out', 'held_out_short'):
            assert rerun[field] == book[field], (name, seed, field)


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
def test_ctrl_c_stops_every_process_with_one_line(names_txt):
    p = subprocess.Popen([sys.executable, '-m', 'microgpt.ablations', '--jobs', '2',
                          '--data', str(names_txt)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        # the two workers have started: the runs are under way (the whole table takes minutes)
        wait_for(lambda: len(children(p.pid)) >= 2 or p.poll() is not None, 'worker processes')
        workers = children(p.pid)
        assert p.poll() is None
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 130
    assert out == '' and err == 'microgpt.ablations: interrupted; nothing printed\n'
    assert all(state(w) is None or state(w)[0] == 'Z' for w in workers), 'a worker outlived the command'


# ---------------------------------------------------------------- awkward input (issue 13)

def long_names(n=600, length=20):
    r = random.Random(1)
    return [''.join(r.choice('abcdefghij') for _ in range(length)) for _ in range(n)]


def test_no_short_held_out_names_means_no_short_measure():
    """Every held-out name longer than SHORT: the short-names loss is not available (nan), not a crash."""
    r = A.run(long_names(), A.Variant(steps=2, **SMALL), 5)
    assert math.isnan(r.held_out_short)
    assert math.isfinite(r.train_loss) and math.isfinite(r.held_out)


def test_cli_prints_n_a_for_a_measure_with_no_names(tmp_path):
    data = tmp_path / 'long.txt'
    data.write_text('\n'.join(long_names()) + '\n')
    p = cli('reference', '--seeds', '42', '--steps', '1', '--jobs', '1', '--data', str(data))
    assert p.returncode == 0 and p.stderr == '', p.stderr
    row = p.stdout.splitlines()[1].split()
    assert row[:2] == ['reference', '42'] and row[4] == 'n/a'
    assert all(math.isfinite(float(x)) for x in row[2:4])


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
    out = A.run_all(long_names(), {'reference': A.Variant(steps=1, **SMALL)}, [1, 2], jobs=10**20)
    assert started == [2] and list(out['reference']) == [1, 2]
