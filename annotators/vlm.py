"""VLM annotator: the jersey OCR project's single-prompt JSON mode with SmolVLM2 (or any image-text-to-text model).

One prompt asks for ``{"jersey_color", "number_color", "border"}`` as JSON; the answer is parsed
leniently (code fences, single quotes, trailing text, a cut-off object), then every value is
checked against the jersey OCR project's 13-colour vocabulary (:data:`datakit.vocab.COLORS`) and ``border``
against true/false. A result keeps the raw answer and says why a value was refused.

The model is loaded with ``transformers``' ``AutoProcessor`` and ``AutoModelForImageTextToText``
from a hub id (default :data:`DEFAULT_MODEL`, served from the local cache when offline) or a local
folder. Generation is batched (left padding, greedy), on the GPU in bfloat16 when one is present,
else on the CPU in float32. Preprocessing of the next batch runs while the current one generates.

Examples:
    >>> parse_answer('{"jersey_color": "Red", "number_color": "white", "border": false}')
    ('ok', {'jersey_color': 'red', 'number_color': 'white', 'border': False}, {})
    >>> parse_answer("I think the jersey is red.")[0]
    'unparseable'
    >>> status, values, problems = parse_answer('{"jersey_color": "plaid", "number_color": "white"}')
    >>> status, values, sorted(problems)
    ('invalid_value', {'number_color': 'white'}, ['border', 'jersey_color'])

"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from annotators.base import Annotator, Item, Result
from datakit.vocab import COLORS, METADATA_FIELDS

DEFAULT_MODEL = "HuggingFaceTB/SmolVLM2-2.2B-Instruct"
"""The jersey OCR project's annotation model (hub id; a local folder works the same)."""

PROMPT = (
    "Look at the basketball jersey in this image. Reply with only a JSON object of the form "
    '{"jersey_color": "<color>", "number_color": "<color>", "border": true or false}, where '
    "jersey_color is the colour of the jersey fabric, number_color the colour of the digits and "
    "border whether the digits have an outline in another colour. Use only these colours: " + ", ".join(COLORS) + "."
)
"""The jersey OCR project's single-prompt JSON mode."""

SYNONYMS: dict[str, str] = {
    "gray": "grey", "dark blue": "navy", "navy blue": "navy", "light blue": "blue",
    "sky blue": "blue", "royal blue": "blue", "burgundy": "maroon", "wine": "maroon",
    "violet": "purple", "gold": "yellow", "golden": "yellow", "silver": "grey",
    "dark green": "green", "light green": "green", "cyan": "teal", "turquoise": "teal",
    "crimson": "red", "scarlet": "red", "magenta": "pink", "cream": "white", "ivory": "white",
}  # fmt: skip
"""Common answers folded onto the vocabulary (reported in the raw answer, never guessed beyond this)."""

_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0", "none"}
_PAIR = re.compile(
    r"""["']?(jersey_colou?r|number_colou?r|border)["']?\s*[:=]\s*"""
    r"""["']?([A-Za-z][A-Za-z ]*?|true|false)["']?\s*(?=[,}\n]|$)""",
    re.I,
)


def _extract_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (code fences and single quotes tolerated), or ``None``."""
    for start in [m.start() for m in re.finditer(r"\{", text)]:
        depth = 0
        for end in range(start, len(text)):
            if text[end] == "{":
                depth += 1
            elif text[end] == "}":
                depth -= 1
                if depth == 0:
                    chunk = text[start : end + 1]
                    for candidate in (chunk, chunk.replace("'", '"')):
                        try:
                            obj = json.loads(candidate)
                        except json.JSONDecodeError:
                            continue
                        if isinstance(obj, dict):
                            return obj
                    break
    return None


def _color(value: Any) -> tuple[str | None, str | None]:
    if not isinstance(value, str):
        return None, f"expected a colour name, got {value!r}"
    v = " ".join(value.strip().lower().replace("_", " ").split())
    v = SYNONYMS.get(v, v)
    if v in COLORS:
        return v, None
    return None, f"{value!r} is not one of the {len(COLORS)} colours"


def _bool(value: Any) -> tuple[bool | None, str | None]:
    if isinstance(value, bool):
        return value, None
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE, None
    return None, f"expected true or false, got {value!r}"


def parse_answer(
    text: str | None, fields: tuple[str, ...] = METADATA_FIELDS
) -> tuple[str, dict[str, Any], dict[str, str]]:
    r"""Read a JSON-mode answer: ``(status, accepted values, problems)``.

    ``status`` is ``ok`` (every field accepted), ``invalid_value`` (an object was found but a
    field is missing or outside the vocabulary) or ``unparseable`` (no object and no
    ``key: value`` pairs in the text).

    Args:
        text: The model's answer.
        fields: The fields expected (``jersey_color`` / ``number_color`` take colour names,
            ``border`` a boolean).

    Examples:
        >>> parse_answer('```json\\n{"jersey_color": "gray", "number_color": "navy blue", '
        ...              '"border": "yes"}\\n```')
        ('ok', {'jersey_color': 'grey', 'number_color': 'navy', 'border': True}, {})
        >>> parse_answer('{"jersey_color": "white", "number_color": "black", "border"')[0]
        'invalid_value'
        >>> parse_answer("")
        ('unparseable', {}, {'answer': 'empty answer'})

    """
    if not text or not text.strip():
        return "unparseable", {}, {"answer": "empty answer"}
    obj = _extract_object(text)
    if obj is None:  # cut off by max_new_tokens, or prose: fall back to key: value pairs
        pairs = {m.group(1).lower().replace("colour", "color"): m.group(2) for m in _PAIR.finditer(text)}
        if not pairs:
            return "unparseable", {}, {"answer": "no JSON object or field: value pair found"}
        obj = pairs
    obj = {str(k).strip().lower().replace("colour", "color"): v for k, v in obj.items()}
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for f in fields:
        if f not in obj:
            problems[f] = "missing"
            continue
        v, why = _bool(obj[f]) if f == "border" else _color(obj[f])
        if why is None:
            values[f] = v
        else:
            problems[f] = why
    return ("invalid_value" if problems else "ok"), values, problems


def pick_device(device: str = "auto") -> str:
    """``cuda`` when a GPU is present, else ``mps``, else ``cpu`` (or ``device`` as given)."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, dtype: str = "auto") -> Any:
    """bfloat16 on a GPU that supports it (else float16), float32 on the CPU."""
    import torch

    if dtype != "auto":
        try:
            return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        except KeyError:
            raise ValueError(f"expected dtype auto, float32, float16 or bfloat16, got {dtype!r}") from None
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


class VLMAnnotator(Annotator):
    """Ask a vision-language model for ``jersey_color``, ``number_color`` and ``border``.

    Args:
        model: Hub id or local folder (``AutoProcessor`` + ``AutoModelForImageTextToText``).
        prompt: The question (default: the jersey OCR project's JSON-mode prompt, :data:`PROMPT`).
        batch_size: Images per ``generate`` call.
        max_new_tokens: Answer budget (the JSON answer takes about 24 tokens).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``.
        dtype: ``auto``, ``float32``, ``float16`` or ``bfloat16``.
        split_images: Let the processor tile large images (SmolVLM's default); off by default,
            since jersey crops are small and tiling multiplies the image tokens.
        generation: Extra ``generate()`` arguments (e.g. ``{"min_new_tokens": 24}`` for benchmarks).

    Examples:
        >>> VLMAnnotator.name, VLMAnnotator.fields
        ('vlm', ('jersey_color', 'number_color', 'border'))

    """

    name = "vlm"
    fields = METADATA_FIELDS

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        prompt: str = PROMPT,
        batch_size: int = 16,
        max_new_tokens: int = 32,
        device: str = "auto",
        dtype: str = "auto",
        split_images: bool = False,
        generation: dict[str, Any] | None = None,
    ) -> None:
        if batch_size < 1 or max_new_tokens < 1:
            raise ValueError(f"expected batch_size and max_new_tokens >= 1, got {batch_size}, {max_new_tokens}")
        self.model_id = str(model)
        self.prompt = prompt
        self.batch_size = int(batch_size)
        self.max_new_tokens = int(max_new_tokens)
        self.split_images = bool(split_images)
        self.generation = dict(generation or {})
        self.device = pick_device(device)
        self.dtype = pick_dtype(self.device, dtype)
        self._lock = threading.Lock()  # the fast tokenizer is not safe across threads
        self._load()

    processor: Any
    model: Any

    def _load(self) -> None:
        from pathlib import Path

        from transformers import AutoModelForImageTextToText, AutoProcessor

        local = Path(self.model_id).expanduser()
        looks_local = self.model_id.startswith((".", "/", "~")) or local.exists()
        if looks_local and not (local / "config.json").is_file():
            raise FileNotFoundError(f"VLM model folder not found or without config.json: {local}")
        try:
            self.processor = AutoProcessor.from_pretrained(self.model_id)
            self.model = AutoModelForImageTextToText.from_pretrained(self.model_id, dtype=self.dtype)
        except OSError as e:
            raise FileNotFoundError(
                f"cannot load VLM {self.model_id!r}: {str(e).splitlines()[0]} "
                "(pass a local folder, or a hub id that is in the local cache when offline)"
            ) from None
        self.model.to(self.device).eval()
        tok = self.processor.tokenizer
        tok.padding_side = "left"  # decoder-only batched generation needs left padding
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": self.prompt}]}]
        if getattr(self.processor, "chat_template", None):
            self.text = self.processor.apply_chat_template(messages, add_generation_prompt=True)
        else:  # the Idefics3/SmolVLM turn format
            self.text = f"<|im_start|>User:<image>{self.prompt}<end_of_utterance>\nAssistant:"

    def config(self) -> dict[str, Any]:
        """Identity for checkpoints: model, prompt and generation settings."""
        return {
            **super().config(), "model": self.model_id, "prompt": self.prompt,
            "max_new_tokens": self.max_new_tokens, "split_images": self.split_images,
            "generation": self.generation,
        }  # fmt: skip

    def prepare(self, items: list[Item]) -> Any:
        """Run the processor on a batch (text + images → padded tensors), on the CPU."""
        with self._lock:
            return self.processor(
                text=[self.text] * len(items),
                images=[[it.image] for it in items],
                return_tensors="pt",
                padding=True,
                do_image_splitting=self.split_images,
            )

    def generate(self, inputs: Any) -> list[str]:
        """Greedy batched generation; returns the decoded answers."""
        import torch

        batch = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        with torch.inference_mode():
            kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": False, **self.generation}
            out = self.model.generate(**batch, **kwargs)
        new = out[:, batch["input_ids"].shape[1] :].cpu()
        with self._lock:
            return [t.strip() for t in self.processor.batch_decode(new, skip_special_tokens=True)]

    def predict(self, prepared: Any, items: list[Item]) -> list[Result]:
        """Generate, parse and validate one answer per item."""
        inputs = self.prepare(items) if prepared is None else prepared
        answers = self.generate(inputs)
        out = []
        for it, text in zip(items, answers, strict=True):
            status, values, problems = parse_answer(text, self.fields)
            out.append(Result(it.id, status, values, raw=text, problems=problems))
        return out

    def close(self) -> None:
        """Drop the model (and free GPU memory)."""
        self.model = None
        if self.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
