"""The autograd engine: every operation against finite differences, accumulation, topological order."""
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microgpt.autograd import Value

H = 1e-6  # step of the central differences

positive = st.floats(min_value=0.5, max_value=3.0)        # safe for log, division and negative powers
anywhere = st.floats(min_value=-3.0, max_value=3.0)
away_from_zero = st.one_of(st.floats(min_value=-3.0, max_value=-0.1), st.floats(min_value=0.1, max_value=3.0))

# name -> (function of Values, strategies of its Value inputs)
OPERATIONS = {
    'add': (lambda a, b: a + b, (anywhere, anywhere)),
    'mul': (lambda a, b: a * b, (anywhere, anywhere)),
    'pow2': (lambda a: a ** 2, (anywhere,)),
    'pow3': (lambda a: a ** 3, (anywhere,)),
    'pow-1': (lambda a: a ** -1, (positive,)),
    'pow-0.5': (lambda a: a ** -0.5, (positive,)),
    'pow0.5': (lambda a: a ** 0.5, (positive,)),
    'log': (lambda a: a.log(), (positive,)),
    'exp': (lambda a: a.exp(), (anywhere,)),
    'relu': (lambda a: a.relu(), (away_from_zero,)),
    'neg': (lambda a: -a, (anywhere,)),
    'sub': (lambda a, b: a - b, (anywhere, anywhere)),
    'truediv': (lambda a, b: a / b, (anywhere, positive)),
    'radd': (lambda a: 2.5 + a, (anywhere,)),
    'rsub': (lambda a: 2.5 - a, (anywhere,)),
    'rmul': (lambda a: 2.5 * a, (anywhere,)),
    'rtruediv': (lambda a: 2.5 / a, (positive,)),
    'composite': (lambda a, b: (a * b + a.exp()) / (b ** 2 + 1) - (2.0 * b).log(), (anywhere, positive)),
}


def finite_difference(f, inputs, i):
    up, down = list(inputs), list(inputs)
    up[i] += H
    down[i] -= H
    return (f(*map(Value, up)).data - f(*map(Value, down)).data) / (2 * H)


@pytest.mark.parametrize('name', sorted(OPERATIONS))
def test_gradient_matches_finite_difference(name):
    f, strategies = OPERATIONS[name]

    @settings(max_examples=40, deadline=None)
    @given(st.tuples(*strategies))
    def check(inputs):
        values = [Value(x) for x in inputs]
        out = f(*values)
        out.backward()
        for i, v in enumerate(values):
            assert math.isclose(v.grad, finite_difference(f, inputs, i), rel_tol=1e-5, abs_tol=1e-6), (name, inputs, i)

    check()


def test_forward_values():
    a, b = Value(1.5), Value(-0.5)
    assert (a + b).data == 1.0
    assert (a * b).data == -0.75
    assert (a ** 2).data == 2.25
    assert Value(math.e).log().data == 1.0
    assert Value(0.0).exp().data == 1.0
    assert (a.relu().data, b.relu().data) == (1.5, 0)
    assert (-a).data == -1.5
    assert (a - b).data == 2.0
    assert (1 + a).data == 2.5 and (1 - a).data == -0.5 and (2 * a).data == 3.0 and (3 / a).data == 2.0


def test_division_is_multiplication_by_the_reciprocal():
    # the reference computes a / b as a * b**-1: two roundings, not one
    assert 3.0 / 10.0 != 3.0 * 10.0 ** -1
    assert (Value(3.0) / Value(10.0)).data == 3.0 * 10.0 ** -1
    assert (Value(3.0) / 10.0).data == 3.0 * 10.0 ** -1
    assert (3.0 / Value(10.0)).data == 10.0 ** -1 * 3.0


def test_sum_is_a_left_fold():
    xs = [0.1, 0.2, 0.3, 1e16, -1e16]
    total = sum(Value(x) for x in xs)
    expected = 0
    for x in xs:
        expected = expected + x
    assert total.data == expected
    assert total.data != math.fsum(xs)  # not a compensated sum


def test_shared_node_accumulates():
    x = Value(3.0)
    y = x * x  # x is both children of one node
    y.backward()
    assert x.grad == 6.0

    a, b = Value(2.0), Value(-3.0)
    c = a * b
    d = c + a
    L = d * c  # c is used by d and by L
    L.backward()
    # L = a^2 b^2 + a^2 b
    assert c.grad == d.data + c.data  # -4 from L directly, -6 through d
    assert a.grad == 2 * 2.0 * 9.0 + 2 * 2.0 * -3.0
    assert b.grad == 2 * 4.0 * -3.0 + 4.0


def test_gradients_start_at_zero_and_accumulate_across_calls():
    x = Value(2.0)
    assert x.grad == 0
    (x * 3).backward()
    (x * 3).backward()
    assert x.grad == 6.0  # the optimiser must reset it


@st.composite
def graphs(draw):
    """A random expression graph: some leaves, then nodes that combine earlier nodes."""
    nodes = [Value(draw(st.floats(min_value=0.5, max_value=2.0))) for _ in range(draw(st.integers(1, 4)))]
    for _ in range(draw(st.integers(0, 25))):
        op = draw(st.sampled_from(['add', 'mul', 'exp', 'sub', 'relu']))
        a = nodes[draw(st.integers(0, len(nodes) - 1))]
        b = nodes[draw(st.integers(0, len(nodes) - 1))]
        nodes.append({'add': lambda: a + b, 'mul': lambda: a * b * 0.5, 'exp': lambda: (a * 0.1).exp(),
                      'sub': lambda: a - b, 'relu': lambda: a.relu()}[op]())
    return nodes


@settings(max_examples=100, deadline=None)
@given(graphs())
def test_topological_order(nodes):
    root = nodes[-1]
    order = root.topological_order()
    position = {v: i for i, v in enumerate(order)}
    assert len(position) == len(order)  # every node once
    assert order[-1] is root
    for v in order:
        for child in v._children:
            assert position[child] < position[v]  # children first
    # and it holds everything the root depends on
    reachable, stack = set(), [root]
    while stack:
        v = stack.pop()
        if v not in reachable:
            reachable.add(v)
            stack.extend(v._children)
    assert reachable == set(order)
