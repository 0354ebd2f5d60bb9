#!/usr/bin/env bash
# Refreshes the vendored public conformance cases (test/fixtures/conformance: cases, checker,
# README) from a checkout of the shared conformance folder, by default ../shared/conformance.
#
#   npm run conformance:refresh               copy from ../shared/conformance
#   npm run conformance:refresh -- --check    exit 1 when the vendored copy differs (CI)
#   CONVD_CONFORMANCE_SOURCE=DIR npm run conformance:refresh
set -euo pipefail
cd "$(dirname "$0")/.."
SOURCE=${CONVD_CONFORMANCE_SOURCE:-../shared/conformance}
TARGET=test/fixtures/conformance

if [ ! -d "$SOURCE/cases/valid" ]; then
  echo "conformance:refresh: no conformance folder at $SOURCE (set CONVD_CONFORMANCE_SOURCE); the vendored copy in $TARGET stays as it is"
  exit 0
fi

if [ "${1:-}" = --check ]; then
  if diff -r "$SOURCE" "$TARGET" >/dev/null; then
    echo "conformance:refresh: $TARGET matches $SOURCE"
    exit 0
  fi
  diff -rq "$SOURCE" "$TARGET" || true
  echo "conformance:refresh: $TARGET differs from $SOURCE: run npm run conformance:refresh and commit" >&2
  exit 1
fi

rm -rf "$TARGET"
mkdir -p "$TARGET"
cp -r "$SOURCE"/. "$TARGET"/
chmod -R u+w "$TARGET"
echo "conformance:refresh: copied $(find "$TARGET/cases" -name '*.json' | wc -l) cases from $SOURCE into $TARGET"
