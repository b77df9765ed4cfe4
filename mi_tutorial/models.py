"""Build, save, load and verify the course's models (chapter 1 introduces them).

The toy models are TransformerLens 4 native models (`TransformerBridge.boot_native`):
no download, no `transformers` import. Their weights ship with the package as
`checkpoints/<name>.safetensors`, and `checkpoints/manifest.json` records for each one
the config, the seed, the command that retrains it, the metrics it reached and the
sha256 of the file, so a damaged or hand-edited checkpoint is caught before use.

Real models (GPT-2 and friends) load through `load_pretrained`, which needs them
downloaded once while online.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.metadata
import inspect
import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformer_lens import TransformerBridge, TransformerBridgeConfig

from mi_tutorial.data.tokenizer import load_tokenizer

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"  # with its manifest.json


class CheckpointError(Exception):
    """A shipped or saved checkpoint is missing, unknown, damaged or does not fit its config."""


# ---------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------


def _config_keywords() -> list[str]:
    """Every keyword TransformerBridgeConfig accepts (its own and its base class's)."""
    names: set[str] = set()
    for cls in TransformerBridgeConfig.__mro__:
        if cls is object:
            continue
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL) and param.name != "self":
                names.add(param.name)
    return sorted(names)


def make_config(**kwargs) -> TransformerBridgeConfig:
    """Build a TransformerBridgeConfig from keywords, failing early and clearly (chapter 1).

    Built through the constructor, never `from_dict`: the constructor rejects an unknown
    keyword, a dict silently drops it (a typo like `n_layer=3` would give a 1-layer model).
    """
    if "d_vocab" not in kwargs:
        # Without d_vocab the config is accepted and the model fails much later, at boot,
        # with "Trying to create tensor with negative dimension -1".
        raise ValueError(
            "make_config: d_vocab is missing. Give the vocabulary size, e.g. "
            "make_config(n_layers=2, d_model=64, d_head=16, n_ctx=41, d_vocab=64)."
        )
    try:
        return TransformerBridgeConfig(**kwargs)
    except TypeError as error:
        unknown = re.search(r"unexpected keyword argument '(\w+)'", str(error))
        if unknown:
            bad = unknown.group(1)
            close = difflib.get_close_matches(bad, _config_keywords(), n=3, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"make_config: unknown config key {bad!r}.{hint} "
                "See TransformerBridgeConfig for the full list of keys."
            ) from None
        missing = re.search(r"missing \d+ required positional arguments?: (.*)", str(error))
        if missing:
            raise ValueError(
                f"make_config: missing required config key(s) {missing.group(1)}. A model needs "
                "at least d_model, d_head, n_layers, n_ctx and d_vocab."
            ) from None
        raise


def boot(config_kwargs: dict) -> TransformerBridge:
    """A freshly initialised native model from config keywords, in eval mode (chapter 1).

    `boot_native` returns the model in training mode; the course always evaluates in
    eval mode, and `transformer_lens.patching` refuses a model in training mode.
    """
    return TransformerBridge.boot_native(make_config(**config_kwargs)).eval()


# ---------------------------------------------------------------------------------------
# Checkpoints: safetensors weights + a JSON manifest
# ---------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _restore_hint(path: Path, entry: dict) -> str:
    command = entry.get("training_command")
    retrain = f"re-run `{command}`" if command else "retrain the model"
    return f"Restore it with `git checkout -- {path}` (or reinstall the package), or {retrain}."


def read_manifest(directory: Path | str = CHECKPOINT_DIR) -> dict:
    """The manifest in `directory` as {name: entry}; an empty dict if there is none."""
    path = Path(directory) / "manifest.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{path} is not valid JSON ({error}). Restore it with `git checkout -- {path}` "
            "or reinstall the package."
        ) from None


def _json_scalar(value):
    """Metrics are numbers (stored as floats) or short labels such as a head "1.2"."""
    if isinstance(value, str):
        return value
    return float(value)


def save_checkpoint(
    model: torch.nn.Module,
    name: str,
    *,
    config_kwargs: dict,
    seed: int,
    command: str,
    metrics: dict,
    directory: Path | str = CHECKPOINT_DIR,
    tokenizer: str | None = None,
) -> Path:
    """Write `{directory}/{name}.safetensors` and record it in `{directory}/manifest.json`.

    The manifest entry holds the file's sha256, the config keywords (enough to boot the
    same architecture again), the seed, the command that retrains it, the metrics and the
    torch / transformer_lens versions it was made with, and the name of the shipped
    tokenizer (`mi_tutorial/tokenizers/NAME/`) that loading attaches. Returns the weights' path.
    """
    try:
        config = json.loads(json.dumps(config_kwargs))
    except TypeError as error:
        raise ValueError(
            f"save_checkpoint: config_kwargs must hold only numbers, strings, booleans and "
            f"None, to be written to manifest.json ({error})."
        ) from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.safetensors"
    # safetensors refuses non-contiguous tensors and tensors sharing memory (tied weights):
    # give it a contiguous copy of each.
    tensors = {
        key: value.detach().cpu().contiguous().clone() for key, value in model.state_dict().items()
    }
    save_file(tensors, str(path))

    manifest = read_manifest(directory)
    manifest[name] = {
        "file": path.name,
        "sha256": _sha256(path),
        "config": config,
        "seed": seed,
        "training_command": command,
        "tokenizer": tokenizer,
        "metrics": {key: _json_scalar(value) for key, value in metrics.items()},
        "torch_version": torch.__version__,
        "transformer_lens_version": importlib.metadata.version("transformer_lens"),
    }
    # Sorted keys, indent 2 and a final newline: a retrained model gives a small, readable diff.
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def _checked_entry(name: str, directory: Path) -> tuple[dict, Path]:
    """The manifest entry for `name` and its file, after checking the file's sha256."""
    manifest = read_manifest(directory)
    if name not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise CheckpointError(
            f"No checkpoint named {name!r} in {directory / 'manifest.json'}. Known names: {known}."
        )
    entry = manifest[name]
    missing = [key for key in ("file", "sha256", "config") if key not in entry]
    if missing:
        raise CheckpointError(
            f"The entry {name!r} in {directory / 'manifest.json'} lacks {', '.join(missing)}. "
            "Restore manifest.json with `git checkout` or retrain the model."
        )
    path = directory / entry["file"]
    if not path.exists():
        raise CheckpointError(
            f"Checkpoint file {path} is missing (the manifest lists it for {name!r}). "
            + _restore_hint(path, entry)
        )
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise CheckpointError(
            f"Checkpoint file {path} is corrupted or was changed: its sha256 starts "
            f"{actual[:12]}, the manifest expects {entry['sha256'][:12]}. "
            + _restore_hint(path, entry)
        )
    return entry, path


def load_checkpoint(name: str, directory: Path | str = CHECKPOINT_DIR) -> TransformerBridge:
    """Boot the model recorded as `name` in the manifest and load its weights (eval mode)."""
    directory = Path(directory)
    entry, path = _checked_entry(name, directory)
    try:
        tokenizer = load_tokenizer(entry["tokenizer"]) if entry.get("tokenizer") else None
    except FileNotFoundError as error:
        raise CheckpointError(f"{error} (the manifest names it for {name!r}).") from None
    try:
        model = TransformerBridge.boot_native(
            make_config(**entry["config"]), tokenizer=tokenizer
        ).eval()
    except ValueError as error:
        raise CheckpointError(
            f"The config recorded for {name!r} in {directory / 'manifest.json'} is invalid: "
            f"{error} " + _restore_hint(path, entry)
        ) from None
    try:
        model.load_state_dict(load_file(str(path)), strict=True)
    except RuntimeError as error:
        # Keys or shapes disagree: the file was made by another config or another version.
        summary = str(error).splitlines()[0]
        raise CheckpointError(
            f"Checkpoint file {path} does not fit the config recorded for {name!r} "
            f"({summary}). It was saved with transformer_lens "
            f"{entry.get('transformer_lens_version', '?')}. " + _restore_hint(path, entry)
        ) from None
    return model.eval()


def verify_checkpoints(directory: Path | str = CHECKPOINT_DIR) -> list[tuple[str, bool, str]]:
    """Check every checkpoint in the manifest: file present, sha256 right, loads strictly.

    Returns (name, ok, message) per checkpoint, plus a not-ok row for a weights file the
    manifest does not list; an empty list when there is nothing to verify. Used by
    `mi-tutorial doctor`.
    """
    directory = Path(directory)
    try:
        manifest = read_manifest(directory)
    except CheckpointError as error:
        return [("manifest.json", False, str(error))]

    results = []
    for name in sorted(manifest):
        try:
            load_checkpoint(name, directory)
        except CheckpointError as error:
            results.append((name, False, str(error)))
        else:
            results.append((name, True, f"{manifest[name]['file']} matches its sha256 and loads"))
    listed = {entry.get("file") for entry in manifest.values()}
    for path in sorted(directory.glob("*.safetensors")):
        if path.name not in listed:
            results.append(
                (
                    path.stem,
                    False,
                    f"{path} is not listed in manifest.json: restore "
                    "manifest.json with `git checkout`, or delete the file.",
                )
            )
    return results


# ---------------------------------------------------------------------------------------
# The models the chapters use
# ---------------------------------------------------------------------------------------


def load_toy_model(name: str) -> TransformerBridge:
    """A toy model shipped with the course, e.g. "attn-only-2l" (chapter 2), in eval mode.

    Its word-level tokenizer is attached, so `model.to_str_tokens`, `model.to_tokens`
    (which prepends `<bos>`) and `model.generate` on strings work; integer token tensors
    work too. `mi-tutorial train NAME` retrains it.
    """
    return load_checkpoint(name)


def load_pretrained(name_or_path: str, **kwargs) -> TransformerBridge:
    """A real model (e.g. "gpt2") via `TransformerBridge.boot_transformers`, in eval mode.

    `name_or_path` is a Hugging Face model name, which must have been downloaded once
    while online (it is then cached), or a local folder written by `save_pretrained`
    holding the model and its tokenizer. Keyword arguments go to `boot_transformers`.
    """
    local = Path(name_or_path).expanduser()
    if local.is_dir():
        if not (local / "config.json").exists():
            raise RuntimeError(
                f"load_pretrained: {local} is a folder but holds no config.json, so it is not a "
                "saved model. Save one there with model.save_pretrained(folder) and "
                "tokenizer.save_pretrained(folder)."
            )
        name_or_path = str(local)
    elif str(name_or_path).startswith(("/", ".", "~")) or str(name_or_path).count("/") > 1:
        raise RuntimeError(f"load_pretrained: no folder {local}. Check the path.")

    try:
        model = TransformerBridge.boot_transformers(name_or_path, **kwargs)
    except OSError as error:
        # transformers reports "not cached and no network" and "no such model" as OSError.
        summary = str(error).strip().splitlines()[0]
        raise RuntimeError(
            f"load_pretrained: could not load {name_or_path!r}: {summary}\n"
            f"A Hugging Face model must be downloaded once while online: run "
            f"load_pretrained({name_or_path!r}) with network access (it is then cached), "
            "or pass the path of a local folder saved with save_pretrained. "
            "Also check the spelling of the name."
        ) from None
    return model.eval()
