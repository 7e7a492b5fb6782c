"""The package reproduces the reference run: its losses, its output, and correct gradients."""
import gc
import re

import pytest

from conftest import REFERENCE_SAMPLES, reference_head, reference_losses, reference_start
from microgpt.loss import doc_loss


@pytest.fixture(scope='module')
def head():
    """The first 23 lines the reference program prints."""
    return reference_head()


def test_first_20_steps_match_the_reference(first_steps, head):
    """20 steps of the 1000-step schedule on the teaching engine, no sampling: the lines the
    reference program prints (the schedule is the 1000-step one, though the run is cut short),
    and its losses to 12 decimals."""
    assert first_steps.stdout.splitlines() == head
    assert 'step' not in first_steps.stderr  # only timing goes to standard error
    expected = reference_losses()
    assert [e['step'] for e in expected] == list(range(1, 21)) and len(first_steps.losses) == 20
    for e, loss in zip(expected, first_steps.losses):
        assert abs(loss - e['loss']) < 1e-9, (e['step'], loss, e['loss'])


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


@pytest.mark.slow
@pytest.mark.parametrize('engine', ['fast', 'fused', 'scalar'])
def test_full_reference_run(reference_run, head, engine):
    """python -m microgpt: 1000 steps and 20 samples, exactly the reference program's output,
    and every engine prints the same 1025 lines as the default one (the teaching engine takes minutes)."""
    done = reference_run(engine)
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
    if engine != 'fast':
        assert done.stdout == reference_run('fast').stdout, f'--engine {engine} and --engine fast print different runs'
