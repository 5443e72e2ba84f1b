#!/usr/bin/env bash
# One GPU session: the pseudo-label benchmark (sliced RF-DETR vs SAHI, full-frame only) and the
# VLM annotation benchmark, each writing its own section of benchmarks/RESULTS.md.
#
# On the lent GPU machine (its own Python 3.12 with PyTorch, transformers and OpenCV; nothing can
# be fetched there), first fill .whl/ here with what it lacks, then carry it:
#   bash benchmarks/device_wheels.sh
#   run(command="bash benchmarks/device_run.sh", carry=[".whl"], timeout_s=540)
# On a machine with this repository's .venv, plain `bash benchmarks/device_run.sh`.
# Offline by construction: models are built with random weights; nothing is downloaded.
# CPU_DRY_RUN=1 runs the same steps small on the CPU and leaves RESULTS.md as it was: a check of
# the environment before spending device time. It passed in an environment of that machine's
# packages plus .whl's; the GPU run itself has not been seen yet.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1 PYTHONUNBUFFERED=1
if [ -z "${PY:-}" ] && [ -x .venv/bin/python ]; then
  PY=.venv/bin/python
elif [ -z "${PY:-}" ]; then
  PY=python3
  if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
  fi
fi
"$PY" -c "import rfdetr, sahi.predict, annotators.pseudo, annotators.vlm, datakit" \
  || { echo "missing packages: run benchmarks/device_wheels.sh here and carry .whl"; exit 3; }
status=0
if [ -n "${CPU_DRY_RUN:-}" ]; then
  keep=$(mktemp); cp benchmarks/RESULTS.md "$keep"
  "$PY" benchmarks/bench_pseudo.py --device cpu --frames 1 --backends torch --rss-sizes '' >/dev/null || status=1
  "$PY" benchmarks/bench_annotate.py --quick --vlm-smoke --crops 50 >/dev/null || status=1
  cp "$keep" benchmarks/RESULTS.md; rm -f "$keep"
  echo "CPU dry run: $([ $status = 0 ] && echo ok || echo FAILED)"; exit $status
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
echo "== bench_pseudo (GPU)"
"$PY" benchmarks/bench_pseudo.py --device cuda --frames "${PSEUDO_FRAMES:-64}" --rss-sizes '' || { echo "bench_pseudo failed"; status=1; }
echo "== bench_annotate (VLM on the GPU)"
"$PY" benchmarks/bench_annotate.py --quick || { echo "bench_annotate failed"; status=1; }
if [ -n "${OUT:-}" ]; then cp benchmarks/RESULTS.md "$OUT/RESULTS.md"; fi
exit $status
