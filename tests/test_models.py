"""mi_tutorial.models: configs, checkpoints (save, load, verify) and load_pretrained offline."""

import hashlib
import json
import shutil

import pytest
import torch

from mi_tutorial.models import (
    CHECKPOINT_DIR,
    CheckpointError,
    boot,
    load_checkpoint,
    load_pretrained,
    make_config,
    read_manifest,
    save_checkpoint,
    verify_checkpoints,
)

TINY = dict(
    n_layers=1,
    d_model=8,
    d_head=4,
    n_heads=2,
    n_ctx=8,
    d_vocab=10,
    attn_only=True,
    normalization_type=None,
    seed=1,
)


def trained_looking_tiny_model():
    """A tiny model whose weights differ from a fresh boot of the same config, so a
    round trip that silently re-initialised from the seed would be caught."""
    model = boot(TINY)
    generator = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator))
    return model


# --- make_config ----------------------------------------------------------------------


def test_make_config_typo_names_the_key_and_suggests_the_right_one():
    with pytest.raises(ValueError, match="'n_layer'") as error:
        make_config(**{**TINY, "n_layer": 3})
    assert "n_layers" in str(error.value)


def test_make_config_without_d_vocab_fails_early_and_says_so():
    config = {key: value for key, value in TINY.items() if key != "d_vocab"}
    with pytest.raises(ValueError, match="d_vocab"):
        make_config(**config)


def test_make_config_names_missing_required_keys():
    with pytest.raises(ValueError, match="d_model"):
        make_config(n_layers=1, d_head=4, n_ctx=8, d_vocab=10)


def test_boot_returns_eval_mode_model_of_the_config():
    model = boot(TINY)
    assert not model.training
    assert model.cfg.n_layers == TINY["n_layers"] and model.cfg.d_vocab == TINY["d_vocab"]


# --- save / load ----------------------------------------------------------------------


def test_save_load_round_trip_is_exact(tmp_path):
    model = trained_looking_tiny_model()
    path = save_checkpoint(
        model,
        "tiny",
        config_kwargs=TINY,
        seed=7,
        command="make tiny",
        metrics={"loss": 1.5, "best_head": "0.1"},
        directory=tmp_path,
    )
    assert path == tmp_path / "tiny.safetensors"

    loaded = load_checkpoint("tiny", directory=tmp_path)
    assert not loaded.training
    original, restored = model.state_dict(), loaded.state_dict()
    assert original.keys() == restored.keys()
    for key in original:
        assert torch.equal(original[key], restored[key]), key
    tokens = torch.randint(0, TINY["d_vocab"], (3, TINY["n_ctx"]))
    assert torch.equal(model(tokens), loaded(tokens))


def test_a_checkpoint_comes_with_its_shipped_tokenizer(tmp_path):
    """The manifest names a tokenizer; loading attaches it, so strings work like on GPT-2."""
    config = {**TINY, "d_vocab": 64}  # the attn-only-2l tokenizer's 64 words
    save_checkpoint(
        boot(config),
        "tiny",
        config_kwargs=config,
        seed=7,
        command="make tiny",
        metrics={},
        directory=tmp_path,
        tokenizer="attn-only-2l",
    )
    model = load_checkpoint("tiny", directory=tmp_path)
    assert model.to_str_tokens("fog bay") == ["<bos>", "fog", "bay"]
    assert model.to_tokens("fog bay").tolist() == [[0, 25, 4]]


def test_a_missing_tokenizer_is_refused_with_a_helpful_message(tmp_path):
    save_checkpoint(
        trained_looking_tiny_model(),
        "tiny",
        config_kwargs=TINY,
        seed=7,
        command="make tiny",
        metrics={},
        directory=tmp_path,
        tokenizer="no-such-tokenizer",
    )
    with pytest.raises(
        CheckpointError, match="No tokenizer 'no-such-tokenizer'.*git checkout.*names it for 'tiny'"
    ):
        load_checkpoint("tiny", directory=tmp_path)


def test_manifest_records_what_is_needed_and_diffs_well(tmp_path):
    model = boot(TINY)
    save_checkpoint(
        model,
        "b",
        config_kwargs=TINY,
        seed=7,
        command="make b",
        metrics={"loss": 2},
        directory=tmp_path,
    )
    save_checkpoint(
        model,
        "a",
        config_kwargs=TINY,
        seed=8,
        command="make a",
        metrics={"loss": 1},
        directory=tmp_path,
    )
    text = (tmp_path / "manifest.json").read_text()
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"

    manifest = read_manifest(tmp_path)
    assert sorted(manifest) == ["a", "b"]  # saving "a" kept "b"
    entry = manifest["a"]
    assert entry["file"] == "a.safetensors"
    assert entry["sha256"] == hashlib.sha256((tmp_path / "a.safetensors").read_bytes()).hexdigest()
    assert entry["config"] == TINY
    assert entry["seed"] == 8 and entry["training_command"] == "make a"
    assert entry["metrics"] == {"loss": 1.0} and isinstance(entry["metrics"]["loss"], float)
    assert entry["torch_version"] == torch.__version__
    assert entry["transformer_lens_version"].startswith("4.")


def test_read_manifest_of_an_empty_folder_is_empty(tmp_path):
    assert read_manifest(tmp_path) == {}


def corrupt_one_byte(path):
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF  # inside the last tensor's data, so the file still parses
    path.write_bytes(bytes(data))


def test_corrupted_file_is_refused_with_a_helpful_message(tmp_path):
    save_checkpoint(
        boot(TINY),
        "tiny",
        config_kwargs=TINY,
        seed=1,
        command="mi-tutorial train tiny",
        metrics={},
        directory=tmp_path,
    )
    corrupt_one_byte(tmp_path / "tiny.safetensors")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint("tiny", directory=tmp_path)
    message = str(error.value)
    assert "tiny.safetensors" in message and "corrupted" in message
    expected = read_manifest(tmp_path)["tiny"]["sha256"]
    assert expected[:12] in message
    assert "git checkout" in message and "mi-tutorial train tiny" in message


def test_missing_file_is_refused_with_a_helpful_message(tmp_path):
    save_checkpoint(
        boot(TINY),
        "tiny",
        config_kwargs=TINY,
        seed=1,
        command="mi-tutorial train tiny",
        metrics={},
        directory=tmp_path,
    )
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing.*mi-tutorial train tiny"):
        load_checkpoint("tiny", directory=tmp_path)


def test_unknown_name_lists_the_known_names(tmp_path):
    for name in ("alpha", "beta"):
        save_checkpoint(
            boot(TINY),
            name,
            config_kwargs=TINY,
            seed=1,
            command="x",
            metrics={},
            directory=tmp_path,
        )
    with pytest.raises(CheckpointError, match="'gamma'.*alpha, beta"):
        load_checkpoint("gamma", directory=tmp_path)


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    save_checkpoint(
        boot(TINY), "tiny", config_kwargs=TINY, seed=1, command="x", metrics={}, directory=tmp_path
    )
    manifest = read_manifest(tmp_path)
    manifest["tiny"]["config"]["d_model"] = 12  # the file holds d_model=8 weights
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint("tiny", directory=tmp_path)


# --- verify_checkpoints ---------------------------------------------------------------


def test_verify_checkpoints_passes_the_shipped_ones():
    results = verify_checkpoints()
    assert {name for name, _, _ in results} >= {"attn-only-2l"}
    assert all(ok for _, ok, _ in results), results


def test_verify_checkpoints_flags_a_corrupted_copy(tmp_path):
    shutil.copytree(CHECKPOINT_DIR, tmp_path, dirs_exist_ok=True)
    corrupt_one_byte(tmp_path / "attn-only-2l.safetensors")
    results = {name: (ok, message) for name, ok, message in verify_checkpoints(tmp_path)}
    ok, message = results["attn-only-2l"]
    assert not ok and "corrupted" in message


def test_verify_checkpoints_flags_an_unlisted_file(tmp_path):
    assert verify_checkpoints(tmp_path) == []  # nothing to verify
    save_checkpoint(
        boot(TINY), "tiny", config_kwargs=TINY, seed=1, command="x", metrics={}, directory=tmp_path
    )
    shutil.copy(tmp_path / "tiny.safetensors", tmp_path / "stray.safetensors")
    results = {name: ok for name, ok, _ in verify_checkpoints(tmp_path)}
    assert results == {"tiny": True, "stray": False}
    (tmp_path / "manifest.json").unlink()  # a lost manifest leaves the files unlisted
    assert {name: ok for name, ok, _ in verify_checkpoints(tmp_path)} == {
        "tiny": False,
        "stray": False,
    }


# --- load_pretrained ------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_gpt2_folder(tmp_path_factory):
    """A 1-layer GPT-2 and a word-level tokenizer saved with save_pretrained: the same
    code path as a downloaded "gpt2", without the network."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    words = ["<bos>", "<eos>", "<unk>", "<pad>"] + "the cat sat on a mat and a dog ran".split()
    vocab = {word: index for index, word in enumerate(dict.fromkeys(words))}
    word_level = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    word_level.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=word_level,
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        pad_token="<pad>",
    )
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        n_layer=1,
        n_embd=16,
        n_head=2,
        n_positions=32,
        vocab_size=len(tokenizer),
        bos_token_id=0,
        eos_token_id=1,
    )
    hf_model = transformers.GPT2LMHeadModel(config).eval()
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    hf_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, hf_model


def test_load_pretrained_reads_a_local_folder_offline(offline, tiny_gpt2_folder):
    folder, hf_model = tiny_gpt2_folder
    model = load_pretrained(str(folder))
    assert not model.training
    tokens = torch.tensor([[0, 4, 5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        expected = hf_model(tokens).logits
    logits, cache = model.run_with_cache(tokens)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    assert cache["pattern", 0].shape == (1, 2, 8, 8)  # [batch, head, q, k]
    assert model.to_str_tokens("the cat sat") == ["<bos>", "the", "cat", "sat"]


def test_load_pretrained_explains_a_model_that_was_never_downloaded(offline):
    with pytest.raises(RuntimeError, match="downloaded once while online"):
        load_pretrained("mi-tutorial-test/no-such-model")


def test_load_pretrained_explains_a_folder_that_is_not_a_model(offline, tmp_path):
    with pytest.raises(RuntimeError, match="no config.json"):
        load_pretrained(str(tmp_path))
    with pytest.raises(RuntimeError, match="no folder"):
        load_pretrained(str(tmp_path / "missing"))
