#!/usr/bin/env bash
# One GPU session: the pseudo-label benchmark (sliced RF-DETR vs SAHI, full-frame only) and the
# VLM annotation benchmark, each writing its own section of benchmarks/RESULTS.md.
#   bash benchmarks/device_run.sh            # on the machine with the GPU, from the repository root
# Offline by construction: models are built with random weights; nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 NO_ALBUMENTATIONS_UPDATE=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
echo "== bench_pseudo (GPU)"
"$PY" benchmarks/bench_pseudo.py --device cuda --frames "${PSEUDO_FRAMES:-64}" --rss-sizes '' || echo "bench_pseudo failed"
echo "== bench_annotate (VLM on the GPU)"
"$PY" benchmarks/bench_annotate.py --quick || echo "bench_annotate failed"
[ -n "${OUT:-}" ] && cp benchmarks/RESULTS.md "$OUT/RESULTS.md" || true
