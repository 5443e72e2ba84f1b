"""Distribution audits of dataset metadata: statistics, plots and an HTML report.

:func:`~datakit.audit.stats.audit` computes the numbers (numpy only; scipy for the chi-square
test); :func:`~datakit.audit.report.write_report` writes ``audit.json``, PNG plots (matplotlib,
imported only there) and ``report.html``. ``datakit audit`` is the command-line front end.

Examples:
    >>> from datakit import Dataset, Sample
    >>> from datakit.audit import audit
    >>> ds = Dataset.from_samples([Sample("a.jpg", split="train", metadata={"border": True})], ".")
    >>> audit(ds, by=("split",))["degenerate_fields"][0]["field"]
    'border'

"""

from __future__ import annotations

from datakit.audit.stats import agreement, audit, class_balance, shift

__all__ = ["agreement", "audit", "class_balance", "shift"]
