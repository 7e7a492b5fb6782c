"""The building blocks: matrix, linear, softmax, rmsnorm."""
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt.autograd import Value
from microgpt.nn import linear, matrix, rmsnorm, softmax

logit = st.floats(min_value=-50.0, max_value=50.0)


def test_matrix_draws_row_by_row():
    w = matrix(random.Random(7), 3, 5, std=0.5)
    draw = random.Random(7)
    assert [[v.data for v in row] for row in w] == [[draw.gauss(0, 0.5) for _ in range(5)] for _ in range(3)]
    assert all(isinstance(v, Value) and v.grad == 0 for row in w for v in row)


def test_matrix_default_std_is_0_08():
    w = matrix(random.Random(0), 1, 2)
    draw = random.Random(0)
    assert [v.data for v in w[0]] == [draw.gauss(0, 0.08), draw.gauss(0, 0.08)]


def test_linear_matches_a_manual_left_to_right_sum():
    draw = random.Random(1)
    w = matrix(draw, 4, 6, std=1.0)
    x = [Value(draw.gauss(0, 1)) for _ in range(6)]
    y = linear(x, w)
    assert len(y) == 4
    for o, row in enumerate(w):
        expected = 0
        for i in range(6):
            expected = expected + row[i].data * x[i].data
        assert y[o].data == expected


def test_linear_gradients():
    draw = random.Random(2)
    w = matrix(draw, 3, 4, std=1.0)
    x = [Value(draw.gauss(0, 1)) for _ in range(4)]
    y = linear(x, w)
    y[1].backward()
    assert [v.grad for v in w[1]] == [xi.data for xi in x]  # dy_o/dW[o][i] = x[i]
    assert all(v.grad == 0 for o in (0, 2) for v in w[o])
    assert [xi.grad for xi in x] == [v.data for v in w[1]]  # dy_o/dx[i] = W[o][i]


@settings(max_examples=50, deadline=None)
@given(st.lists(logit, min_size=1, max_size=30))
def test_softmax_is_a_distribution(zs):
    probs = [p.data for p in softmax([Value(z) for z in zs])]
    assert all(0 <= p <= 1 for p in probs)
    assert math.isclose(sum(probs), 1.0, rel_tol=1e-12)
    top = max(range(len(zs)), key=lambda i: zs[i])
    assert probs[top] == max(probs)


@settings(max_examples=50, deadline=None)
@given(st.lists(logit, min_size=1, max_size=30), st.floats(min_value=-100.0, max_value=100.0))
def test_softmax_is_shift_invariant(zs, c):
    a = [p.data for p in softmax([Value(z) for z in zs])]
    b = [p.data for p in softmax([Value(z + c) for z in zs])]
    assert all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-15) for x, y in zip(a, b))


def test_softmax_does_not_overflow():
    probs = [p.data for p in softmax([Value(1000.0), Value(999.0), Value(-1000.0)])]
    assert probs == [p.data for p in softmax([Value(1.0), Value(0.0), Value(-1999.0)])]
    assert math.isclose(probs[0], 1 / (1 + math.exp(-1)), rel_tol=1e-12)
    assert probs[2] == 0.0
    probs = [p.data for p in softmax([Value(-1000.0), Value(-1000.0)])]  # every exp(z) would underflow
    assert probs == [0.5, 0.5]


def test_softmax_gradient():
    # d p_i / d z_j = p_i (delta_ij - p_j)
    zs = [Value(0.3), Value(-1.2), Value(2.0)]
    probs = softmax(zs)
    probs[0].backward()
    p = [q.data for q in probs]
    for j, z in enumerate(zs):
        assert math.isclose(z.grad, p[0] * ((j == 0) - p[j]), rel_tol=1e-9, abs_tol=1e-15)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-100.0, max_value=100.0), min_size=1, max_size=64))
def test_rmsnorm_gives_unit_rms(xs):
    rms_in = math.sqrt(sum(x * x for x in xs) / len(xs))
    ys = [y.data for y in rmsnorm([Value(x) for x in xs])]
    rms_out = math.sqrt(sum(y * y for y in ys) / len(ys))
    assert math.isclose(rms_out, rms_in / math.sqrt(rms_in ** 2 + 1e-5), rel_tol=1e-9, abs_tol=1e-12)
    if rms_in >= 0.1:
        assert math.isclose(rms_out, 1.0, abs_tol=1e-3)


def test_rmsnorm_keeps_direction_and_handles_zero():
    ys = [y.data for y in rmsnorm([Value(3.0), Value(4.0), Value(0.0), Value(0.0)])]
    assert math.isclose(ys[1] / ys[0], 4 / 3, rel_tol=1e-12)
    assert [round(y, 4) for y in ys] == [1.2, 1.6, 0.0, 0.0]
    assert [y.data for y in rmsnorm([Value(0.0)] * 5)] == [0.0] * 5


def test_rmsnorm_operation_order():
    # mean of squares summed left to right, divided as a * n**-1, then (ms + 1e-5) ** -0.5
    xs = [0.7, -1.3, 0.25, 2.0, -0.01]
    ms = 0
    for x in xs:
        ms = ms + x * x
    scale = (ms * len(xs) ** -1 + 1e-5) ** -0.5
    assert [y.data for y in rmsnorm([Value(x) for x in xs])] == [x * scale for x in xs]
