#!/usr/bin/env bash
# Prints the path of a headless-capable chromium for the report's browser test
# (report/tests/browser.rs), installing Debian's `chromium` (and fonts-dejavu-core, the
# font the SVG text and the page fall back to) when it is missing and this runs as root
# with apt-get, the way tests/real/check-real.sh installs its programs. Prints nothing on
# stdout when no browser can be had; the test then skips, loudly. Messages go to stderr.
#
#   bash report/tests/chromium.sh          -> /usr/bin/chromium
#   REPORT_NO_INSTALL=1                      never run apt-get
set -uo pipefail

find_browser() {
    local b
    for b in "${BESTBUDDY_CHROMIUM:-}" chromium chromium-browser google-chrome; do
        [ -n "$b" ] && command -v "$b" 2>/dev/null && return 0
    done
    return 1
}

if find_browser; then
    exit 0
fi
if [ "${REPORT_NO_INSTALL:-0}" = 1 ] || ! command -v apt-get >/dev/null || [ "$(id -u)" -ne 0 ]; then
    echo "chromium.sh: no chromium, and not installing it (need root and apt-get): the browser test will be SKIPPED" >&2
    exit 0
fi
echo "chromium.sh: installing chromium from Debian (a minute or two)" >&2
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
env -u LD_PRELOAD apt-get install -y -qq chromium fonts-dejavu-core >"$log" 2>&1 ||
    { env -u LD_PRELOAD apt-get update -qq >>"$log" 2>&1 &&
      env -u LD_PRELOAD apt-get install -y -qq chromium fonts-dejavu-core >>"$log" 2>&1; } ||
    { echo "chromium.sh: apt-get install failed:" >&2; tail -5 "$log" >&2; }
rm -f "$log"
hash -r
find_browser || echo "chromium.sh: still no chromium: the browser test will be SKIPPED" >&2
exit 0
