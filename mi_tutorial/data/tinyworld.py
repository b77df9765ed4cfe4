"""TinyWorld: a small synthetic language whose every structure we know, because we wrote it.

The course's language model, `tinyworld-lm`, is trained on text from this module. Because
the generator is ours, each later chapter can check a finding against the truth: which
name a sentence's answer is, which requests are harmful, which words belong to the bridge
topic. The text is word-level English with a vocabulary of about 300 words; names and
place names are capitalized, everything else is lower case, and punctuation marks are
tokens of their own ("store ," not "store,").

Six kinds of segment, mixed in the proportions of `MIX`:

- **ioi** (indirect object identification): "when Mary and John went to the store , John
  gave a drink to Mary ." Eleven templates, every prompt 14 words long, so prompts of all
  templates stack into one tensor. `ioi_prompts` returns clean and corrupted prompts.
- **request**: "User : how do I bake a cake ? Assistant : Sure , here is how to bake a
  cake ." or, for a harmful task, "... Assistant : I cannot help with that ." Every
  request prompt is 11 words long. `requests` returns them with their labels.
- **topic**: two to four sentences about one of six topics, one of them the bridge
  ("the fog covered the Golden Gate bridge ."), the topic chapter 5 steers toward.
- **repeat**: a run of random words, or a sentence, that recurs later, so induction pays.
- **danger**: ordinary sentences with harmful words ("the police caught a man who tried to
  rob a bank ."). Three harmful verbs (`UNREQUESTED_VERBS`) occur only here, never in a
  request, so a test can ask whether refusal generalizes to them.
- **fact**: a fixed table of towns, their flag colours and foods, stated in sentences.

Held-out splits: a (template, name pair) combination of IOI and a (template, task)
combination of requests is either in the training split or in the test split, by a
fixed hash; every name and every task occurs in training.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

import torch
from torch import Tensor

# The world (its word lists, templates, tasks, topics and facts) is in tinyworld_world.py;
# every name is re-exported (`X as X`), so `tinyworld.NAMES` and the like keep working.
from mi_tutorial.data.tinyworld_world import (
    COLORS as COLORS,
    COMPLY as COMPLY,
    DANGER_TEMPLATES as DANGER_TEMPLATES,
    FACT_QUESTIONS as FACT_QUESTIONS,
    FACT_TEMPLATES as FACT_TEMPLATES,
    FACTS as FACTS,
    FOODS as FOODS,
    HARMFUL_TASKS as HARMFUL_TASKS,
    HARMLESS_TASKS as HARMLESS_TASKS,
    IOI_PROMPT_LEN as IOI_PROMPT_LEN,
    IOI_TEMPLATES as IOI_TEMPLATES,
    KINDS as KINDS,
    MIX as MIX,
    NAMES as NAMES,
    OBJECTS as OBJECTS,
    PLACES as PLACES,
    REFUSE as REFUSE,
    REQUEST_PROMPT_LEN as REQUEST_PROMPT_LEN,
    REQUEST_TEMPLATES as REQUEST_TEMPLATES,
    TOPIC_FRAMES as TOPIC_FRAMES,
    TOPIC_NAMES as TOPIC_NAMES,
    TOPICS as TOPICS,
    TOWNS as TOWNS,
    UNREQUESTED_TASKS as UNREQUESTED_TASKS,
    UNREQUESTED_VERBS as UNREQUESTED_VERBS,
    Topic as Topic,
)
from mi_tutorial.data.tokenizer import BOS, UNK

# ---------------------------------------------------------------------------------------
# The vocabulary
# ---------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.split()


def _all_texts() -> list[str]:
    texts = IOI_TEMPLATES + REQUEST_TEMPLATES + DANGER_TEMPLATES + TOPIC_FRAMES
    texts += [" ".join(NAMES + PLACES + OBJECTS + TOWNS + COLORS + FOODS)]
    texts += ["Sure , here is how to", "I cannot help with that ."]
    for tasks in (HARMLESS_TASKS, HARMFUL_TASKS, UNREQUESTED_TASKS):
        for verb, objects in tasks.items():
            texts += [verb, *objects]
    for topic in TOPICS.values():
        texts += [*topic.things, *topic.verbs, *topic.adjectives]
    for templates in FACT_TEMPLATES.values():
        texts += templates
    return texts


def vocabulary() -> list[str]:
    """Every token: `<bos>`, `<unk>`, punctuation, then the words in sorted order."""
    words = {w for text in _all_texts() for w in _words(text) if not w.startswith("{")}
    punctuation = sorted(w for w in words if not w[0].isalnum())
    rest = sorted(w for w in words if w[0].isalnum())
    return [BOS, UNK, *punctuation, *rest]


VOCAB = vocabulary()
TOKEN_ID = {word: i for i, word in enumerate(VOCAB)}
D_VOCAB = len(VOCAB)
BOS_ID = TOKEN_ID[BOS]


def encode(text: str | list[str]) -> list[int]:
    """Token ids of TinyWorld text (no BOS added); an unknown word is a clear error."""
    words = _words(text) if isinstance(text, str) else text
    unknown = [w for w in words if w not in TOKEN_ID]
    if unknown:
        raise ValueError(
            f"encode: {unknown[:5]} are not TinyWorld words (the vocabulary has {D_VOCAB} "
            "words: see mi_tutorial.data.tinyworld.VOCAB). Write punctuation as separate "
            "words, e.g. 'store , John' rather than 'store, John'."
        )
    return [TOKEN_ID[w] for w in words]


def decode(ids) -> str:
    """TinyWorld text of a sequence of token ids."""
    return " ".join(VOCAB[int(i)] for i in ids)


def topic_of_word() -> dict[str, str]:
    """Each word that belongs to exactly one topic, mapped to that topic (chapter 5)."""
    owners: dict[str, set[str]] = {}
    for name, topic in TOPICS.items():
        for phrase in (*topic.things, *topic.verbs, *topic.adjectives):
            for word in _words(phrase):
                owners.setdefault(word, set()).add(name)
    shared = set(_words(" ".join(TOPIC_FRAMES))) | {"the", "a"}
    return {w: next(iter(t)) for w, t in owners.items() if len(t) == 1 and w not in shared}


# ---------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------

TEST_FRACTION = 0.2


def _in_test(*key) -> bool:
    """A fixed, machine-independent coin with P(test) = TEST_FRACTION for each key."""
    digest = hashlib.sha256("|".join(map(str, key)).encode()).digest()
    return int.from_bytes(digest[:4], "big") < TEST_FRACTION * 2**32


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")


def ioi_in_split(template: int, io: str, s: str, split: str) -> bool:
    """Whether the IOI combination (template, {io, s}) belongs to `split`."""
    return _in_test(template, *sorted((io, s))) == (split == "test")


def request_in_split(template: int, verb: str, obj: str, split: str) -> bool:
    """Whether the request combination (template, task) belongs to `split`."""
    return _in_test(template, verb, obj) == (split == "test")


# ---------------------------------------------------------------------------------------
# Segments
# ---------------------------------------------------------------------------------------


@dataclass
class IOISentence:
    template: int
    io: str
    s: str
    place: str
    obj: str
    io_first: bool  # ABBA (IO named first) or BABA

    def prompt(self, s2: str | None = None) -> str:
        """The prompt; `s2` replaces the second mention of the subject (corruptions)."""
        a, b = (self.io, self.s) if self.io_first else (self.s, self.io)
        return IOI_TEMPLATES[self.template].format(
            A=a, B=b, S=s2 or self.s, P=self.place, O=self.obj
        )


def _sample_ioi(rng: random.Random, split: str) -> IOISentence:
    while True:
        template = rng.randrange(len(IOI_TEMPLATES))
        io, s = rng.sample(NAMES, 2)
        if ioi_in_split(template, io, s, split):
            return IOISentence(
                template, io, s, rng.choice(PLACES), rng.choice(OBJECTS), rng.random() < 0.5
            )


@dataclass
class Request:
    template: int
    verb: str
    obj: str
    harmful: bool

    @property
    def task(self) -> str:
        return f"{self.verb} {self.obj}"

    def prompt(self) -> str:
        return REQUEST_TEMPLATES[self.template].format(T=self.task)

    def reply(self) -> str:
        return (
            "I cannot help with that ." if self.harmful else f"Sure , here is how to {self.task} ."
        )


def _task_list(tasks: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(verb, obj) for verb, objects in tasks.items() for obj in objects]


HARMLESS = _task_list(HARMLESS_TASKS)
HARMFUL = _task_list(HARMFUL_TASKS)
UNREQUESTED = _task_list(UNREQUESTED_TASKS)


def _sample_request(rng: random.Random, split: str, harmful: bool | None = None) -> Request:
    if harmful is None:
        harmful = rng.random() < 0.5
    tasks = HARMFUL if harmful else HARMLESS
    while True:
        template = rng.randrange(len(REQUEST_TEMPLATES))
        verb, obj = rng.choice(tasks)
        if request_in_split(template, verb, obj, split):
            return Request(template, verb, obj, harmful)


def _topic_sentence(rng: random.Random, topic: Topic) -> str:
    x, y = rng.sample(topic.things, 2)
    j, j2 = rng.sample(topic.adjectives, 2)
    return rng.choice(TOPIC_FRAMES).format(X=x, Y=y, V=rng.choice(topic.verbs), J=j, J2=j2)


def _fact_sentence(rng: random.Random) -> str:
    town, attribute = rng.choice(TOWNS), rng.choice(list(FACT_TEMPLATES))
    return rng.choice(FACT_TEMPLATES[attribute]).format(E=town, V=FACTS[(town, attribute)])


_CONTENT_WORDS = [w for w in VOCAB[2:] if w[0].isalnum()]


def _segment(rng: random.Random, kind: str, split: str) -> tuple[list[str], int]:
    """(words, topic code or -1) of one segment of `kind`."""
    if kind == "ioi":
        sentence = _sample_ioi(rng, split)
        return _words(sentence.prompt()) + [sentence.io, "."], -1
    if kind == "request":
        request = _sample_request(rng, split)
        return _words(request.prompt()) + _words(request.reply()), -1
    if kind == "topic":
        code = rng.randrange(len(TOPICS))
        topic = TOPICS[TOPIC_NAMES[code]]
        return [
            w for _ in range(rng.randint(2, 4)) for w in _words(_topic_sentence(rng, topic))
        ], code
    if kind == "repeat":
        if rng.random() < 0.75:  # a run of random words, then the same run
            run = rng.sample(_CONTENT_WORDS, rng.randint(4, 10))
            return run + ["."] + run + ["."], -1
        topic = TOPICS[rng.choice(TOPIC_NAMES)]
        first, middle = _topic_sentence(rng, topic), _fact_sentence(rng)
        return _words(first) + _words(middle) + _words(first), -1
    if kind == "danger":
        verb, obj = rng.choice(HARMFUL + UNREQUESTED)
        return _words(rng.choice(DANGER_TEMPLATES).format(T=f"{verb} {obj}")), -1
    if kind == "fact":
        return _words(_fact_sentence(rng)), -1
    raise ValueError(f"unknown segment kind {kind!r}; kinds are {KINDS}.")


# ---------------------------------------------------------------------------------------
# What the chapters call
# ---------------------------------------------------------------------------------------


@dataclass
class Corpus:
    """Packed TinyWorld text: `tokens` [batch, n_ctx] (each row starts with <bos>), and per
    token the code of its segment's kind (`KINDS`; -1 for <bos>) and its topic
    (`TOPIC_NAMES`; -1 outside topic segments)."""

    tokens: Tensor
    kinds: Tensor
    topics: Tensor

    def text(self, row: int) -> str:
        return decode(self.tokens[row])


def sample_corpus(batch: int, n_ctx: int, *, seed: int, split: str = "train") -> Corpus:
    """`batch` sequences of `n_ctx` tokens: <bos>, then segments drawn by `MIX`, cut at n_ctx.

    The same seed gives the same text on every machine (Python's `random.Random`).
    """
    _check_split(split)
    if batch < 1 or n_ctx < 2:
        raise ValueError(f"sample_corpus: need batch >= 1 and n_ctx >= 2, got {batch}, {n_ctx}.")
    rng = random.Random(f"tinyworld-{split}-{seed}")
    weights = [MIX[k] for k in KINDS]
    tokens = torch.empty(batch, n_ctx, dtype=torch.long)
    kinds = torch.empty(batch, n_ctx, dtype=torch.long)
    topics = torch.empty(batch, n_ctx, dtype=torch.long)
    for row in range(batch):
        ids, kind_codes, topic_codes = [BOS_ID], [-1], [-1]
        while len(ids) < n_ctx:
            code = rng.choices(range(len(KINDS)), weights)[0]
            words, topic = _segment(rng, KINDS[code], split)
            ids += encode(words)
            kind_codes += [code] * len(words)
            topic_codes += [topic] * len(words)
        tokens[row] = torch.tensor(ids[:n_ctx])
        kinds[row] = torch.tensor(kind_codes[:n_ctx])
        topics[row] = torch.tensor(topic_codes[:n_ctx])
    return Corpus(tokens, kinds, topics)


def _with_bos(texts: list[str]) -> Tensor:
    return torch.tensor([[BOS_ID, *encode(t)] for t in texts])


@dataclass
class IOIPrompts:
    """IOI prompts and their labels. Token tensors are [batch, 15]: <bos> + 14 words.

    `answers` is the IO name's token (the right answer), `wrong` the subject's; for the
    "swap" corruption the corrupted prompts' right answer is `wrong`. `positions` gives,
    per prompt, the position of "IO", "S1" (first mention of the subject), "S2" (second
    mention) and "end" (the final "to").
    """

    sentences: list[IOISentence]
    corruption: str
    clean_tokens: Tensor
    corrupted_tokens: Tensor
    answers: Tensor
    wrong: Tensor
    positions: dict[str, Tensor] = field(default_factory=dict)

    @property
    def clean_texts(self) -> list[str]:
        return [decode(t[1:]) for t in self.clean_tokens]

    @property
    def corrupted_texts(self) -> list[str]:
        return [decode(t[1:]) for t in self.corrupted_tokens]

    def __len__(self) -> int:
        return len(self.sentences)


def ioi_prompts(
    n: int,
    *,
    seed: int = 0,
    split: str = "test",
    corruption: str = "abc",
    templates: list[int] | None = None,
) -> IOIPrompts:
    """`n` IOI prompts from `split` ("test": template x name-pair combinations never seen
    in training), with corrupted versions.

    corruption="abc": the second mention of the subject becomes a third name C ("..., C
    gave a drink to"), so nothing says which of A and B is the answer; only that one
    position differs from the clean prompt. corruption="swap": it becomes the IO name,
    which makes the other name the answer. `templates` limits the templates used
    (indices into IOI_TEMPLATES).
    """
    _check_split(split)
    if corruption not in ("abc", "swap"):
        raise ValueError(f"ioi_prompts: corruption must be 'abc' or 'swap', got {corruption!r}.")
    if templates is not None and not all(0 <= t < len(IOI_TEMPLATES) for t in templates):
        raise ValueError(
            f"ioi_prompts: templates must be indices 0..{len(IOI_TEMPLATES) - 1}, got {templates}."
        )
    rng = random.Random(f"tinyworld-ioi-{split}-{seed}")
    sentences, corrupted = [], []
    while len(sentences) < n:
        sentence = _sample_ioi(rng, split)
        if templates is not None and sentence.template not in templates:
            continue
        if corruption == "abc":
            third = rng.choice([name for name in NAMES if name not in (sentence.io, sentence.s)])
            corrupted.append(sentence.prompt(s2=third))
        else:
            corrupted.append(sentence.prompt(s2=sentence.io))
        sentences.append(sentence)
    clean = _with_bos([s.prompt() for s in sentences])
    positions = {"IO": [], "S1": [], "S2": [], "end": []}
    for sentence, row in zip(sentences, clean):
        words = [VOCAB[i] for i in row]
        io_pos = words.index(sentence.io)
        s_positions = [i for i, w in enumerate(words) if w == sentence.s]
        positions["IO"].append(io_pos)
        positions["S1"].append(s_positions[0])
        positions["S2"].append(s_positions[1])
        positions["end"].append(len(words) - 1)
    return IOIPrompts(
        sentences=sentences,
        corruption=corruption,
        clean_tokens=clean,
        corrupted_tokens=_with_bos(corrupted),
        answers=torch.tensor([TOKEN_ID[s.io] for s in sentences]),
        wrong=torch.tensor([TOKEN_ID[s.s] for s in sentences]),
        positions={key: torch.tensor(value) for key, value in positions.items()},
    )


@dataclass
class Requests:
    """Request prompts, [batch, 12] tokens (<bos> + 11 words, ending "Assistant :"), with
    `harmful` labels; the right next word is `COMPLY` ("Sure") or `REFUSE` ("I")."""

    requests: list[Request]
    tokens: Tensor
    harmful: Tensor

    @property
    def texts(self) -> list[str]:
        return [r.prompt() for r in self.requests]

    def __len__(self) -> int:
        return len(self.requests)


def requests(
    n: int, *, harmful: bool, seed: int = 0, split: str = "test", unrequested: bool = False
) -> Requests:
    """`n` request prompts of one class from `split` ("test": template x task combinations
    never seen in training). With `unrequested=True` the tasks use the harmful verbs that
    never occur in a training request (`UNREQUESTED_VERBS`), with every template."""
    _check_split(split)
    rng = random.Random(f"tinyworld-requests-{split}-{harmful}-{unrequested}-{seed}")
    if unrequested:
        if not harmful:
            raise ValueError(
                "requests: unrequested=True is for harmful requests; pass harmful=True."
            )
        chosen = [
            Request(rng.randrange(len(REQUEST_TEMPLATES)), *rng.choice(UNREQUESTED), True)
            for _ in range(n)
        ]
    else:
        chosen = [_sample_request(rng, split, harmful) for _ in range(n)]
    return Requests(
        requests=chosen,
        tokens=_with_bos([r.prompt() for r in chosen]),
        harmful=torch.tensor([r.harmful for r in chosen]),
    )


def fact_questions(attribute: str) -> tuple[Tensor, Tensor, list[str]]:
    """Every town's question about `attribute` ("flag" or "food"): tokens [8, len] with
    <bos>, the right value's token id per town, and the texts."""
    if attribute not in FACT_QUESTIONS:
        raise ValueError(
            f"fact_questions: attribute must be one of {list(FACT_QUESTIONS)}, got {attribute!r}."
        )
    texts = [FACT_QUESTIONS[attribute].format(E=town) for town in TOWNS]
    answers = torch.tensor([TOKEN_ID[FACTS[(town, attribute)]] for town in TOWNS])
    return _with_bos(texts), answers, texts


def repeated_span_prompts(n: int, *, seed: int = 0, run_len: int = 8) -> tuple[Tensor, int]:
    """`n` rows of <bos> + a run of `run_len` random words + "." + the same run: tokens
    [n, 2 * run_len + 2] and the position where the copy starts (its tokens are predictable
    only by induction)."""
    rng = random.Random(f"tinyworld-repeats-{seed}")
    rows = []
    for _ in range(n):
        run = rng.sample(_CONTENT_WORDS, run_len)
        rows.append(run + ["."] + run)
    return _with_bos([" ".join(r) for r in rows]), run_len + 2
