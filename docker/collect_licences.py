"""Copy the licence files of every installed Python distribution into one folder.

The image redistributes compiled libraries under the LGPL (lameenc's LAME, soxr's
libsoxr, PyAV's FFmpeg build, soundfile's libsndfile) and many permissive ones; their
licences must travel with it. Run in the image after `pip install .`:

    python docker/collect_licences.py /usr/share/licenses/stemcast

Writes DEST/<distribution>/<file> for each licence-like file a distribution's RECORD
lists (LICENSE*, LICENCE*, COPYING*, NOTICE*, AUTHORS*, license_notes*), plus
DEST/INDEX.txt: one line per distribution with its version and declared licence.
Exits 1 when one of the LGPL carriers, or an installed distribution of the s3 extra (the
Apache-2.0 NOTICE files must travel too), has no licence file (a packaging change to look
at).
"""

from __future__ import annotations

import shutil
import sys
from importlib.metadata import Distribution, distributions
from pathlib import Path

MARKERS = ("LICEN", "COPYING", "NOTICE", "AUTHORS", "LICENSE_NOTES")
LGPL_CARRIERS = ("lameenc", "soxr", "av", "soundfile")
# `pip install '.[s3]'` (the image's --storage s3://...): checked when installed.
S3_EXTRA = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3")


def licence_files(dist: Distribution) -> list[Path]:
    found = []
    for entry in dist.files or []:
        name = Path(str(entry)).name.upper()
        if any(marker in name for marker in MARKERS) and not name.endswith((".PY", ".PYC")):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                found.append(path)
    return found


def declared_licence(dist: Distribution) -> str:
    meta = dist.metadata
    text = meta.get("License-Expression") or meta.get("License") or ""
    return text.splitlines()[0][:80] if text else "see files"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: collect_licences.py DEST", file=sys.stderr)
        return 2
    dest = Path(argv[0])
    dest.mkdir(parents=True, exist_ok=True)
    index = []
    copied: dict[str, int] = {}
    for dist in sorted(distributions(), key=lambda d: d.metadata["Name"].lower()):
        name = dist.metadata["Name"]
        files = licence_files(dist)
        for path in files:
            target = dest / name / path.name
            if target.exists():  # two files of one name (third_party/X/LICENSE): keep both
                target = dest / name / f"{path.parent.name}-{path.name}"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        copied[name.lower()] = len(files)
        index.append(f"{name} {dist.version}: {declared_licence(dist)} ({len(files)} file(s))")
    (dest / "INDEX.txt").write_text("\n".join(index) + "\n")
    bare = [name for name in LGPL_CARRIERS if not copied.get(name)]
    bare += [name for name in S3_EXTRA if copied.get(name) == 0]
    if bare:
        print(f"no licence file found for: {', '.join(bare)}", file=sys.stderr)
        return 1
    print(f"licences of {len(index)} distribution(s) in {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
