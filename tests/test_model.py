"""The model: its parameters, the order they are drawn in, its arithmetic and its causality."""
import math
import random

import pytest

from microgpt.attention import attention
from microgpt.autograd import Value
from microgpt.model import GPT, Config
from microgpt.nn import softmax

SHAPES = {
    'wte': (27, 16), 'wpe': (16, 16), 'lm_head': (27, 16),
    'layer0.attn_wq': (16, 16), 'layer0.attn_wk': (16, 16), 'layer0.attn_wv': (16, 16),
    'layer0.attn_wo': (16, 16), 'layer0.mlp_fc1': (64, 16), 'layer0.mlp_fc2': (16, 64),
}


@pytest.fixture(scope='module')
def model():
    return GPT(Config(), random.Random(42))


def test_reference_config():
    c = Config()
    assert (c.vocab_size, c.n_embd, c.n_head, c.n_layer, c.block_size) == (27, 16, 4, 1, 16)
    assert c.head_dim == 4


def test_parameter_count_and_shapes(model):
    assert len(model.parameters()) == 4192
    assert list(model.state) == list(SHAPES)  # also the drawing order
    for name, (nout, nin) in SHAPES.items():
        w = model.state[name]
        assert (len(w), {len(row) for row in w}) == (nout, {nin}), name


def test_parameters_are_the_matrices_row_by_row(model):
    flat = [p for w in model.state.values() for row in w for p in row]
    assert all(a is b for a, b in zip(model.parameters(), flat))
    assert len({id(p) for p in model.parameters()}) == 4192


def test_more_layers():
    m = GPT(Config(n_layer=2), random.Random(0))
    assert len(m.parameters()) == 4192 + 4 * 256 + 2 * 1024  # one more layer
    assert [k for k in m.state if k.startswith('layer1.')][0] == 'layer1.attn_wq'


def test_init_draws_follow_the_reference_order():
    rng = random.Random(42)
    model = GPT(Config(), rng)
    draw = random.Random(42)
    draws = [draw.gauss(0, 0.08) for _ in range(4193)]
    s = model.state
    assert s['wte'][0][0].data == draws[0]
    assert s['wte'][0][1].data == draws[1]                            # row by row
    assert s['wpe'][0][0].data == draws[27 * 16]                      # wpe after all of wte
    assert s['lm_head'][0][0].data == draws[27 * 16 + 16 * 16]        # then lm_head
    assert s['layer0.attn_wq'][0][0].data == draws[2 * 27 * 16 + 16 * 16]
    assert s['layer0.mlp_fc2'][0][0].data == draws[4192 - 16 * 64]    # the last matrix
    assert [p.data for p in model.parameters()] == draws[:4192]       # every draw, in order
    assert rng.gauss(0, 0.08) == draws[4192]                          # and no more


def test_std_is_passed_on():
    m = GPT(Config(), random.Random(5), std=0.5)
    draw = random.Random(5)
    assert m.state['wte'][0][0].data == draw.gauss(0, 0.5)


def test_new_cache_is_empty_per_layer():
    m = GPT(Config(n_layer=3), random.Random(0))
    keys, values = m.new_cache()
    assert keys == [[], [], []] and values == [[], [], []]
    assert keys[0] is not keys[1] and keys[0] is not values[0]


def run(model, tokens):
    keys, values = model.new_cache()
    return [[z.data for z in model(t, pos, keys, values)] for pos, t in enumerate(tokens)]


def test_call_fills_the_cache(model):
    keys, values = model.new_cache()
    for pos, t in enumerate([26, 0, 1]):
        logits = model(t, pos, keys, values)
        assert len(logits) == 27
        assert len(keys[0]) == len(values[0]) == pos + 1
        assert len(keys[0][-1]) == 16


def test_logits_do_not_depend_on_later_tokens(model):
    a = run(model, [26, 4, 12, 12, 0, 26])   # emma
    b = run(model, [26, 4, 12, 8, 11, 24])   # emily
    assert a[:3] == b[:3]                    # positions 0..2 read the same tokens: bit-identical
    assert a[3] != b[3]


def test_logits_depend_on_earlier_tokens(model):
    a = run(model, [26, 4, 12])
    b = run(model, [26, 5, 12])
    assert a[2] != b[2]  # the same token at the same position, after a different prefix


def test_position_matters(model):
    keys, values = model.new_cache()
    first = [z.data for z in model(3, 0, keys, values)]
    keys, values = model.new_cache()
    model(3, 0, keys, values)
    second = [z.data for z in model(3, 1, keys, values)]
    assert first != second


def test_forward_and_backward_are_bit_exact():
    # values of the reference arithmetic (Karpathy's microgpt.py, same operations in the same order)
    # for the model GPT(Config(), random.Random(42)) reading BOS e m m a BOS
    model = GPT(Config(), random.Random(42))
    tokens = [26, 4, 12, 12, 0, 26]
    keys, values = model.new_cache()
    terms, logits = [], []
    for pos in range(len(tokens) - 1):
        logits.append(model(tokens[pos], pos, keys, values))
        terms.append(-softmax(logits[-1])[tokens[pos + 1]].log())
    loss = (1 / len(terms)) * sum(terms)
    loss.backward()
    s = model.state
    assert loss.data == 3.2251850755730693
    assert [logits[0][i].data for i in (0, 13, 26)] == [0.4487476730631846, -0.14042157516579942, -0.6557619236656527]
    assert [logits[4][i].data for i in (0, 13, 26)] == [-0.2366875426978579, -0.08308257504057019, 0.2130610603612601]
    assert [s['wte'][26][0].grad, s['wpe'][3][5].grad, s['lm_head'][0][0].grad, s['layer0.attn_wq'][1][2].grad,
            s['layer0.attn_wk'][7][7].grad, s['layer0.mlp_fc1'][10][3].grad, s['layer0.mlp_fc2'][15][63].grad] == [
        0.1074194852841789, 0.23113975738062975, 0.02330245134748949, 2.6067374060224296e-05,
        -0.0004121649543463066, -0.007427624083138914, 0.0007068502502684995]


def test_attention_first_position_returns_its_value():
    keys, values = [], []
    q = [Value(0.3), Value(-1.0), Value(2.0), Value(0.5)]
    v = [Value(1.0), Value(2.0), Value(3.0), Value(4.0)]
    out = attention(q, q, v, keys, values, n_head=2)
    assert [o.data for o in out] == [1.0, 2.0, 3.0, 4.0]
    assert keys == [q] and values == [v]


def test_attention_heads_use_their_own_dimensions():
    draw = random.Random(3)
    vec = lambda: [Value(draw.gauss(0, 1)) for _ in range(8)]
    keys, values = [], []
    attention(vec(), vec(), vec(), keys, values, n_head=2)
    q, k, v = vec(), vec(), vec()
    out = attention(q, k, v, keys, values, n_head=2)
    # head 1 alone, computed by hand on dimensions 4..7
    scores = [sum(q[4 + j].data * kt[4 + j].data for j in range(4)) / 2 for kt in keys]
    m = max(scores)
    e = [math.exp(s - m) for s in scores]
    w = [x / sum(e) for x in e]
    expected = [sum(w[t] * values[t][4 + j].data for t in range(2)) for j in range(4)]
    assert all(abs(o.data - x) < 1e-12 for o, x in zip(out[4:], expected))
