#!/usr/bin/env bash
# Installs the Debian packages Souk builds against (libsodium, SQLite, pkg-config), only those missing.
# Uses sudo when not root. Safe to run again: with everything present it changes nothing.
set -euo pipefail

packages=(libsodium-dev libsqlite3-dev pkg-config)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$package")
    fi
done

if ((${#missing[@]} == 0)); then
    echo "System packages present: ${packages[*]}"
else
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "Error: missing ${missing[*]} and apt-get is not available; install them with your package manager." >&2
        exit 1
    fi
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "Error: missing ${missing[*]}; run as root or install sudo." >&2
            exit 1
        fi
        sudo_cmd=(sudo)
    fi
    echo "Installing missing system packages: ${missing[*]}"
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "Error: the swift toolchain is not on PATH; install Swift 6.1 or newer from https://www.swift.org/install/" >&2
    exit 1
fi
