"""`stemcast separate TRACK...`: demucs's command line, no server needed.

A demucs user's line works with `stemcast` in place of `demucs` (`-n MODEL`, `-o DIR`,
`--two-stems`, `--mp3`, `--flac`, `--int24`, `--float32`, `--filename`, `-d`, `-j`,
`--shifts`, `--overlap`, `--segment`, `--list-models`), with demucs's layout
OUT/MODEL/TRACK/STEM.ext. The model loads once for all tracks; a track that fails is
reported and skipped, and the exit status is 1 at the end. Stem paths go to stdout (or one
JSON object per track with --json), progress and messages to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from stemcast.cli.common import DEVICE, ENGINE, MODEL
from stemcast.cli.flags import Flag, add_flags
from stemcast.cli.progress import Progress
from stemcast.separate_file import SeparateError, Separator, StemFormat, load_separator_engine

# The shared model flags in demucs's spelling; the old names still work.
MODEL_DEMUCS = (
    replace(MODEL[0], name="--name", short="-n", aliases=("--model",), dest="model"),
    replace(MODEL[1], name="--repo", aliases=("--model-repo",), dest="model_repo"),
    replace(DEVICE[0], short="-d"),
    *ENGINE,
)
OUTPUT = (
    Flag("--out", None, Path, Path("separated"),
         "folder for the stems; a subfolder named after the model is made in it",
         short="-o"),
    Flag("--filename", None, str, "{track}/{stem}.{ext}",
         "each stem's path under OUT/MODEL, with {track}, {trackext}, {stem} and {ext} "
         "(track name without extension, its extension, stem name, output extension)"),
    Flag("--two-stems", None, str, None, "only STEM and no_STEM (the others summed)",
         metavar="STEM", dest="two_stems"),
    Flag("--other-method", None, str, "add",
         "how no_STEM is made with --two-stems: add (the other stems summed), minus (the "
         "mix minus STEM, written as minus_STEM), none (not written)",
         choices=("none", "add", "minus")),
    Flag("--flac", None, bool, False, "write FLAC instead of WAV"),
    Flag("--mp3", None, bool, False, "write MP3 instead of WAV"),
    Flag("--mp3-bitrate", None, int, 320, "MP3 bitrate in kbit/s"),
    Flag("--mp3-preset", None, int, 2, "MP3 encoder quality, 2 (best) to 7 (fastest)"),
    Flag("--int24", None, bool, False, "24-bit WAV/FLAC instead of 16-bit"),
    Flag("--float32", None, bool, False, "32-bit float WAV (twice as big)"),
    Flag("--clip-mode", None, str, "rescale",
         "keep stems below full scale: rescale a stem that would clip, clamp, or none",
         choices=("rescale", "clamp", "none")),
)
SPLIT = (
    Flag("--overlap", None, float, None, "overlap between segments (0 to <1; default 0.25)"),
    Flag("--segment", None, float, None,
         "segment length in seconds (at most what the model was trained on); shorter uses "
         "less memory"),
    Flag("--jobs", None, int, 0, "torch threads for the separation (0: torch's default)",
         short="-j"),
)
SCRIPTING = (
    Flag("--json", None, bool, False,
         "one JSON object per track on stdout (track, ok, model, stems, error, "
         "durationSeconds, elapsedSeconds) instead of stem paths"),
    Flag("--list-models", None, bool, False, "list the models installed here and exit",
         dest="list_models"),
    Flag("--verbose", None, bool, False, "say more (demucs's -v)", short="-v"),
)

FLAGS = (MODEL_DEMUCS, OUTPUT, SPLIT, SCRIPTING)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("separate", help="separate audio files into stems as demucs does, "
                                             "no server needed")
    parser.add_argument("tracks", nargs="*", type=Path, metavar="TRACK",
                        help="audio files to separate")
    add_flags(parser, *FLAGS)
    parser.set_defaults(handler=run)


def _stem_format(args: argparse.Namespace) -> tuple[StemFormat | None, str | None]:
    """The StemFormat the flags ask for, or the message saying which flags clash."""
    if args.flac and args.mp3:
        return None, "give --flac or --mp3, not both"
    if args.int24 and args.float32:
        return None, "give --int24 or --float32, not both"
    if not 2 <= args.mp3_preset <= 7:
        return None, f"--mp3-preset must be 2 to 7, got {args.mp3_preset}"
    if not 8 <= args.mp3_bitrate <= 320:
        return None, f"--mp3-bitrate must be 8 to 320 kbit/s, got {args.mp3_bitrate}"
    style = StemFormat(format="mp3" if args.mp3 else "flac" if args.flac else "wav",
                       bit_depth=32 if args.float32 else 24 if args.int24 else 16,
                       mp3_bitrate=args.mp3_bitrate, mp3_preset=args.mp3_preset,
                       clip_mode=args.clip_mode, filename=args.filename,
                       two_stems=args.two_stems, other_method=args.other_method)
    return style, None


def run(args: argparse.Namespace) -> int:
    from stemcast.separation.demucs_engine import DemucsEngine

    if args.list_models:
        from stemcast.cli.models import print_models

        return print_models(args.model_repo, json_lines=args.json,
                            fetch_timeout=args.model_fetch_timeout)

    def fail(message: str, status: int = 2) -> int:
        print(f"stemcast separate: {message}", file=sys.stderr)
        return status

    if not args.tracks:
        return fail("give one or more audio files to separate (or --list-models)")
    style, clash = _stem_format(args)
    if style is None:
        return fail(str(clash))
    try:
        loaded = load_separator_engine(args.model, args.model_repo, device=args.device,
                                       fetch_timeout=args.model_fetch_timeout,
                                       precision=args.precision, threads=args.jobs)
    except SeparateError as exc:
        return fail(str(exc), 1)
    try:
        if args.segment is not None or args.overlap is not None:
            if not isinstance(loaded.engine, DemucsEngine):
                raise SeparateError(f"--segment and --overlap apply to Demucs models; "
                                    f"{loaded.model} is not one")
            loaded.engine.set_split(args.segment, args.overlap)
        separator = Separator(loaded.engine, loaded.model, args.out, style, shifts=args.shifts)
    except (SeparateError, ValueError) as exc:
        return fail(str(exc))
    return _separate_all(separator, loaded.choice, args)


def _separate_all(separator: Separator, choice: str, args: argparse.Namespace) -> int:
    info = separator.engine.info
    print(f"model: {choice}", file=sys.stderr)
    print(f"Separated tracks will be stored in {separator.folder.resolve()}", file=sys.stderr)
    failed: list[str] = []
    with Progress(len(args.tracks)) as progress:
        for track in args.tracks:
            progress.start_track(f"{track.name} [{info.name} on {info.device}, "
                                 f"{info.precision}]")
            result = separator.separate_track(track, on_progress=progress.update)
            progress.end_track(result.ok)
            if args.json:
                print(json.dumps(result.to_json(separator.model)), flush=True)
            elif result.ok:
                for path in result.stems.values():
                    print(path.resolve(), flush=True)
            if result.ok:
                progress.write(f"{track.name}: separated {result.duration_s:.1f} s of audio "
                               f"in {result.elapsed_s:.1f} s ({result.speed:.2f}x realtime)")
            else:
                failed.append(str(track))
                progress.write(f"stemcast separate: {track}: {result.error} (skipped)")
    if failed:
        print(f"stemcast separate: {len(failed)} of {len(args.tracks)} track(s) failed: "
              f"{', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
