"""microgpt.tokenizer: the character vocabulary, BOS, round trips and the growing prefixes."""
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microgpt.tokenizer import Tokenizer, contexts


def test_vocabulary_of_the_real_data(tok):
    assert tok.chars == list(string.ascii_lowercase)
    assert tok.vocab_size == 27 and tok.BOS == 26
    assert tok.encode('a')[1] == 0 and tok.encode('z')[1] == 25


def test_ids_do_not_depend_on_document_order(docs):
    assert Tokenizer(docs).chars == Tokenizer(list(reversed(docs))).chars


@given(docs=st.lists(st.text(min_size=1), min_size=1), data=st.data())
def test_round_trip_over_any_vocabulary(docs, data):
    tok = Tokenizer(docs)
    text = data.draw(st.text(alphabet=tok.chars))
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert len(ids) == len(text) + 2
    assert all(0 <= i < tok.vocab_size for i in ids)


@given(text=st.text(alphabet=string.ascii_lowercase, max_size=40))
def test_round_trip_of_the_real_vocabulary(tok, text):
    assert tok.decode(tok.encode(text)) == text


@given(text=st.text(alphabet=string.ascii_lowercase))
def test_bos_only_at_both_ends(tok, text):
    ids = tok.encode(text)
    assert ids[0] == ids[-1] == tok.BOS
    assert tok.BOS not in ids[1:-1]


def test_decode_drops_bos_anywhere(tok):
    assert tok.decode([tok.BOS, 0, tok.BOS, 1, tok.BOS]) == 'ab'
    assert tok.decode([tok.BOS, tok.BOS]) == ''


@pytest.mark.parametrize('text, bad', [('Emma', 'E'), ('zoë', 'ë'), ('anne marie', ' '), ('x\n', '\n')])
def test_unknown_character_is_named(tok, text, bad):
    with pytest.raises(ValueError) as caught:
        tok.encode(text)
    assert repr(bad) in str(caught.value)


@given(tokens=st.lists(st.integers(0, 26), min_size=2, max_size=40), block_size=st.integers(1, 20))
def test_contexts_count_and_shape(tokens, block_size):
    pairs = contexts(tokens, block_size)
    assert len(pairs) == min(block_size, len(tokens) - 1)
    for pos, (context, target) in enumerate(pairs):
        assert context == tokens[:pos + 1]
        assert target == tokens[pos + 1]
        assert len(context) <= block_size


def test_contexts_of_a_name(tok):
    pairs = contexts(tok.encode('ava'), 16)
    assert [(tok.decode(c), tok.chars[t] if t != tok.BOS else 'BOS') for c, t in pairs] == [
        ('', 'a'), ('a', 'v'), ('av', 'a'), ('ava', 'BOS')]
    assert pairs[0][0] == [tok.BOS]


def test_contexts_crop_long_documents(tok):
    tokens = tok.encode('maximilianalexanderthegreat')
    pairs = contexts(tokens, 16)
    assert len(pairs) == 16
    assert pairs[-1] == (tokens[:16], tokens[16])
    assert all(target != tok.BOS for _, target in pairs)  # the closing BOS is cropped away


def test_no_real_name_is_cropped(tok, docs):
    assert max(len(tok.encode(doc)) - 1 for doc in docs) == 16
    assert all(len(contexts(tok.encode(doc), 16)) == len(doc) + 1 for doc in docs)
