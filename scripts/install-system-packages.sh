#!/usr/bin/env bash
# Install the Debian packages given as arguments, but only those that are not installed yet.
# Runs `apt-get update` first only when something has to be installed. Used by `make install`.
#
#   scripts/install-system-packages.sh pebble bind9 redis-server postgresql python3-venv curl
set -euo pipefail

if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "install-system-packages: not a Debian-based system; make sure these are installed: $*" >&2
    exit 0
fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

missing=()
for package in "$@"; do
    installed "$package" || missing+=("$package")
done
# python3-venv pulls in python3; a host without python3 at all needs it too.
if ! command -v python3 >/dev/null 2>&1 && [[ ! " ${missing[*]} " == *" python3-venv "* ]]; then
    missing+=(python3-venv)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    exit 0
fi

echo "install-system-packages: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "install-system-packages: run as root: apt-get install ${missing[*]}" >&2
        exit 1
    fi
fi
apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}"
