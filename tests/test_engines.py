"""The engines of microgpt.engines.ENGINES compute the same numbers as the teaching engine:
gradients, losses, weights, Adam state and samples. Also: the fast engine's write-back when
a run is interrupted, and bench. (The full reference run on every engine is in test_reference.py.)"""
import copy
import gc
import inspect
import random
from functools import reduce
from operator import add

import pytest

import conftest
from conftest import reference_losses, weights
from microgpt import engines, fast, fused
from microgpt.adam import Adam
from microgpt.data import load_docs
from microgpt.loss import doc_loss
from microgpt.model import GPT, Config
from microgpt.tokenizer import Tokenizer
from microgpt.train import train as scalar_train

LETTERS = 'abcdefghijklmnopqrstuvwxyz'
TOK = Tokenizer([LETTERS])  # a-z and BOS: the reference vocabulary

SIZES = [
    Config(vocab_size=27),
    Config(vocab_size=27, n_layer=2, n_embd=32, n_head=4, block_size=16),
    Config(vocab_size=27, n_layer=1, n_embd=8, n_head=1, block_size=4),
    Config(vocab_size=27, n_layer=2, n_embd=8, n_head=2, block_size=8),
    Config(vocab_size=27, n_layer=1, n_embd=24, n_head=3, block_size=12),
    Config(vocab_size=27, n_layer=2, n_embd=12, n_head=4, block_size=20),
]


def size_id(c):
    return f'L{c.n_layer}-E{c.n_embd}-H{c.n_head}-B{c.block_size}'


def rel(a, b):
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def random_doc(draw, block_size):
    """A random name, sometimes longer than the block, with letters that repeat."""
    letters = draw.choice([LETTERS, 'aeiou', 'abn'])
    return ''.join(draw.choice(letters) for _ in range(draw.randint(1, block_size + 3)))


def scalar_gradients(model, tokens, loss_of):
    loss = loss_of(model, tokens)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = 0
    return loss.data, grads


def fast_gradients(model, tokens):
    w = fast.float_weights(model)
    loss, (tape, keys, values) = fast.doc_loss(w, model.config, tokens)
    grads = fast.backward(w, model.config, tape, keys, values)
    return loss, [g for name in model.state for row in grads[name] for g in row]


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize('config', SIZES, ids=size_id)
def test_gradients_of_all_engines_agree(config):
    draw = random.Random(size_id(config))
    for trial, std in enumerate([0.08, 0.5]):
        model = GPT(config, random.Random(trial), std=std)
        tokens = TOK.encode(random_doc(draw, config.block_size))
        loss, grads = scalar_gradients(model, tokens, doc_loss)
        for name, (other_loss, other) in [('fused', scalar_gradients(model, tokens, fused.doc_loss)),
                                          ('fast', fast_gradients(model, tokens))]:
            assert other_loss == loss, name
            assert len(other) == len(grads)
            worst = max(map(rel, grads, other))
            assert worst <= 1e-12, (name, worst)


def test_a_long_document_is_cut_at_the_block_size():
    config = Config(vocab_size=27, n_embd=8, n_head=2, block_size=5)
    model = GPT(config, random.Random(3), std=0.3)
    tokens = TOK.encode('abracadabra')
    loss, grads = scalar_gradients(model, tokens, doc_loss)
    fast_loss, fast_grads = fast_gradients(model, tokens)
    assert fast_loss == loss and fast_grads == grads
    # positions beyond the block are never read: their position embeddings get no gradient
    w = fast.float_weights(model)
    _, (tape, _, _) = fast.doc_loss(w, config, tokens)
    assert len(tape) == config.block_size


def test_total_is_a_left_fold_from_zero():
    draw = random.Random(0)
    xs = [draw.gauss(0, 1) * 10 ** draw.randint(-8, 8) for _ in range(1000)]
    assert fused.total(xs) == reduce(add, xs, 0)
    assert fused.total([]) == 0


def test_topological_order_leaves_nothing_for_the_collector():
    model = GPT(Config(vocab_size=27, n_embd=8, n_head=2, block_size=4), random.Random(0))
    gc.collect()
    gc.disable()
    try:
        loss = doc_loss(model, TOK.encode('emma'))
        loss.backward()
        del loss
        assert gc.collect() == 0  # the graph was freed by reference counting alone
    finally:
        gc.enable()


# ---------------------------------------------------------------- training and sampling

@pytest.fixture(scope='module')
def reference_start(names_txt):
    """The shuffled names, tokenizer, untrained model and random stream of the reference run."""
    return conftest.reference_start(names_txt)


def run_engine(name, reference_start, steps, num_steps=1000):
    docs, tok, start, rng = reference_start
    model = copy.deepcopy(start)
    opt = Adam(model.parameters())
    losses = []
    last = engines.ENGINES[name].train(model, tok, docs, opt, num_steps, stop=steps,
                                    report=lambda s, loss: losses.append(loss))
    assert last == losses[-1]
    return model, opt, losses, copy.deepcopy(rng)


@pytest.fixture(scope='module')
def short_runs(reference_start, first_steps):
    """20 steps of the reference run on each engine: (model, optimizer, losses, random stream).
    The teaching engine's are the steps test_reference.py checks against the reference."""
    model, opt = copy.deepcopy((first_steps.model, first_steps.optimizer))
    runs = {'scalar': (model, opt, list(first_steps.losses), copy.deepcopy(reference_start[3]))}
    runs.update((name, run_engine(name, reference_start, 20)) for name in engines.ENGINES if name != 'scalar')
    return runs


def test_loss_trajectories_weights_and_adam_state_are_identical(short_runs):
    model, opt, losses, _ = short_runs['scalar']
    assert len(losses) == 20
    for name in ('fused', 'fast'):
        other_model, other_opt, other_losses, _ = short_runs[name]
        assert other_losses == losses, name
        assert weights(other_model) == weights(model), name
        assert other_opt.m == opt.m and other_opt.v == opt.v, name
        assert all(p.grad == 0 for p in other_model.parameters()), name


@pytest.mark.parametrize('temperature', [0.5, 1.0, 0.3])
def test_sample_gives_the_same_names_on_every_engine(reference_start, short_runs, temperature):
    tok, rng = reference_start[1], short_runs['scalar'][3]
    names, states = {}, {}
    for name, engine in engines.ENGINES.items():
        draw = copy.deepcopy(rng)
        names[name] = [engine.sample(short_runs[name][0], tok, draw, temperature) for _ in range(10)]
        states[name] = draw.getstate()
    assert names['fused'] == names['scalar'] and names['fast'] == names['scalar']
    assert states['fused'] == states['scalar'] == states['fast']  # the same draws, no more, no fewer
    assert len(set(names['scalar'])) > 1


def tiny_setup():
    docs = ['emma', 'olivia', 'ava']
    tok = Tokenizer(docs)
    model = GPT(Config(vocab_size=tok.vocab_size, n_embd=8, n_head=2, block_size=8), random.Random(5))
    return docs, tok, model


@pytest.mark.parametrize('start, stop', [(0, 7), (3, 7), (5, None), (4, 4)])
def test_start_stop_and_wrap_around_match_the_teaching_engine(start, stop):
    results = []
    for engine in engines.ENGINES.values():
        docs, tok, model = tiny_setup()
        opt = Adam(model.parameters())
        losses = []
        last = engine.train(model, tok, docs, opt, 8, start=start, stop=stop,
                            report=lambda s, loss: losses.append((s, loss)))
        results.append((last, losses, weights(model), opt.m, opt.v))
    assert results[1] == results[0] and results[2] == results[0]
    last, losses = results[0][:2]
    assert [s for s, _ in losses] == list(range(start, 8 if stop is None else stop))
    assert last == (losses[-1][1] if losses else None)


def test_fast_engine_reproduces_the_reference_losses(short_runs):
    expected = reference_losses()
    _, _, losses, _ = short_runs['fast']
    assert [e['step'] for e in expected] == list(range(1, 21))
    for e in expected:
        assert abs(losses[e['step'] - 1] - e['loss']) < 1e-9, e


# ---------------------------------------------------------------- interrupted runs

def stopped_after(steps):
    """The model and optimizer of a tiny run that stopped cleanly after `steps` steps."""
    docs, tok, model = tiny_setup()
    opt = Adam(model.parameters())
    fast.train(model, tok, docs, opt, 10, stop=steps)
    return model, opt


def interrupted_run(report=None):
    docs, tok, model = tiny_setup()
    opt = Adam(model.parameters())
    with pytest.raises(KeyboardInterrupt):
        fast.train(model, tok, docs, opt, 10, report=report)
    return model, opt


def assert_same_state(a, b):
    (model_a, opt_a), (model_b, opt_b) = a, b
    assert weights(model_a) == weights(model_b)
    assert opt_a.m == opt_b.m and opt_a.v == opt_b.v
    assert all(p.grad == 0 for p in model_a.parameters())


def test_interrupt_in_report_keeps_the_step_just_reported():
    def report(s, loss):
        if s == 3:
            raise KeyboardInterrupt

    assert_same_state(interrupted_run(report=report), stopped_after(4))


@pytest.mark.parametrize('owner, victim', [(fast, 'doc_loss'), (fast, 'backward'), (Adam, 'update')])
def test_interrupt_mid_step_keeps_the_last_completed_step(monkeypatch, owner, victim):
    real = getattr(owner, victim)
    calls = []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 5:  # during step 4: steps 0-3 are done
            if victim == 'update':
                real(*args)  # the update is computed, but the step is not yet recorded
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(owner, victim, interrupted)
    state = interrupted_run()
    monkeypatch.undo()
    assert_same_state(state, stopped_after(4))


def test_an_interrupted_run_continues_exactly():
    def report(s, loss):
        if s == 5:
            raise KeyboardInterrupt

    docs, tok, model = tiny_setup()
    opt = Adam(model.parameters())
    with pytest.raises(KeyboardInterrupt):
        fast.train(model, tok, docs, opt, 10, report=report)
    fast.train(model, tok, docs, opt, 10, start=6)
    assert_same_state((model, opt), stopped_after(10))


def test_other_errors_write_back_too():
    docs, tok, model = tiny_setup()
    opt = Adam(model.parameters())
    with pytest.raises(ValueError):
        fast.train(model, tok, docs + ['zoe'], opt, 10)  # 'z' is not in the vocabulary: step 3 fails
    assert_same_state((model, opt), stopped_after(3))


# ---------------------------------------------------------------- registry and bench

def test_registry():
    assert list(engines.ENGINES) == ['scalar', 'fused', 'fast']
    assert engines.DEFAULT_ENGINE == 'fast'
    def interface(f):  # the parameters every engine's train takes; loss_fn is the teaching loop's own
        return [p for p in inspect.signature(f).parameters.values() if p.name != 'loss_fn']

    reference = interface(scalar_train)
    assert [p.name for p in reference] == ['model', 'tokenizer', 'docs', 'optimizer', 'num_steps',
                                           'start', 'stop', 'report']
    for name, engine in engines.ENGINES.items():
        assert interface(engine.train) == reference, name
        assert list(inspect.signature(engine.sample).parameters)[:4] == ['model', 'tokenizer', 'rng', 'temperature']
        assert engine.about


def test_bench(names_txt):
    lines = []
    results = engines.bench(load_docs(names_txt), steps=2, engines=['fast'], report=lines.append)
    assert list(results) == ['scalar', 'fast']  # the yardstick is always measured, first
    assert len(lines) == 3 and lines[2].startswith('fast')
    for timing in results.values():
        assert timing.steps == 2 and len(timing.losses) == 2 and timing.same_losses
        assert timing.seconds > 0 and timing.steps_per_second > 0
    # the ratio of the measured times, whatever the machine was doing meanwhile
    assert results['scalar'].speedup == 1.0
    assert results['fast'].speedup == results['scalar'].seconds / results['fast'].seconds
    assert results['fast'].losses == results['scalar'].losses


def test_bench_refuses_unknown_engines_and_step_counts(names_txt):
    docs = ['ab']
    with pytest.raises(ValueError, match='unknown engine'):
        engines.bench(docs, engines=['turbo'], report=lambda line: None)
    with pytest.raises(ValueError, match='steps'):
        engines.bench(docs, steps=0, report=lambda line: None)
