# Sourced by the testnet/ scripts. Bash helpers shared by up, down, status, demo and measure.

testnet_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_dir="$(cd "$testnet_dir/.." && pwd)"
souknet=("python3" "$testnet_dir/lib/souknet.py")

# Installs the Debian packages Souk builds against when they are missing (sudo when not root),
# and checks for the other tools the scripts need. Self-contained on purpose: the testnet
# scripts are the README's entry point.
ensure_deps() {
    local packages=(libsodium-dev libsqlite3-dev pkg-config) missing=() package
    for package in "${packages[@]}"; do
        if ! dpkg -s "$package" 2>/dev/null | grep -q '^Status: install ok installed'; then
            missing+=("$package")
        fi
    done
    if ((${#missing[@]} > 0)); then
        if ! command -v apt-get >/dev/null 2>&1; then
            echo "error: missing ${missing[*]} and apt-get is not available; install them with your package manager" >&2
            exit 1
        fi
        local sudo_cmd=()
        if [[ $(id -u) -ne 0 ]]; then
            if ! command -v sudo >/dev/null 2>&1; then
                echo "error: missing ${missing[*]}; run as root or install sudo" >&2
                exit 1
            fi
            sudo_cmd=(sudo)
        fi
        echo "==> installing missing system packages: ${missing[*]}"
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "error: python3 is needed by the testnet scripts (Debian package python3)" >&2
        exit 1
    fi
    if [[ -z "${SOUK_BIN:-}" ]] && ! command -v swift >/dev/null 2>&1; then
        echo "error: the swift toolchain is not on PATH; install Swift 6.1 or newer from https://www.swift.org/install/" >&2
        exit 1
    fi
}

# Prints the calling script's leading comment block (its usage).
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
