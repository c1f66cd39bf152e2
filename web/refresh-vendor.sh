#!/usr/bin/env bash
# Refresh the page's vendored JavaScript from the npm registry (run by hand, never at
# run time: the page imports these files as they are, with no build step).
#
#   web/refresh-vendor.sh            fetch the pinned release, replace web/static/vendor/msgpack
#   web/refresh-vendor.sh --check    fetch it again and compare with what is committed
#
# @msgpack/msgpack ships its ES-module build as several files (dist.esm/*.mjs with relative
# imports), copied here unchanged, with the package's LICENSE; SHA256SUMS lists them.
set -euo pipefail

PACKAGE="@msgpack/msgpack"
VERSION="3.1.3"   # pinned; bump here, run this script, run the browser tests

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="$here/static/vendor/msgpack"
mode="${1:-refresh}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tarball="$(ls "$work"/*.tgz)"
tar -xzf "$tarball" -C "$work"
got="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$work/package/package.json")"
if [ "$got" != "$VERSION" ]; then
  echo "npm gave $PACKAGE $got, not $VERSION" >&2
  exit 1
fi

fresh="$work/out"
mkdir -p "$fresh"
(cd "$work/package/dist.esm" && find . -name '*.mjs' -print0 | while IFS= read -r -d '' file; do
  mkdir -p "$fresh/$(dirname "$file")"
  cp "$file" "$fresh/$file"
done)
cp "$work/package/LICENSE" "$fresh/LICENSE"
(cd "$fresh" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' \
  | xargs sha256sum > SHA256SUMS)
printf '%s@%s\n' "$PACKAGE" "$VERSION" > "$fresh/VERSION"

echo "$PACKAGE@$VERSION"
echo "tarball sha256: $(sha256sum "$tarball" | cut -d' ' -f1)  $(basename "$tarball")"
echo "index.mjs sha256: $(sha256sum "$fresh/index.mjs" | cut -d' ' -f1)"

if [ "$mode" = "--check" ]; then
  if diff -r "$fresh" "$dest" >/dev/null; then
    echo "web/static/vendor/msgpack matches $PACKAGE@$VERSION"
  else
    echo "web/static/vendor/msgpack differs from $PACKAGE@$VERSION:" >&2
    diff -r "$fresh" "$dest" >&2 || true
    exit 1
  fi
  exit 0
fi

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -r "$fresh" "$dest"
echo "files (sha256):"
cat "$dest/SHA256SUMS"
