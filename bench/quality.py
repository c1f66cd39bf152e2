"""Quality against a generated ground truth: tempo and key, drum transcription, separation.

Renders (or reuses) the FluidSynth corpus of tests/support/corpus.py: MIDI songs at known
tempos and keys, each stem rendered on its own, the mix their sum. Prints markdown tables:

1. bpm and key of each mix (stemcast.analysis.features.analyze) against the spec;
2. drum onsets (stemcast.analysis.drums.transcribe) on the ground-truth drum stems;
3. separation SDR per stem for the DSP engine, Demucs (a tiny random-weight HTDemucs, or
   real weights with --model/--model-repo) and the mix/4 baseline;
4. drum onsets on the DSP engine's drum stem: what a server without weights gives;
5. speech over rendered music (bench/speech.py: espeak-ng voices at 0 dB over each song's
   accompaniment): vocal and accompaniment SDR for the engines that need no download
   (dsp, spleeter-2stems, offline) and the mix/2 baseline, with their speed.

    python bench/quality.py [--songs N] [--out DIR] [--model NAME --model-repo DIR]
                            [--sections 1,2,3,4,5] [--precision fp32|bf16]
                            [--engines dsp,offline,spleeter-2stems,demucs,mix/4,mix/2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support

from common import machine, table

from tests.support.corpus import (
    DEFAULT_SONGS,
    SAMPLE_RATE,
    STEMS,
    RenderedSong,
    Score,
    NEEDS,
    fluidsynth_available,
    key_verdict,
    load_stereo,
    match_onsets,
    render_corpus,
    tempo_verdict,
)

SDR_FUNCTION = ("fast_bss_eval.sdr_loss(est, ref, pairwise=False), negated: BSS Eval v3 SDR "
                "with a 512-tap distortion filter, each stem against its own reference, whole "
                "song, mean of the two channels (torch backend)")
Separate = Callable[[np.ndarray], dict[str, np.ndarray]]


def sdr(references: np.ndarray, estimates: np.ndarray) -> np.ndarray:
    """dB per stem; references and estimates (stems, channels, frames)."""
    import fast_bss_eval
    import torch

    # The numpy backend of fast_bss_eval 0.1.4 fails on numpy 2 (np.linalg.solve shapes).
    ref = torch.from_numpy(np.ascontiguousarray(references.transpose(1, 0, 2), np.float64))
    est = torch.from_numpy(np.ascontiguousarray(estimates.transpose(1, 0, 2), np.float64))
    values = -fast_bss_eval.sdr_loss(est, ref, pairwise=False)  # (channels, stems)
    out: np.ndarray = values.mean(dim=0).numpy()
    return out


def fmt(value: float) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.1f}"


def tempo_and_key(songs: list[RenderedSong]) -> None:
    from stemcast.analysis.features import analyze

    rows, tempos, keys = [], [], []
    for song in songs:
        features = analyze(load_stereo(song.mix), SAMPLE_RATE)
        tempo = tempo_verdict(song.spec.bpm, features.bpm)
        key = key_verdict(song.spec.key, song.spec.mode, features.key, features.mode)
        tempos.append(tempo)
        keys.append(key)
        found_bpm = "-" if features.bpm is None else f"{features.bpm:.2f}"
        rows.append([song.spec.name, f"{song.spec.bpm:g}", found_bpm, tempo,
                     song.spec.key_name, str(features.key_name), key])

    def summary(verdicts: list[str], kinds: tuple[str, ...]) -> str:
        return ", ".join(f"{kind} {verdicts.count(kind)}" for kind in kinds
                         if verdicts.count(kind) or kind == kinds[0])

    rows.append(["**total**", "", "", summary(tempos, ("exact", "double", "half", "other",
                                                        "none")),
                 "", "", summary(keys, ("exact", "relative", "fifth", "parallel", "other",
                                        "none"))])
    print("\n### 1. Tempo and key of each mix (stemcast.analysis.features.analyze)\n")
    print("bpm: exact within ±1 bpm, double/half within ±1 bpm of twice/half the tempo. "
          "Key: MIREX categories (fifth: same mode, tonic a fifth away; relative: same key "
          "signature).\n")
    print(table(["song", "bpm", "found", "verdict", "key", "found", "verdict"], rows))


def onset_table(songs: list[RenderedSong], drums: list[np.ndarray]) -> str:
    from stemcast.analysis.drums import LANES, transcribe

    lanes = {lane.index: Score(0, 0, 0) for lane in LANES}
    overall = Score(0, 0, 0)
    seconds = 0.0
    for song, stem in zip(songs, drums, strict=True):
        started = time.perf_counter()
        onsets = transcribe(stem, SAMPLE_RATE)
        seconds += time.perf_counter() - started
        for lane in lanes:
            lanes[lane] += match_onsets([o.time for o in onsets if o.lane == lane],
                                        [h.time for h in song.drum_hits if h.lane == lane])
        overall += match_onsets(sorted({o.time for o in onsets}),
                                sorted({h.time for h in song.drum_hits}))
    rows = [[LANES[lane].name, str(s.reference), str(s.estimated), f"{s.precision:.2f}",
             f"{s.recall:.2f}", f"{s.f:.2f}"] for lane, s in lanes.items()]
    rows.append(["**any lane**", str(overall.reference), str(overall.estimated),
                 f"{overall.precision:.2f}", f"{overall.recall:.2f}", f"{overall.f:.2f}"])
    audio = sum(stem.shape[1] for stem in drums) / SAMPLE_RATE
    return (table(["lane", "hits", "found", "precision", "recall", "F"], rows)
            + f"\n\n{audio:.0f} s of drums transcribed in {seconds:.1f} s.")


def spleeter_networks(args: argparse.Namespace) -> object:
    from stemcast.separation.spleeter_engine import SpleeterNetworks

    if not hasattr(args, "_networks"):
        args._networks = SpleeterNetworks.load(device="cpu", precision=args.precision)
    return args._networks


def engines(args: argparse.Namespace) -> list[tuple[str, Separate]]:
    from stemcast.separation.demucs_engine import DemucsEngine
    from stemcast.separation.dsp_engine import DspEngine
    from stemcast.separation.offline_engine import OfflineEngine
    from stemcast.separation.random_model import build_htdemucs

    out: list[tuple[str, Separate]] = [
        ("mix/4 (baseline)", lambda mix: {stem: mix / 4 for stem in STEMS}),
        ("dsp", DspEngine().separate),
        ("offline", OfflineEngine(spleeter_networks(args)).separate),  # type: ignore[arg-type]
        ("demucs tiny-random", DemucsEngine(build_htdemucs("tiny"), name="tiny-random").separate),
    ]
    if args.model:
        engine = DemucsEngine.load(args.model, args.model_repo, device=args.device)
        out.append((f"demucs {args.model}", engine.separate))
    return [(name, separate) for name, separate in out if wanted(args, name)]


def wanted(args: argparse.Namespace, name: str) -> bool:
    """Whether --engines names this engine (its first word: dsp, offline, demucs, mix/4)."""
    return not args.engines or name.split()[0] in args.engines


def separation(songs: list[RenderedSong], args: argparse.Namespace) -> list[np.ndarray]:
    """Prints the SDR table; returns the DSP engine's drum stems."""
    rows, dsp_drums = [], []
    for name, separate in engines(args):
        per_stem: dict[str, list[float]] = {stem: [] for stem in STEMS}
        seconds = 0.0
        for song in songs:
            mix = load_stereo(song.mix)
            started = time.perf_counter()
            stems = separate(mix)
            seconds += time.perf_counter() - started
            if name == "dsp":
                dsp_drums.append(stems["drums"])
            references = np.stack([load_stereo(song.stems[stem]) for stem in STEMS])
            values = sdr(references, np.stack([stems[stem] for stem in STEMS]))
            for stem, value in zip(STEMS, values, strict=True):
                per_stem[stem].append(float(value))
        every = [v for values in per_stem.values() for v in values]
        audio = sum(song.spec.seconds for song in songs)
        rows.append([name, *(fmt(statistics.median(per_stem[stem])) for stem in STEMS),
                     fmt(statistics.median(every)), f"{seconds:.1f}",
                     f"{audio / seconds:.1f}" if seconds > 0 else "-"])
    print("\n### 3. Separation: SDR per stem (dB, median over the songs)\n")
    print(f"SDR: {SDR_FUNCTION}. The median column is over every song and stem. "
          "tiny-random is an untrained ~0.36M-parameter HTDemucs: the cost of the real code, "
          "not its quality.\n")
    print(table(["engine", *STEMS, "median", "separate s", "x realtime"], rows))
    return dsp_drums


def speech_over_music(songs: list[RenderedSong], args: argparse.Namespace) -> None:
    """Vocal and accompaniment SDR with espeak-ng speech as the vocal, at 0 dB."""
    from speech import VOICES, at_0_db, speech_track

    from stemcast.separation.dsp_engine import DspEngine
    from stemcast.separation.offline_engine import OfflineEngine
    from stemcast.separation.spleeter_engine import SpleeterEngine

    networks = spleeter_networks(args)
    contenders: list[tuple[str, Separate, str]] = [
        ("mix/2 (baseline)", lambda mix: {"vocals": mix / 2, "accompaniment": mix / 2}, ""),
        ("dsp", DspEngine().separate, "4"),
        ("spleeter-2stems", SpleeterEngine(networks).separate, ""),  # type: ignore[arg-type]
        ("offline", OfflineEngine(networks).separate, "4"),  # type: ignore[arg-type]
    ]
    contenders = [c for c in contenders if wanted(args, c[0])]
    cases = []
    for index, song in enumerate(songs):
        accompaniment = sum(load_stereo(song.stems[stem]) for stem in STEMS if stem != "vocals")
        assert isinstance(accompaniment, np.ndarray)
        voice = VOICES[index % len(VOICES)]
        speech, mix = at_0_db(speech_track(voice, accompaniment.shape[1], SAMPLE_RATE),
                              accompaniment)
        cases.append((song.spec.name, voice, speech, mix - speech, mix))
    rows = []
    for name, separate, kind in contenders:
        vocals, rest, seconds = [], [], 0.0
        for _, _, speech, accompaniment, mix in cases:
            started = time.perf_counter()
            stems = separate(mix)
            seconds += time.perf_counter() - started
            other = stems["accompaniment"] if not kind else \
                stems["drums"] + stems["bass"] + stems["other"]
            values = sdr(np.stack([speech, accompaniment]), np.stack([stems["vocals"], other]))
            vocals.append(float(values[0]))
            rest.append(float(values[1]))
        audio = sum(case[4].shape[1] for case in cases) / SAMPLE_RATE
        rows.append([name, fmt(statistics.median(vocals)), fmt(statistics.median(rest)),
                     fmt(min(vocals)), f"{seconds:.1f}",
                     f"{audio / seconds:.1f}" if seconds > 0 else "-"])
    voices = ", ".join(f"{case[0]}: {case[1]}" for case in cases)
    print("\n### 5. Speech over rendered music: vocals and accompaniment SDR (dB)\n")
    print(f"espeak-ng speech (voices {voices}) at 0 dB over each song's drums + bass + "
          f"other; 4-stem engines' accompaniment is drums + bass + other. SDR: "
          f"{SDR_FUNCTION}. Median over the songs; worst vocals too. Spleeter networks in "
          f"{args.precision}.\n")
    print(table(["engine", "vocals", "accompaniment", "worst vocals", "separate s",
                 "x realtime"], rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=len(DEFAULT_SONGS),
                        help=f"how many of the {len(DEFAULT_SONGS)} corpus songs (default all)")
    parser.add_argument("--out", type=Path,
                        default=Path(tempfile.gettempdir()) / "stemcast-bench" / "corpus",
                        help="corpus folder, reused between runs")
    parser.add_argument("--model", help="also a Demucs model with real weights, by name")
    parser.add_argument("--model-repo", type=Path, help="local folder of --model's weights")
    parser.add_argument("--device", default="auto", help="for --model: auto, cpu or cuda")
    parser.add_argument("--sections", default="1,2,3,4,5",
                        help="which tables to print (default all)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="what Spleeter's networks run in (default fp32)")
    parser.add_argument("--engines", type=lambda text: {p.strip() for p in text.split(",")},
                        default=set(), help="only these engines, by first word, e.g. "
                        "dsp,offline (default all; the baselines are mix/4 and mix/2)")
    args = parser.parse_args()
    sections = {int(part) for part in args.sections.split(",") if part.strip()}
    if not fluidsynth_available():
        print(NEEDS, file=sys.stderr)
        return 2
    started = time.perf_counter()
    songs = render_corpus(args.out, DEFAULT_SONGS[:max(1, args.songs)])
    print(f"## Quality on the FluidSynth corpus: {len(songs)} songs, "
          f"{sum(s.spec.seconds for s in songs):.0f} s, in {args.out}")
    print(f"\nOn {machine()}; corpus ready in {time.perf_counter() - started:.1f} s.")
    if 1 in sections:
        tempo_and_key(songs)
    if 2 in sections:
        print("\n### 2. Drum onsets on the ground-truth drum stems (±25 ms)\n")
        print(onset_table(songs, [load_stereo(song.stems["drums"]) for song in songs]))
    if 3 in sections or 4 in sections:
        dsp_drums = separation(songs, args)
        if 4 in sections and dsp_drums:
            print("\n### 4. Drum onsets on the DSP engine's drum stem (±25 ms)\n")
            print(onset_table(songs, dsp_drums))
    if 5 in sections:
        from speech import espeak_available

        if espeak_available():
            speech_over_music(songs, args)
        else:
            print("\n### 5. skipped: needs espeak-ng (Debian: apt-get install espeak-ng)")
    print(f"\nTotal {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
