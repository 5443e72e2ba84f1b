#!/usr/bin/env bash
# Wheels for the GPU machine's own Python (3.12, PyTorch/transformers/OpenCV already there; nothing
# can be fetched there), for what benchmarks/device_run.sh imports and that machine lacks. Run it
# here, where PyPI is reachable, from the repository root; it fills .whl/ (git-ignored), which the
# device call carries:
#   bash benchmarks/device_wheels.sh
#   run(command="bash benchmarks/device_run.sh", carry=[".whl"], timeout_s=...)
# --no-deps: the list is complete on its own (each wheel's requirements are either here or in the
# machine's image; PyAV and opencv-python, which supervision and sahi declare, are never imported
# by these benchmarks: frames are decoded with OpenCV, which the image has headless).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=${PIP:-.venv/bin/python -m pip}
DEST=${DEST:-.whl}
WHEELS=(
  # datakit's core needs (datakit itself travels as the working tree, on PYTHONPATH)
  orjson==3.13.0 simplejpeg==1.9.0 defusedxml==0.7.1 pycocotools==2.0.11
  # the detector, its annotations library and its config models
  rfdetr==1.11.2 supervision==0.31.2 pyDeprecate==0.9.0
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0
  # the SAHI baseline
  sahi==0.12.8 shapely==2.2.0 fire==0.7.1 termcolor==3.3.0
  # bench_annotate draws its crops with the renderers' fonts
  fontpkg==0.2.2 fontpkg-anton==2.116 fontpkg-oswald==4.103 fontpkg-bebas-neue==2.0
  fontpkg-russo-one==1.000 fontpkg-black-ops-one==1.4 fontpkg-teko==2.000 fontpkg-fjalla-one==1.2
)
rm -rf "$DEST"
$PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DEST" "${WHEELS[@]}"
ls "$DEST" | wc -l
du -sh "$DEST"
