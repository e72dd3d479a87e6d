#!/usr/bin/env bash
# Souk demo: one node in a temporary data dir, driven entirely through the `souk` CLI.
# Installs missing system packages, builds `souk`, starts `souk daemon` on free ports, creates four
# listings, searches them (text, filter, sort), updates one, retracts one, shows `node info`, then
# stops the daemon with SIGINT and removes the temporary data dir. Non-interactive.
#
# SWIFT_BUILD_FLAGS (for example "--scratch-path .build-demo") is passed to `swift build`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

bash scripts/install-deps.sh
read -r -a build_flags <<<"${SWIFT_BUILD_FLAGS:-}"

say "Building souk (swift build --product souk)"
swift build "${build_flags[@]}" --product souk
souk="$(swift build "${build_flags[@]}" --show-bin-path)/souk"
[[ -x $souk ]] || { echo "Error: $souk was not built" >&2; exit 1; }

workdir=$(mktemp -d "${TMPDIR:-/tmp}/souk-demo.XXXXXX")
datadir="$workdir/node"
daemon_pid=""

cleanup() {
    local status=$?
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -INT "$daemon_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$workdir"
    if ((status != 0)); then echo "Demo FAILED (exit $status); the temporary data dir was removed." >&2; fi
}
trap cleanup EXIT

# A TCP port nobody listens on: ask the kernel for one (python3), else probe random ports.
free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    while true; do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
    done
}
rpc_port=$(free_port)
p2p_port=$(free_port)
while [[ $p2p_port == "$rpc_port" ]]; do p2p_port=$(free_port); done

# Every client command below talks to the daemon over JSON-RPC, authenticated by $datadir/rpc.cookie.
s() { "$souk" "$@" --datadir "$datadir"; }
listing_id() { grep -o '"listing_id" *: *"[0-9a-f]*"' | head -n 1 | grep -o '[0-9a-f]\{32\}'; }

say "Creating a node identity in $datadir (souk init)"
node_id=$("$souk" init --datadir "$datadir" --rpc-port "$rpc_port" --p2p-port "$p2p_port" 2>/dev/null)
echo "node id: $node_id"
echo "files:   $(cd "$datadir" && echo *)"

say "Starting the daemon on 127.0.0.1:$rpc_port (souk daemon)"
"$souk" daemon --datadir "$datadir" --p2p-bind 127.0.0.1 >"$workdir/daemon.out" 2>"$workdir/daemon.log" &
daemon_pid=$!
for _ in $(seq 200); do
    grep -q '^souk daemon ready' "$workdir/daemon.out" 2>/dev/null && break
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "Error: the daemon exited before it was ready:" >&2
        cat "$workdir/daemon.log" >&2
        exit 1
    fi
    sleep 0.1
done
grep -q '^souk daemon ready' "$workdir/daemon.out" || { echo "Error: daemon not ready after 20 s" >&2; exit 1; }
cat "$workdir/daemon.out"
echo "rpc.cookie written (mode $(stat -c %a "$datadir/rpc.cookie"))"

say "Creating four listings (souk listing create)"
bike=$(s listing create --json --title "Vintage road bicycle" --description "Steel frame, 56 cm, new tyres." \
    --price 120.00 --currency EUR --category bikes --location "Berlin, DE" --country DE --condition good \
    --tag steel --tag road | listing_id)
echo "Vintage road bicycle      120.00 EUR  -> $bike"
kids=$(s listing create --json --title "Kids bicycle with stabilisers" --price 45 --currency EUR \
    --category bikes --location "Hamburg, DE" --country DE --condition fair | listing_id)
echo "Kids bicycle              45.00 EUR   -> $kids"
espresso=$(s listing create --json --title "Espresso machine" --description "Dual boiler, descaled last month." \
    --price 80 --currency EUR --category kitchen --location "Munich, DE" --country DE --condition like-new | listing_id)
echo "Espresso machine          80.00 EUR   -> $espresso"
telescope=$(s listing create --json --title "Brass telescope" --price 310.50 --currency USD --category optics \
    --location "Boston, US" --country US --tag antique | listing_id)
echo "Brass telescope           310.50 USD  -> $telescope"

say "Full-text search: souk search bicycle"
s search bicycle
say "Search with a price filter: souk search bicycle --max-price 100 --currency EUR"
s search bicycle --max-price 100 --currency EUR
say "Filter and sort: souk search --category bikes --sort price_asc --currency EUR"
s search --category bikes --sort price_asc --currency EUR

say "Updating the road bicycle's price (souk listing update $bike --price 99.00)"
s listing update "$bike" --price 99.00
say "Retracting the espresso machine (souk listing retract $espresso)"
s listing retract "$espresso"
say "Searching for the retracted listing: souk search espresso"
s search espresso
say "Showing it is refused with a reason (souk listing show $espresso):"
if s listing show "$espresso"; then echo "Error: a retracted listing was shown" >&2; exit 1; fi

say "This node's own listings (souk listing mine)"
s listing mine
say "Node facts (souk node info)"
s node info

say "Stopping the daemon with SIGINT"
kill -INT "$daemon_pid"
for _ in $(seq 200); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon_pid" 2>/dev/null; then
    echo "Error: the daemon was still running 20 s after SIGINT" >&2
    exit 1
fi
set +e
wait "$daemon_pid"
daemon_status=$?
set -e
daemon_pid=""
if ((daemon_status != 0)); then
    echo "Error: the daemon exited with status $daemon_status:" >&2
    tail -n 20 "$workdir/daemon.log" >&2
    exit 1
fi
if [[ -e $datadir/rpc.cookie ]]; then echo "Error: rpc.cookie was not removed" >&2; exit 1; fi
echo "daemon exited cleanly (status 0) and removed rpc.cookie"

say "Demo finished; removing $workdir"
