"""Musical key names: pitch classes 0-11 with C = 0 (seed 000's key "5" is F), mode 1 major
and 0 minor, spelled as key wheels and DJ software spell them (Eb major, G# minor), in
Camelot and Open Key notation."""

from __future__ import annotations

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
# The usual spelling of each key: flats where the key signature has flats (Eb major,
# Bb minor), sharps where it has sharps (F# major, G# minor).
MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
MAJOR, MINOR = 1, 0


def key_name(key: int, mode: int) -> str:
    """(5, 1) -> "F major", (9, 0) -> "A minor"."""
    _check(key, mode)
    if mode == MAJOR:
        return f"{MAJOR_NAMES[key]} major"
    return f"{MINOR_NAMES[key]} minor"


def camelot(key: int, mode: int) -> str:
    """Camelot wheel code: C major "8B", A minor "8A"; one step clockwise is a fifth up."""
    return f"{_wheel_number(key, mode, c_major=8)}{'B' if mode == MAJOR else 'A'}"


def open_key(key: int, mode: int) -> str:
    """Open Key notation (Traktor): C major "1d", A minor "1m"; same wheel as Camelot,
    turned so that C major is 1."""
    return f"{_wheel_number(key, mode, c_major=1)}{'d' if mode == MAJOR else 'm'}"


def _wheel_number(key: int, mode: int, c_major: int) -> int:
    _check(key, mode)
    # A minor key shares its number with its relative major, three semitones up.
    major = key if mode == MAJOR else (key + 3) % 12
    # Seven semitones (a fifth) is one step round the wheel: 7 * pc mod 12 counts fifths from C.
    return (7 * major + c_major - 1) % 12 + 1


def _check(key: int, mode: int) -> None:
    if not 0 <= key <= 11:
        raise ValueError(f"key must be a pitch class 0-11 (C = 0), not {key}")
    if mode not in (MAJOR, MINOR):
        raise ValueError(f"mode must be 1 (major) or 0 (minor), not {mode}")
