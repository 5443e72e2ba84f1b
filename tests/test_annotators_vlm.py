"""VLM annotator: answer parsing on crafted strings, and a tiny random Idefics3 built here.

The model is saved to tmp_path and loaded through the same AutoProcessor /
AutoModelForImageTextToText.from_pretrained path a hub id takes. Its answers are random, so most
are ``unparseable`` — that status path is under test too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from annotators.base import STATUSES, Item, annotate
from annotators.vlm import PROMPT, parse_answer
from datakit import Dataset, Sample
from datakit.cli import main
from datakit.vocab import COLORS

# ----------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "status", "values"),
    [
        (
            '{"jersey_color": "white", "number_color": "black", "border": true}',
            "ok",
            {"jersey_color": "white", "number_color": "black", "border": True},
        ),
        (
            'Sure! ```json\n{"jersey_color": "Navy", "number_color": "Gold", "border": "no"}\n``` Hope it helps',
            "ok",
            {"jersey_color": "navy", "number_color": "yellow", "border": False},
        ),
        (
            "{'jersey_color': 'gray', 'number_color': 'white', 'border': false}",
            "ok",
            {"jersey_color": "grey", "number_color": "white", "border": False},
        ),
        ('{"jersey colour": "red"}', "invalid_value", {}),
        (
            '{"jersey_colour": "red", "number_color": "white", "border": true}',
            "ok",
            {"jersey_color": "red", "number_color": "white", "border": True},
        ),
        (
            '{"jersey_color": "plaid", "number_color": "white", "border": "maybe"}',
            "invalid_value",
            {"number_color": "white"},
        ),
        ('{"jersey_color": 3, "number_color": null, "border": true}', "invalid_value", {"border": True}),
        (
            '"jersey_color": "teal", "number_color": "pink", "border": tr',
            "invalid_value",
            {"jersey_color": "teal", "number_color": "pink"},
        ),
        ("The jersey is red with a white number.", "unparseable", {}),
        ("{ 31 48 { 31", "unparseable", {}),
        ("", "unparseable", {}),
        ("[1, 2, 3]", "unparseable", {}),
    ],
)
def test_parse_answer(text: str, status: str, values: dict) -> None:
    got_status, got_values, problems = parse_answer(text)
    assert (got_status, got_values) == (status, values)
    assert (status == "ok") == (not problems)
    assert all(isinstance(v, str) and v for v in problems.values())


def test_parse_answer_names_the_bad_value() -> None:
    _, _, problems = parse_answer('{"jersey_color": "plaid", "number_color": "white"}')
    assert "plaid" in problems["jersey_color"] and problems["border"] == "missing"


def test_prompt_lists_the_vocabulary() -> None:
    assert all(c in PROMPT for c in COLORS) and "jersey_color" in PROMPT and "border" in PROMPT


# ----------------------------------------------------------------------------- tiny model


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from annotators.vlm_fixtures import build_tiny_vlm

    return build_tiny_vlm(tmp_path_factory.mktemp("tiny_vlm"))


@pytest.fixture(scope="module")
def vlm(tiny_vlm: Path):  # type: ignore[no-untyped-def]
    from annotators.vlm import VLMAnnotator

    a = VLMAnnotator(str(tiny_vlm), batch_size=4, max_new_tokens=12, device="cpu")
    yield a
    a.close()


def _images(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (30 + 7 * i, 40 + 3 * i), (37 * i % 256, 90, 200 - 11 * i)) for i in range(n)]


@pytest.mark.slow
def test_loads_through_auto_classes(vlm) -> None:  # type: ignore[no-untyped-def]
    import torch

    assert type(vlm.model).__name__ == "Idefics3ForConditionalGeneration"
    assert vlm.device == "cpu" and vlm.dtype == torch.float32
    assert vlm.processor.tokenizer.padding_side == "left"
    assert vlm.text.endswith("Assistant:") and "<image>" in vlm.text


@pytest.mark.slow
def test_random_model_answers_get_honest_statuses(vlm) -> None:  # type: ignore[no-untyped-def]
    items = [Item(str(i), i, im) for i, im in enumerate(_images(5))]
    res = vlm.predict(None, items)
    assert [r.id for r in res] == [it.id for it in items]
    for r in res:
        assert r.status in STATUSES and r.status != "error"
        assert isinstance(r.raw, str)  # the raw answer is always kept
        status, values, problems = parse_answer(r.raw)
        assert (r.status, r.values, r.problems) == (status, values, problems)
        assert r.status == "ok" or r.problems  # never a silent empty


@pytest.mark.slow
def test_batched_generation_matches_one_at_a_time(vlm) -> None:  # type: ignore[no-untyped-def]
    items = [Item(str(i), i, im) for i, im in enumerate(_images(4))]
    batched = [r.raw for r in vlm.predict(None, items)]
    single = [vlm.predict(None, [it])[0].raw for it in items]
    assert batched == single
    inputs = vlm.prepare(items)
    assert inputs["input_ids"].shape[0] == 4 and inputs["pixel_values"].shape[0] == 4


@pytest.mark.slow
def test_validated_answers_flow_into_the_dataset_and_resume(vlm, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for i, im in enumerate(_images(6)):
        im.save(tmp_path / f"{i}.png")
    ds = Dataset.from_samples([Sample(f"{i}.png", label=str(i)) for i in range(6)], tmp_path)
    answers = iter(
        [
            '{"jersey_color": "white", "number_color": "black", "border": false}',
            '{"jersey_color": "purple-ish", "number_color": "black", "border": false}',
            "no idea",
            '{"jersey_color": "red", "number_color": "white", "border": true}',
            '{"jersey_color": "blue", "number_color": "white", "border": true}',
            '{"jersey_color": "green", "number_color": "white", "border": true}',
        ]
    )
    calls = []

    def fake_generate(inputs):  # type: ignore[no-untyped-def]
        calls.append(int(inputs["input_ids"].shape[0]))
        return [next(answers) for _ in range(inputs["input_ids"].shape[0])]

    monkeypatch.setattr(vlm, "generate", fake_generate)
    ck = tmp_path / "ck.jsonl"
    run = annotate(ds.take(range(4)), vlm, checkpoint=ck, progress=False)
    assert calls == [4]
    assert [r.status for r in run.results.values()] == ["ok", "invalid_value", "unparseable", "ok"]
    run = annotate(ds, vlm, checkpoint=ck, progress=False)
    assert calls == [4, 2] and run.resumed == 4
    out = run.apply(ds)
    assert out.column("metadata.jersey_color") == ["white", None, None, "red", "blue", "green"]
    assert out.column("metadata.border") == [False, False, None, True, True, True]
    assert out.column("metadata.vlm_status")[2] == "unparseable"
    rows = [json.loads(x) for x in ck.read_text().splitlines()[1:]]
    assert rows[2]["raw"] == "no idea" and rows[1]["problems"]["jersey_color"]


def _annotate_vlm(dataset: Path, model: Path, out: Path, *extra: str) -> int:
    """``datakit annotate DATASET --with vlm --model MODEL --out OUT --device cpu EXTRA...``."""
    return main(
        ["annotate", str(dataset), "--with", "vlm", "--model", str(model), "--out", str(out), "--device", "cpu", *extra]
    )


@pytest.mark.slow
def test_cli_annotates_with_a_local_model(tiny_vlm: Path, seed_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = _annotate_vlm(seed_dataset, tiny_vlm, out, "--batch-size", "3", "--max-new-tokens", "8", "--no-progress")
    assert rc == 0
    import datakit

    ds = datakit.load(out)
    assert len(ds) == 9
    statuses = ds.column("metadata.vlm_status")
    assert all(s in STATUSES for s in statuses)
    rows = [json.loads(x) for x in (out / "_annotate" / "vlm.jsonl").read_text().splitlines()]
    assert rows[0]["_checkpoint"]["model"] == str(tiny_vlm)
    assert sorted(r["id"] for r in rows[1:]) == sorted(ds.ids)


def test_cli_missing_model_is_one_line_error(seed_dataset: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = _annotate_vlm(seed_dataset, tmp_path / "nope", tmp_path / "o")
    assert rc == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("datakit annotate: error:") and "nope" in err and "\n" not in err


def test_cli_rejects_model_for_other_annotators(seed_dataset: Path, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["annotate", str(seed_dataset), "--with", "color", "--model", "x", "--out", str(tmp_path / "o")])
    assert rc == 1 and "--model" in capsys.readouterr().err
