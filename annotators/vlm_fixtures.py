"""Build Idefics3/SmolVLM checkpoints locally, with random weights: for offline tests and benchmarks.

No weights ship in any package this project may install, so the VLM annotator is exercised with a
model built here from a config and saved to a folder; it then loads through exactly the
``AutoProcessor`` / ``AutoModelForImageTextToText.from_pretrained(folder)`` path a hub id takes.

* :func:`build_tiny_vlm` — about 100k parameters, for tests (CPU, seconds).
* :func:`build_smolvlm2_2b` — the SmolVLM2-2.2B-Instruct architecture (same layer sizes),
  randomly initialised: speed does not depend on the weights, so it is what the GPU benchmark runs.

Examples:
    >>> import tempfile
    >>> path = build_tiny_vlm(tempfile.mkdtemp())  # doctest: +SKIP
    >>> (path / "config.json").is_file()  # doctest: +SKIP
    True

"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
"""The Idefics3/SmolVLM chat template (user turn with an image, then ``Assistant:``)."""

SPECIAL_TOKENS = (
    "<unk>", "<pad>", "<|im_start|>", "<end_of_utterance>", "<fake_token_around_image>",
    "<image>", "<global-img>",
    *(f"<row_{i}_col_{j}>" for i in range(1, 7) for j in range(1, 7)),
)  # fmt: skip

_WORDS = (
    "User", "Assistant", ":", "{", "}", '"', ",", "jersey_color", "number_color", "border",
    "true", "false", "the", "jersey", "number", "colour", "color", "reply", "json", "with",
    "What", "is", "of", "this", "and", "a", "?", ".", "\n",
    "white", "black", "red", "blue", "navy", "yellow", "green", "purple", "orange", "grey",
    "maroon", "teal", "pink", *(str(i) for i in range(100)),
)  # fmt: skip


def _tokenizer(vocab_words: tuple[str, ...]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(dict.fromkeys((*SPECIAL_TOKENS, *vocab_words)))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        additional_special_tokens=list(SPECIAL_TOKENS[3:]),
    )
    fast.padding_side = "left"
    return fast


def _save(
    out: Path,
    tokenizer: Any,
    *,
    vision: dict[str, Any],
    text: dict[str, Any],
    scale_factor: int,
    longest_edge: int,
    seed: int,
    dtype: Any = None,
) -> Path:
    import torch
    from transformers import (
        AutoModelForImageTextToText,
        Idefics3Config,
        Idefics3ImageProcessor,
        Idefics3Processor,
    )

    image_size = int(vision["image_size"])
    patch = int(vision["patch_size"])
    seq_len = int((image_size // patch) ** 2 / scale_factor**2)
    image_processor = Idefics3ImageProcessor(
        size={"longest_edge": longest_edge},
        max_image_size={"longest_edge": image_size},
        do_image_splitting=False,
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=seq_len,
        chat_template=CHAT_TEMPLATE,
    )
    tid = tokenizer.convert_tokens_to_ids
    config = Idefics3Config(
        vision_config=vision,
        text_config={
            **text,
            "model_type": "llama",
            "vocab_size": len(tokenizer),
            "pad_token_id": tid("<pad>"),
            "bos_token_id": tid("<|im_start|>"),
            "eos_token_id": tid("<end_of_utterance>"),
        },
        scale_factor=scale_factor,
        image_token_id=tid("<image>"),
        pad_token_id=tid("<pad>"),  # type: ignore[call-arg]
    )
    with torch.random.fork_rng(devices=[]):  # seed the init without touching the caller's RNG
        torch.manual_seed(seed)
        model = AutoModelForImageTextToText.from_config(config)
    if dtype is not None:
        model = model.to(dtype)
    model.generation_config.pad_token_id = tid("<pad>")
    model.generation_config.eos_token_id = tid("<end_of_utterance>")
    model.generation_config.bos_token_id = tid("<|im_start|>")
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_tiny_vlm(path: str | Path, *, seed: int = 0) -> Path:
    """Save a tiny random Idefics3 model and its processor under ``path``.

    Two-layer vision and text towers, 32-pixel images, a WordLevel tokenizer holding the JSON
    answer words and the colour vocabulary. Answers are random, which is the point: the annotator
    must report them as ``unparseable`` / ``invalid_value`` rather than inventing values.

    Args:
        path: Output folder (created).
        seed: Seed for the random weights.

    Returns:
        The folder, loadable with ``AutoModelForImageTextToText.from_pretrained``.

    Examples:
        >>> import tempfile
        >>> build_tiny_vlm(tempfile.mkdtemp()).name  # doctest: +SKIP
        '...'

    """
    return _save(
        Path(path),
        _tokenizer(_WORDS),
        vision={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
        },
        text={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": 512,
        },
        scale_factor=2,
        longest_edge=32,
        seed=seed,
    )  # fmt: skip


def build_smolvlm2_2b(path: str | Path, *, seed: int = 0, dtype: Any = None) -> Path:
    """Save the SmolVLM2-2.2B-Instruct architecture with random weights under ``path``.

    Layer sizes follow the published checkpoint (SigLIP vision tower: 1152 wide, 27 layers,
    384-pixel images of 14-pixel patches; pixel-shuffle scale 3 → 81 image tokens; a 24-layer,
    2048-wide Llama text model). The tokenizer is a WordLevel one padded to the checkpoint's
    49,280-token vocabulary. Images are not split into tiles (one 384-pixel view per crop, which
    is what small jersey crops need).

    Args:
        path: Output folder (created; about 4.5 GB in bfloat16).
        seed: Seed for the random weights.
        dtype: Optional torch dtype to store the weights in (``torch.bfloat16`` halves the size).

    Returns:
        The folder.

    """
    words = (*_WORDS, *(f"w{i}" for i in range(49280 - len(SPECIAL_TOKENS) - len(_WORDS))))
    return _save(
        Path(path),
        _tokenizer(words),
        vision={
            "hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27,
            "num_attention_heads": 16, "image_size": 384, "patch_size": 14,
        },
        text={
            "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
            "num_attention_heads": 32, "num_key_value_heads": 32,
            "max_position_embeddings": 16384, "rope_theta": 273768.0,
        },
        scale_factor=3,
        longest_edge=384,
        seed=seed,
        dtype=dtype,
    )  # fmt: skip
