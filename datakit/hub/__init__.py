"""Publishing to the Hugging Face Hub (extra ``hub``): a dataset card and a resumable, retried upload.

``huggingface_hub`` and ``datasets`` are imported only inside the functions that use them.

Examples:
    >>> from datakit.hub import shard_name
    >>> shard_name("valid", "0123456789abcdef" * 4)
    'data/valid-0123456789abcdef.parquet'

"""

from __future__ import annotations

from datakit.hub.publish import PublishError, PublishResult, StagedFile, publish, read_token, shard_name, stage

__all__ = ["PublishError", "PublishResult", "StagedFile", "publish", "read_token", "shard_name", "stage"]
