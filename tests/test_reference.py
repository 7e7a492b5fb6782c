"""The package reproduces the reference run: its losses, its output, and correct gradients."""
import gc
import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED, reference_start
from microgpt.data import load_docs
from microgpt.reference import run
from microgpt.adam import Adam
from microgpt.loss import doc_loss
from microgpt.train import train

REFERENCE = SHARED / 'reference'

# The 20 names the reference program prints after its 1000 steps (seed 42).
REFERENCE_SAMPLES = ['kamon', 'ann', 'karai', 'jaire', 'vialan', 'karia', 'yeran', 'anna', 'areli', 'kaina',
                     'konna', 'keylen', 'liole', 'alerin', 'earan', 'lenne', 'kana', 'lara', 'alela', 'anton']


def reference_file(name):
    path = REFERENCE / name
    if not path.exists():
        pytest.fail(f'the reference file {path} is missing')
    return path


@pytest.fixture(scope='module')
def head():
    """The first 23 lines the reference program prints."""
    return reference_file('original-output-head.txt').read_text(encoding='utf-8').splitlines()


def test_first_20_losses_match_the_reference(names_txt):
    expected = json.loads(reference_file('original-losses-first20.json').read_text(encoding='utf-8'))
    docs, tok, model, _ = reference_start(names_txt)
    losses = {}
    train(model, tok, docs, Adam(model.parameters()), num_steps=1000, stop=20,
          report=lambda s, loss: losses.__setitem__(s + 1, loss))
    assert sorted(losses) == [e['step'] for e in expected] == list(range(1, 21))
    for e in expected:
        assert abs(losses[e['step']] - e['loss']) < 1e-9, (e['step'], losses[e['step']], e['loss'])


def test_output_head_matches_the_reference(names_txt, head, capsys):
    run(load_docs(names_txt), stop_after=20)  # 20 steps of the 1000-step schedule, no sampling
    out, err = capsys.readouterr()
    assert out.splitlines() == head
    assert 'step' not in err  # only timing goes to standard error


def test_stop_after_keeps_the_full_schedule(names_txt, capsys):
    # the same first lines, whether the run is cut short or not: the schedule is the 1000-step one
    run(load_docs(names_txt), stop_after=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ['step    1 / 1000 | loss 3.3660', 'step    2 / 1000 | loss 3.4243']


def central_difference(loss_of, p, eps):
    saved = p.data
    p.data = saved + eps
    up = loss_of()
    p.data = saved - eps
    down = loss_of()
    p.data = saved
    return (up - down) / (2 * eps)


@pytest.mark.slow
def test_gradient_of_every_parameter_matches_central_differences(names_txt):
    """backward against (L(p + eps) - L(p - eps)) / 2 eps for all 4,192 parameters, on one short name."""
    docs, tok, model, _ = reference_start(names_txt)
    tokens = tok.encode(min(docs[:1000], key=len))  # three predictions: attention sees 1, 2, 3 positions
    params = model.parameters()
    assert len(params) == 4192
    doc_loss(model, tokens).backward()

    def loss_of():
        return doc_loss(model, tokens).data

    worst_abs, worst_rel = 0.0, 0.0
    gc.disable()  # forward passes make no reference cycles; scanning their graphs is wasted time
    try:
        for i, p in enumerate(params):
            g, g_hat = p.grad, central_difference(loss_of, p, eps=1e-5)
            worst_abs = max(worst_abs, abs(g - g_hat))
            if abs(g) > 1e-4:  # below that, the estimate's own rounding error dominates
                worst_rel = max(worst_rel, abs(g - g_hat) / abs(g))
            if g == 0:
                assert g_hat == 0, (i, g_hat)  # unused or inactive: the loss does not move
    finally:
        gc.enable()
    assert worst_abs < 1e-8, worst_abs
    assert worst_rel < 1e-5, worst_rel


FULL_OUTPUTS = {}  # engine -> standard output of its full reference run


@pytest.mark.slow
@pytest.mark.parametrize('engine', ['fast', 'fused', 'scalar'])
def test_full_reference_run(names_txt, head, engine):
    """python -m microgpt: 1000 steps and 20 samples, exactly the reference program's output,
    and every engine prints the same 1025 lines (the teaching engine takes minutes)."""
    env = {k: v for k, v in os.environ.items() if k != 'MICROGPT_DATA'}
    done = subprocess.run([sys.executable, '-m', 'microgpt', '--data', str(names_txt), '--engine', engine],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:23] == head
    steps = lines[3:1003]
    assert len(steps) == 1000
    for s, line in enumerate(steps, start=1):
        assert re.fullmatch(rf'step {s:4d} / 1000 \| loss \d\.\d{{4}}', line), line
    assert lines[1003:1005] == ['', '--- inference (new, hallucinated names) ---']
    samples = lines[1005:]
    assert [line[:11] for line in samples] == [f'sample {i:2d}: ' for i in range(1, 21)]
    assert [line[11:] for line in samples] == REFERENCE_SAMPLES
    assert 'Traceback' not in done.stderr
    for other, output in FULL_OUTPUTS.items():
        assert done.stdout == output, f'--engine {engine} and --engine {other} print different runs'
    FULL_OUTPUTS[engine] = done.stdout
