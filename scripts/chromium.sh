#!/usr/bin/env bash
# Headless Chromium and its ChromeDriver for the browser tests: scripts/chromium.sh
#
# Installs Debian's `chromium` and `chromium-driver` when /usr/bin/chromium or
# /usr/bin/chromedriver is missing; Selenium then drives them as they are and
# never downloads a browser or a driver of its own.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_commands chromium=chromium chromedriver=chromium-driver
