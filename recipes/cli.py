"""``datakit train``: the training recipes (``jersey``, ``detector``) as subcommands.

Registered through the ``datakit.commands`` entry point (``train = recipes.cli:register``); the
recipes' heavy imports (torch, rfdetr) happen only when a subcommand runs.

Examples::

    datakit train jersey data/jerseys --out runs/r18 --weights resnet18-f37072fd.pth
    datakit train jersey data/jerseys --out runs/r18 --resume
    datakit train detector data/ball --out runs/ball --size nano --resolution 640
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train`` and its ``jersey`` / ``detector`` subcommands."""
    from recipes import detector, jersey_classifier

    p = sub.add_parser("train", help="train a recipe (jersey classifier, RF-DETR detector) on a dataset")
    tsub = p.add_subparsers(dest="train_command", metavar="RECIPE")
    tsub.required = True

    j = tsub.add_parser(
        "jersey",
        help="the jersey OCR project's best number classifier (ResNet18 / EfficientNet-Lite0, run #21)",
        description="Train the jersey-number classifier on DATASET's train/valid/test splits.",
    )
    j.add_argument("dataset", metavar="DATASET", help="dataset folder (train/ valid/ test/)")
    j.add_argument("--out", required=True, help="run folder")
    jersey_classifier.add_options(j)
    j.set_defaults(func=lambda args: jersey_classifier.run_args(args, args.dataset))

    d = tsub.add_parser(
        "detector",
        help="RF-DETR on DATASET's boxes: backbone frozen, then unfrozen at lr/10; small-object mAP",
        description="Export DATASET to RF-DETR's Roboflow COCO layout and train RF-DETR in two phases.",
    )
    d.add_argument("dataset", metavar="DATASET", help="dataset with detections and train/valid splits")
    d.add_argument("--out", required=True, help="run folder")
    detector.add_options(d)
    d.set_defaults(func=lambda args: detector.run_args(args, args.dataset))
