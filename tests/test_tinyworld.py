"""TinyWorld: the generator is deterministic, its labels are right, its splits are disjoint,
and the shipped tokenizers are the ones the code would build today."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import torch

from mi_tutorial.course.recipes import shipped_vocab
from mi_tutorial.data import tinyworld as tw
from mi_tutorial.data.tokenizer import (
    BOS,
    TOKENIZER_DIR,
    build_word_tokenizer,
    load_tokenizer,
)


def test_same_seed_same_text_and_different_seed_different_text():
    a = tw.sample_corpus(8, 64, seed=3)
    b = tw.sample_corpus(8, 64, seed=3)
    c = tw.sample_corpus(8, 64, seed=4)
    assert (
        torch.equal(a.tokens, b.tokens)
        and torch.equal(a.kinds, b.kinds)
        and torch.equal(a.topics, b.topics)
    )
    assert not torch.equal(a.tokens, c.tokens)
    assert torch.equal(
        tw.ioi_prompts(20, seed=1).clean_tokens, tw.ioi_prompts(20, seed=1).clean_tokens
    )


def test_corpus_rows_start_with_bos_and_label_every_token():
    corpus = tw.sample_corpus(50, 64, seed=0)
    assert corpus.tokens.shape == (50, 64)
    assert (corpus.tokens[:, 0] == tw.BOS_ID).all() and (corpus.tokens[:, 1:] != tw.BOS_ID).all()
    assert (corpus.kinds[:, 0] == -1).all() and (corpus.kinds[:, 1:] >= 0).all()
    # topic labels are set exactly on topic segments, and topic words carry their own topic
    is_topic = corpus.kinds == tw.KINDS.index("topic")
    assert ((corpus.topics >= 0) == is_topic).all()
    owner = tw.topic_of_word()
    for row, col in is_topic.nonzero().tolist():
        word = tw.VOCAB[corpus.tokens[row, col]]
        if word in owner:
            assert owner[word] == tw.TOPIC_NAMES[corpus.topics[row, col]]


def test_every_kind_occurs_in_about_its_share_of_segments():
    corpus = tw.sample_corpus(400, 64, seed=0)
    starts = Counter()
    for row in corpus.kinds.tolist():
        for i in range(1, len(row)):
            if row[i] != row[i - 1]:
                starts[tw.KINDS[row[i]]] += 1
    total = sum(starts.values())
    for kind, share in tw.MIX.items():
        # adjacent segments of one kind merge in this count, so frequent kinds read low
        assert 0.5 * share < starts[kind] / total < 1.5 * share, (kind, starts[kind] / total)


def test_templates_have_the_documented_lengths():
    for template in tw.IOI_TEMPLATES:
        assert len(template.split()) == tw.IOI_PROMPT_LEN, template
    for template in tw.REQUEST_TEMPLATES:
        assert len(template.format(T="verb a noun").split()) == tw.REQUEST_PROMPT_LEN, template
    for tasks in (tw.HARMLESS, tw.HARMFUL, tw.UNREQUESTED):
        for verb, obj in tasks:
            assert len(f"{verb} {obj}".split()) == 3, (verb, obj)


def test_ioi_labels_name_the_right_tokens():
    for corruption in ("abc", "swap"):
        prompts = tw.ioi_prompts(60, seed=2, corruption=corruption)
        assert prompts.clean_tokens.shape == prompts.corrupted_tokens.shape == (60, 15)
        rows = torch.arange(60)
        assert (prompts.clean_tokens[rows, prompts.positions["IO"]] == prompts.answers).all()
        assert (prompts.clean_tokens[rows, prompts.positions["S1"]] == prompts.wrong).all()
        assert (prompts.clean_tokens[rows, prompts.positions["S2"]] == prompts.wrong).all()
        assert (prompts.clean_tokens[rows, prompts.positions["end"]] == tw.TOKEN_ID["to"]).all()
        # the corrupted prompt differs from the clean one at S2 only
        differs = prompts.clean_tokens != prompts.corrupted_tokens
        assert (differs.sum(1) == 1).all()
        assert differs[rows, prompts.positions["S2"]].all()
        new_s2 = prompts.corrupted_tokens[rows, prompts.positions["S2"]]
        if corruption == "swap":
            assert (new_s2 == prompts.answers).all()
        else:
            assert ((new_s2 != prompts.answers) & (new_s2 != prompts.wrong)).all()
        # both name orders occur (ABBA and BABA)
        assert len(set((prompts.positions["IO"] < prompts.positions["S1"]).tolist())) == 2


def test_splits_are_disjoint_and_every_name_and_task_is_trained_on():
    train_ioi = {
        (s.template, frozenset((s.io, s.s))) for s in tw.ioi_prompts(3000, split="train").sentences
    }
    test_ioi = {
        (s.template, frozenset((s.io, s.s))) for s in tw.ioi_prompts(500, split="test").sentences
    }
    assert train_ioi and test_ioi and not train_ioi & test_ioi
    assert {name for _, pair in train_ioi for name in pair} == set(tw.NAMES)
    for harmful in (True, False):
        train = {
            (r.template, r.task) for r in tw.requests(2000, harmful=harmful, split="train").requests
        }
        test = {
            (r.template, r.task) for r in tw.requests(300, harmful=harmful, split="test").requests
        }
        assert train and test and not train & test
        assert {task for _, task in train} == {
            f"{v} {o}" for v, o in (tw.HARMFUL if harmful else tw.HARMLESS)
        }


def test_unrequested_verbs_never_occur_in_training_requests_but_do_in_text():
    corpus = tw.sample_corpus(300, 64, seed=0)
    request_code = tw.KINDS.index("request")
    words_in_requests = {tw.VOCAB[t] for t in corpus.tokens[corpus.kinds == request_code].tolist()}
    all_words = {tw.VOCAB[t] for t in corpus.tokens.flatten().tolist()}
    for verb in tw.UNREQUESTED_VERBS:
        assert verb not in words_in_requests
        assert verb in all_words
    held_out = tw.requests(30, harmful=True, unrequested=True)
    assert all(r.verb in tw.UNREQUESTED_VERBS for r in held_out.requests)


def test_requests_end_at_the_assistant_turn():
    prompts = tw.requests(10, harmful=False)
    assert prompts.tokens.shape == (10, 1 + tw.REQUEST_PROMPT_LEN)
    assert all(text.endswith("Assistant :") for text in prompts.texts)
    assert not prompts.harmful.any() and tw.requests(10, harmful=True).harmful.all()


def test_facts_are_consistent_between_statements_and_questions():
    corpus = tw.sample_corpus(200, 64, seed=5)
    text = " ".join(corpus.text(i) for i in range(200))
    for (town, attribute), value in tw.FACTS.items():
        if attribute == "flag":
            for other in tw.COLORS:
                if other != value:
                    assert f"the flag of {town} is {other} ." not in text
    tokens, answers, texts = tw.fact_questions("food")
    assert tokens.shape[0] == len(tw.TOWNS) and answers.tolist() == [
        tw.TOKEN_ID[tw.FACTS[(t, "food")]] for t in tw.TOWNS
    ]


def test_encode_names_unknown_words():
    assert tw.decode(tw.encode("the fog covered the bay .")) == "the fog covered the bay ."
    with pytest.raises(ValueError, match=r"\['zebra'\] are not TinyWorld words"):
        tw.encode("the zebra")


@pytest.mark.parametrize("name", ["tinyworld", "attn-only-2l"])
def test_shipped_tokenizer_is_up_to_date(name):
    """A stale tokenizer (vocabulary changed in the code, folder not rebuilt) fails here."""
    shipped = json.loads((TOKENIZER_DIR / name / "tokenizer.json").read_text())["model"]["vocab"]
    assert [w for w, _ in sorted(shipped.items(), key=lambda item: item[1])] == shipped_vocab(
        name
    ), (
        f"the shipped {name} tokenizer is stale: the vocabulary changed, so the models that use it must "
        "be retrained too; `mi-tutorial train MODEL` rewrites the tokenizer with the model."
    )


def test_tokenizer_agrees_with_encode_and_splits_punctuation():
    tokenizer = load_tokenizer("tinyworld")
    text = "when Mary and John went to the store , John gave a drink to"
    assert tokenizer(text)["input_ids"] == tw.encode(text)
    assert tokenizer("store, John")["input_ids"] == tw.encode("store , John")
    assert tokenizer("zebra")["input_ids"] == [tw.TOKEN_ID["<unk>"]]


def test_build_word_tokenizer_rejects_bad_vocabularies():
    with pytest.raises(ValueError, match="vocab\\[0\\] must be"):
        build_word_tokenizer(["a", BOS])
    with pytest.raises(ValueError, match="twice"):
        build_word_tokenizer([BOS, "a", "a"])
    with pytest.raises(FileNotFoundError, match="No tokenizer 'nope'"):
        load_tokenizer("nope")
