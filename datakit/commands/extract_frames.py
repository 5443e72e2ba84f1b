"""``datakit extract-frames VIDEO... --out DS``: frames as samples, exact indices, resumable."""

from __future__ import annotations

import argparse
import os
import sys

from datakit.commands._common import add_common, add_scheduler, emit, format_skips


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``extract-frames`` command."""
    from datakit.video.plan import DEFAULT_EVERY, DEFAULT_MAX_FRAMES

    p = sub.add_parser(
        "extract-frames",
        help="extract video frames (every N, N per second, at event times) into a dataset",
        description="Extract frames from videos into a native JSONL dataset under --out: every N-th frame, "
        "N per second, and frames at and around event timestamps, with exact frame indices. "
        "Rerunning the same command after an interruption writes only the frames still missing.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files (one task per video)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--every", type=int, help=f"every N-th frame (default {DEFAULT_EVERY} unless --fps or --events)")
    how.add_argument("--fps", type=float, help="frames per second of video time")
    p.add_argument(
        "--max-frames", type=int, default=DEFAULT_MAX_FRAMES,
        help=f"at most this many frames per video, thinned evenly (default {DEFAULT_MAX_FRAMES}; 0: no cap)",
    )  # fmt: skip
    p.add_argument("--start", type=float, help="start of the range, seconds")
    p.add_argument("--end", type=float, help="end of the range, seconds (exclusive)")
    p.add_argument("--events", help="events JSON: a list of {label, position|time} or SoccerNet's {annotations: [...]}")
    p.add_argument("--window", type=float, default=0.0, help="seconds either side of each event (default 0)")
    p.add_argument("--per-event", type=int, help="frames per event over the window (default 1, or 3 with --window)")
    p.add_argument("--half", type=int, help="SoccerNet: use the events of this half (gameTime 'H - MM:SS')")
    p.add_argument(
        "--skip-similar", type=int, metavar="D",
        help="skip a frame within D bits (of 64) of the last kept frame's perceptual hash; never across a scene cut",
    )  # fmt: skip
    p.add_argument("--split", help="split of every frame (default none: images under unsplit/)")
    p.add_argument("--format", choices=("jpg", "png"), default="jpg", help="image format (default jpg)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1-100 (default 95)")
    p.add_argument("--lenient", action="store_true", help="count bad videos, late events, undecodable frames as skips")
    p.add_argument("--workers", type=int, default=1, help="videos decoded at once, one process each (default 1)")
    p.add_argument(
        "--decoders", type=int,
        help="decoder threads per video, each taking a keyframe-aligned share of its frames "
        "(default: CPU cores / videos decoded at once, and 1 where the wanted frames are under 4 apart on "
        "average, as with --every 1-3 or --fps at the file's rate, which JPEG encoding bounds; "
        "1: one FFmpeg-threaded decoder; --skip-similar uses 1)",
    )  # fmt: skip
    add_scheduler(p)
    add_common(p, out=True, out_required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, extract, write the dataset, summarise."""
    from datakit.cli import CommandError
    from datakit.video import Selection, extract_frames, load_events

    events = tuple(load_events(args.events)) if args.events else ()
    if (args.window or args.per_event) and not args.events:
        raise CommandError("--window and --per-event need --events FILE")
    selection = Selection(
        every=args.every, fps=args.fps, start=args.start, end=args.end, max_frames=args.max_frames,
        events=events, events_file=args.events, window=args.window, per_event=args.per_event,
        skip_similar=args.skip_similar, lenient=args.lenient,
    )  # fmt: skip
    if args.workers < 1:
        raise CommandError(f"--workers must be at least 1, got {args.workers}")
    if args.decoders is not None and args.decoders < 1:
        raise CommandError(f"--decoders must be at least 1, got {args.decoders}")
    from datakit.video.plan import decoder_threads

    scheduler = args.scheduler or os.environ.get("DATAKIT_SCHEDULER") or ""
    # Without --decoders, each video's plan decides (one decoder for dense selections); these are
    # the cores each video may use for it.
    if scheduler.startswith("local:") and scheduler[6:].isdigit():  # N loopback workers share the cores
        cores = max(1, decoder_threads() // max(1, int(scheduler[6:])))
    elif scheduler:
        cores = 0  # a remote worker counts its own cores
    else:
        cores = max(1, decoder_threads() // min(args.workers, len(args.videos)))
    from datakit.parallel import executor, ordered_map

    try:
        # One task per video; on a Dask cluster the workers write the frames, so they must share
        # the output folder's file system (the client writes the dataset from their journals).
        with executor(min(args.workers, len(args.videos)), args.scheduler) as ex:
            report = extract_frames(
                args.videos, args.out, selection, split=args.split, image_format=args.format,
                quality=args.quality, half=args.half, lenient=args.lenient, decoders=args.decoders or 0, cores=cores,
                progress=sys.stderr.isatty() and not args.json and ex is None,
                mapper=lambda fn, tasks: ordered_map(ex, fn, tasks),
            )  # fmt: skip
    except OSError as e:
        if isinstance(e, (FileNotFoundError, NotADirectoryError)):
            raise
        raise CommandError(f"{e.filename or args.out}: {e.strerror or e}") from None
    summary = report.summary()
    payload = {
        **summary,
        "split": args.split,
        "max_frames": args.max_frames,
        "per_video": [
            {"video": r.video, "key": r.key, "planned": r.planned, "event_frames": r.event_frames,
             "written": r.written, "resumed": r.resumed,
             "skipped_similar": r.skipped_similar, "scene_cuts": r.scene_cuts, "selected": r.selected,
             "capped": r.capped, "decoded": r.decoded, "not_decoded": r.not_decoded, "cut": r.cut, "seeks": r.seeks,
             "decoders": r.decoders}
            for r in report.videos
        ],
        "skips": [s.to_dict() for s in report.skips],
    }  # fmt: skip
    lines = [f"extract-frames: {len(report.videos)} videos → {args.out} ({args.split or 'unsplit'})"]
    for r in report.videos:
        for_events = f" ({r.event_frames} for events)" if r.event_frames else ""
        line = f"  {r.video}: {r.planned} frames planned{for_events}, {r.written} written, {r.resumed} already there"
        if args.skip_similar is not None:
            line += f", {r.skipped_similar} skipped as similar ({r.scene_cuts} scene cuts)"
        if r.capped:
            line += f"; capped by --max-frames {args.max_frames}: {r.selected} selected"
        lines.append(line)
    lines.append(f"dataset: {report.samples} samples")
    skips = [s.to_dict() for s in report.skips]
    lines.append(format_skips(skips))
    emit(args, payload, "\n".join(lines))
    return 0
