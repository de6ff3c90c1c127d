#!/usr/bin/env bash
# Installs what the browser test (tests/workflow/test_browser.py) needs outside .venv: Debian's
# chromium (Playwright's own browser download is not used). Called by `make test`.
# Without root or apt-get it only says what is missing: the test then skips (and fails in CI).
set -uo pipefail

CHROMIUM=${UNITPSYCH_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: installing Debian's chromium for the browser test"
    export DEBIAN_FRONTEND=noninteractive
    if apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium fonts-liberation fonts-dejavu-core >/dev/null; then
        exit 0
    fi
    echo "setup_browser: apt-get install chromium failed; the browser test will skip (fail in CI)" >&2
else
    echo "setup_browser: no chromium at $CHROMIUM; install it (as root: apt-get install chromium)" \
        "to run the browser test, which skips without it (and fails in CI)" >&2
fi
exit 0
