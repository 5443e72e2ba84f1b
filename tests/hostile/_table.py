"""The hostile-input case table: one :class:`Case` per bad input, one :func:`run_case` for all.

Every hostile-input test lives under ``tests/hostile/`` as rows of a table, so the next format or
command adds rows instead of inventing a new harness::

    from ._table import Case, run_case

    CASES = [
        Case("0-byte annotations file", build=lambda d: ["info", str(make_empty(d))],
             expect="error", match=r"annotations\\.jsonl.*empty"),
        Case("symlink out of the root", build=..., expect="skip", match="outside the dataset root"),
    ]

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
    def test_hostile(case, tmp_path):
        run_case(case, tmp_path)

``build(tmp_path)`` makes the input under ``tmp_path`` and returns either

* a **CLI argv** (``list[str]``, without the ``datakit`` program name), run in-process through
  :func:`datakit.cli.main`; or
* a **zero-argument callable** (an API call), run as is.

Outcome classes (``expect``):

* ``"error"``: CLI: non-zero exit and exactly one stderr line ``datakit CMD: error: ...`` whose
  text matches ``match``. API: raises a :class:`datakit.errors.DatakitError` (or ``ValueError`` /
  ``FileNotFoundError`` / ``OSError``) whose message matches ``match``.
* ``"skip"``: CLI: exit 0 and ``match`` found in stdout (run with ``--json`` if you want the full
  skip list). API: returns normally and ``match`` is found in ``str(result)``.
* ``"ok"``: CLI: exit 0 (and ``match`` in stdout when given). API: returns normally (and ``match``
  in ``str(result)`` when given).

In every class a traceback (any other exception escaping) fails the case, and so does a run that
takes longer than ``timeout`` seconds (it runs in a daemon thread, so a hang such as a read that
blocks on a named pipe fails the test instead of blocking the suite). ``check(tmp_path, outcome)``,
when given, runs afterwards for extra assertions (a file that must not have been copied, say).
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from datakit.errors import DatakitError

Expect = Literal["error", "skip", "ok"]
Built = list[str] | Callable[[], Any]

#: Exceptions an API call may raise for bad input (anything else is a traceback, i.e. a bug).
API_ERRORS: tuple[type[BaseException], ...] = (DatakitError, ValueError, FileNotFoundError, OSError)


@dataclass(frozen=True)
class Case:
    """One hostile input and the outcome it must get.

    Attributes:
        name: Short description (used as the pytest id).
        build: ``build(tmp_path)`` creates the input and returns a CLI argv or an API callable.
        expect: ``"error"``, ``"skip"`` or ``"ok"`` (see the module docstring).
        match: Regular expression searched (``re.search``, case-insensitive) in the error
            message (``error``) or the output / result (``skip``, ``ok``); ``""`` matches anything.
        check: Optional ``check(tmp_path, outcome)`` with further assertions.
        timeout: Seconds before the case counts as hung.
    """

    name: str
    build: Callable[[Path], Built]
    expect: Expect
    match: str = ""
    check: Callable[[Path, Outcome], None] | None = None
    timeout: float = 60.0


@dataclass
class Outcome:
    """What one run produced (passed to ``Case.check``)."""

    code: int | None = None
    stdout: str = ""
    stderr: str = ""
    value: Any = None
    error: BaseException | None = None
    argv: list[str] = field(default_factory=list)


def _run_cli(argv: list[str]) -> Outcome:
    from datakit.cli import main

    out, err = io.StringIO(), io.StringIO()
    outcome = Outcome(argv=list(argv))
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            outcome.code = main(argv)
        except SystemExit as e:  # argparse usage errors exit 2
            outcome.code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # a traceback is what this harness detects
            outcome.error = e
    outcome.stdout, outcome.stderr = out.getvalue(), err.getvalue()
    return outcome


def _run_api(call: Callable[[], Any]) -> Outcome:
    outcome = Outcome()
    try:
        outcome.value = call()
    except BaseException as e:
        outcome.error = e
    return outcome


def _in_thread(fn: Callable[[], Outcome], timeout: float, name: str) -> Outcome:
    box: list[Outcome] = []
    t = threading.Thread(target=lambda: box.append(fn()), daemon=True, name=f"hostile:{name}")
    t.start()
    t.join(timeout)
    if t.is_alive() or not box:
        raise AssertionError(f"{name}: still running after {timeout:g} s (hang?)")
    return box[0]


def _search(pattern: str, text: str) -> bool:
    return not pattern or re.search(pattern, text, re.IGNORECASE | re.DOTALL) is not None


def run_case(case: Case, tmp_path: Path) -> Outcome:
    """Build ``case`` under ``tmp_path``, run it, and assert its outcome class; return the outcome."""
    built = case.build(tmp_path)
    if isinstance(built, list):
        argv = [str(a) for a in built]
        outcome = _in_thread(lambda: _run_cli(argv), case.timeout, case.name)
        where = f"datakit {' '.join(argv)}"
        if outcome.error is not None:
            raise AssertionError(f"{case.name}: {where} raised {type(outcome.error).__name__}: {outcome.error}") from outcome.error
        if "Traceback (most recent call last)" in outcome.stderr + outcome.stdout:
            raise AssertionError(f"{case.name}: {where} printed a traceback:\n{outcome.stderr}")
        if case.expect == "error":
            lines = [ln for ln in outcome.stderr.splitlines() if ln.strip()]
            assert outcome.code not in (0, None), f"{case.name}: {where} exited 0; stdout:\n{outcome.stdout}"
            # exit 1: exactly one line; exit 2 (argparse usage error): usage lines, then that line
            one_line = len(lines) == 1 or (outcome.code == 2 and bool(lines))
            assert one_line and re.match(r"datakit [\w-]+: error: ", lines[-1]), (
                f"{case.name}: expected one 'datakit CMD: error:' line, got:\n{outcome.stderr}"
            )
            assert _search(case.match, outcome.stderr), f"{case.name}: error {outcome.stderr!r} does not match {case.match!r}"
        else:
            assert outcome.code == 0, f"{case.name}: {where} exited {outcome.code}: {outcome.stderr}"
            assert _search(case.match, outcome.stdout), f"{case.name}: stdout does not match {case.match!r}:\n{outcome.stdout}"
    else:
        call = built
        outcome = _in_thread(lambda: _run_api(call), case.timeout, case.name)
        err = outcome.error
        if case.expect == "error":
            if err is None:
                raise AssertionError(f"{case.name}: no error raised (returned {outcome.value!r})")
            if not isinstance(err, API_ERRORS):
                raise AssertionError(f"{case.name}: raised {type(err).__name__} (a traceback): {err}") from err
            assert _search(case.match, str(err)), f"{case.name}: error {str(err)!r} does not match {case.match!r}"
        else:
            if err is not None:
                raise AssertionError(f"{case.name}: raised {type(err).__name__}: {err}") from err
            assert _search(case.match, str(outcome.value)), f"{case.name}: result does not match {case.match!r}: {outcome.value!r}"
    if case.check is not None:
        case.check(tmp_path, outcome)
    return outcome
