# Sourced by the testnet/ scripts. Bash helpers shared by up, down, status, demo and measure.

testnet_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo_dir="$(cd "$testnet_dir/.." && pwd)"
# The testnet library is the Python package testnet/lib/souknet (run as `python3 -m souknet`);
# demo.py and measure.py import it from their own directory.
export PYTHONPATH="$testnet_dir/lib${PYTHONPATH:+:$PYTHONPATH}"
souknet=("python3" "-m" "souknet")

# Installs the Debian packages Souk builds against when they are missing (scripts/install-deps.sh,
# which also checks for the Swift toolchain), unless a prebuilt binary is given in SOUK_BIN, and
# checks for the other tools the scripts need.
ensure_deps() {
    if [[ -z "${SOUK_BIN:-}" ]]; then
        bash "$repo_dir/scripts/install-deps.sh" >&2
    fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "error: python3 is needed by the testnet scripts (Debian package python3)" >&2
        exit 1
    fi
}

# Prints the calling script's leading comment block (its usage).
usage() {
    awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}
