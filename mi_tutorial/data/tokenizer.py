"""Word-level tokenizers for the course's toy models, shipped in the package.

A toy model works on integer tokens; a tokenizer gives each id a word, so that
`model.to_str_tokens`, `model.to_tokens` and `transformer_lens.head_detector` work as they
do on GPT-2. The tokenizers are ordinary Hugging Face tokenizers (built with the
`tokenizers` library, saved with `save_pretrained`) stored under
`mi_tutorial/tokenizers/NAME/` and loaded from that folder, never from a hub.

Like GPT-2's `<|endoftext|>`, one special token `<bos>` (id 0) begins every sequence and
also serves as end-of-text and padding. TinyWorld adds `<unk>` (id 1) for words outside
its vocabulary.
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers

TOKENIZER_DIR = Path(__file__).resolve().parent.parent / "tokenizers"
BOS = "<bos>"
UNK = "<unk>"


def build_word_tokenizer(vocab: list[str], *, unk: str | None = None):
    """A `PreTrainedTokenizerFast` whose token i is `vocab[i]`; `vocab[0]` must be `<bos>`.

    Text is split on whitespace and punctuation ("store," -> "store", ","), and each piece
    is looked up whole. `unk` names the token unknown words become; with `unk=None` the
    vocabulary is closed (as in the attention-only model's, which has no spare id).
    """
    from transformers import PreTrainedTokenizerFast

    if not vocab or vocab[0] != BOS:
        raise ValueError(f"build_word_tokenizer: vocab[0] must be {BOS!r}, got {vocab[:1]!r}.")
    if len(set(vocab)) != len(vocab):
        repeated = sorted({word for word in vocab if vocab.count(word) > 1})
        raise ValueError(f"build_word_tokenizer: words appear twice in vocab: {repeated[:10]}.")
    if unk is not None and unk not in vocab:
        raise ValueError(f"build_word_tokenizer: unk={unk!r} is not in vocab.")
    word_level = models.WordLevel({word: i for i, word in enumerate(vocab)}, unk_token=unk or BOS)
    backend = Tokenizer(word_level)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=BOS,
        pad_token=BOS,
        unk_token=unk or BOS,
        model_max_length=1_000_000,
        clean_up_tokenization_spaces=False,
    )


def save_tokenizer(tokenizer, name: str, directory: Path | str = TOKENIZER_DIR) -> Path:
    """Write `tokenizer` to `directory/name/` with `save_pretrained`; returns the folder."""
    folder = Path(directory) / name
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(folder))
    # Keep only what loading needs, with stable formatting, so a rebuild gives no diff.
    for path in folder.glob("*.json"):
        path.write_text(json.dumps(json.loads(path.read_text()), indent=1, sort_keys=True) + "\n")
    return folder


def load_tokenizer(name: str, directory: Path | str = TOKENIZER_DIR):
    """The shipped tokenizer `name` ("tinyworld", "attn-only-2l"), loaded from its folder.

    TransformerLens needs it loaded this way (`AutoTokenizer.from_pretrained(folder)`) to
    prepend `<bos>` in `to_tokens`.
    """
    from transformers import AutoTokenizer

    folder = Path(directory) / name
    if not (folder / "tokenizer.json").exists():
        known = sorted(p.name for p in Path(directory).glob("*") if (p / "tokenizer.json").exists())
        raise FileNotFoundError(
            f"No tokenizer {name!r} in {directory} (known: {', '.join(known) or 'none'}). "
            "Restore the folder with `git checkout`, or reinstall the package."
        )
    return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
