#!/usr/bin/env bash
# Refresh the page's vendored JavaScript from the npm registry (run by hand, never at
# run time: the page imports these files as they are, with no build step).
#
#   web/refresh-vendor.sh            fetch the pinned releases, replace web/static/vendor/*
#   web/refresh-vendor.sh --check    fetch them again and compare with what is committed
#
# @msgpack/msgpack ships its ES-module build as several files (dist.esm/*.mjs with relative
# imports), copied here unchanged, with the package's LICENSE; SHA256SUMS lists them.
# signalsmith-stretch (Signalsmith Stretch's official Web Audio release: time-stretch and
# pitch-shift in an AudioWorklet, its WASM inlined) is one file, SignalsmithStretch.mjs.
# Its package is MIT ("license" in its package.json) but ships no LICENSE file, so
# web/vendor-licenses/signalsmith-stretch.LICENSE (the MIT text with its author) goes with it.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="${1:-refresh}"
status=0

# vendor PACKAGE VERSION FOLDER SOURCE-DIR LICENSE-FILE: one pinned npm release into
# web/static/vendor/FOLDER (its .mjs files under SOURCE-DIR, unchanged, and its licence).
vendor() {
  local package="$1" version="$2" folder="$3" source="$4" license="$5"
  local dest="$here/static/vendor/$folder" work
  work="$(mktemp -d)"
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
  local tarball
  tarball="$(ls "$work"/*.tgz)"
  tar -xzf "$tarball" -C "$work"
  local got
  got="$(sed -n 's/^\s*"version": "\(.*\)",$/\1/p' "$work/package/package.json" | head -1)"
  if [ "$got" != "$version" ]; then
    echo "npm gave $package $got, not $version" >&2
    exit 1
  fi
  local fresh="$work/out"
  mkdir -p "$fresh"
  (cd "$work/package/$source" && find . -name '*.mjs' -print0 | while IFS= read -r -d '' file; do
    mkdir -p "$fresh/$(dirname "$file")"
    cp "$file" "$fresh/$file"
  done)
  cp "$license" "$fresh/LICENSE" 2>/dev/null || cp "$work/package/$license" "$fresh/LICENSE"
  (cd "$fresh" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' \
    | xargs sha256sum > SHA256SUMS)
  printf '%s@%s\n' "$package" "$version" > "$fresh/VERSION"
  echo "$package@$version (tarball sha256 $(sha256sum "$tarball" | cut -d' ' -f1))"
  if [ "$mode" = "--check" ]; then
    if diff -r "$fresh" "$dest" >/dev/null; then
      echo "web/static/vendor/$folder matches $package@$version"
    else
      echo "web/static/vendor/$folder differs from $package@$version:" >&2
      diff -r "$fresh" "$dest" >&2 || true
      status=1
    fi
  else
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    cp -r "$fresh" "$dest"
    cat "$dest/SHA256SUMS"
  fi
  rm -rf "$work"
}

# Pinned; bump here, run this script, run the browser tests.
vendor "@msgpack/msgpack" "3.1.3" msgpack dist.esm LICENSE
vendor "signalsmith-stretch" "1.3.2" signalsmith-stretch . \
  "$here/vendor-licenses/signalsmith-stretch.LICENSE"
exit "$status"
