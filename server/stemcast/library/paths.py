"""Which files a client may name: only those inside the folders the operator allowed."""

from __future__ import annotations

from pathlib import Path

AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".aif", ".aiff", ".aifc", ".mp3", ".m4a", ".aac", ".mp4",
     ".ogg", ".oga", ".opus", ".webm", ".wma"}
)


class PathNotAllowedError(PermissionError):
    def __init__(self, path: str, allowed: list[Path]) -> None:
        self.path = path
        self.allowed = allowed
        folders = ", ".join(str(p) for p in allowed) or "(none configured)"
        super().__init__(
            f"'{path}' is outside the folders this server may read ({folders}). "
            "Start the server with --library DIR or --allow-path-prefix DIR for that folder, "
            "or upload the file with POST /api/tracks."
        )


def resolve_allowed(path: str, allowed: list[Path]) -> Path:
    """Resolve symlinks and '..' first, so a link or a traversal cannot leave the folders."""
    candidate = Path(path)
    if not candidate.is_absolute():
        raise ValueError(f"'{path}' is not an absolute path; send the full path of the file")
    resolved = candidate.resolve()
    for folder in allowed:
        root = folder.resolve()
        if resolved == root or resolved.is_relative_to(root):
            return resolved
    raise PathNotAllowedError(path, allowed)


def is_inside(path: Path, allowed: list[Path]) -> bool:
    """The real path (symlinks and '..' resolved) lies in one of the folders."""
    real = path.resolve()
    return any(real == root or real.is_relative_to(root)
               for root in (folder.resolve() for folder in allowed))


def is_audio_filename(path: Path) -> bool:
    return path.suffix.lower() in AUDIO_EXTENSIONS
