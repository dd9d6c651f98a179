#!/usr/bin/env bash
# Installs the Debian packages the test suite uses: graphviz (the `dot` renderer), chromium and
# chromium-driver (the browser test of the step-through page). Skips what is already there.
set -euo pipefail
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo)
else
    echo "warning: cannot install ${need[*]} without root; tests that need them will be skipped" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# A failed install is reported, not fatal: the tests that need a missing program skip, and
# pytest's summary (-ra) lists them with the reason.
if ! { "${sudo[@]}" apt-get update -qq &&
       "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
    echo "warning: apt-get could not install ${need[*]}; tests that need them will be skipped" >&2
fi
