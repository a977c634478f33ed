#!/usr/bin/env bash
# Peak resident memory of `butterfly backup okta` on its own: the Okta simulator runs in
# its own process, so the figure is the backup's (fetcher, repository writer, manifest),
# as /usr/bin/time -v reports it ("Maximum resident set size").
#
#   benches/backup-memory.sh USERS [GROUPS] [APPS]
#
# Defaults: GROUPS = USERS/10, APPS = USERS/100 (the issue's 50K/5K/500 shape). Binaries
# come from $BIN_DIR (default: $CARGO_TARGET_DIR/release, else target/release); build them
# first with
#   cargo build --release -p butterfly-cli -p butterfly-providers --features butterfly-providers/simulator
# Every bucket's limit is raised far above what the run spends (the fetcher paces itself
# on the X-Rate-Limit-Limit the simulator answers), so the run is bound by CPU, not by
# Okta's limits: memory, not time, is what this measures.
set -euo pipefail

users=${1:?usage: $0 USERS [GROUPS] [APPS]}
groups=${2:-$((users / 10))}
apps=${3:-$((users / 100))}
bin_dir=${BIN_DIR:-${CARGO_TARGET_DIR:-target}/release}
for bin in butterfly butterfly-okta-sim; do
    [[ -x "$bin_dir/$bin" ]] || { echo "no $bin_dir/$bin (see the build command above)" >&2; exit 2; }
done
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
sim_pid=
cleanup() {
    [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
limits=()
for bucket in users_list user_by_id user_write groups_list group_by_id apps_list app_by_id logs o_auth2_clients org_authorization_server other; do
    limits+=(--rate-limit "$bucket=10000000")
done
"$bin_dir/butterfly-okta-sim" --listen "127.0.0.1:$port" --users "$users" --groups "$groups" \
    --apps "$apps" --write-credentials "$work/org.json" "${limits[@]}" >"$work/sim.log" 2>&1 &
sim_pid=$!
# The credentials file is written once the org is generated and the port is bound.
until [[ -s "$work/org.json" ]]; do
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.log" >&2; exit 1; }
    sleep 0.2
done
read -r org_url client_id key_path < <(python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); print(c["org_url"], c["client_id"], c["private_key_path"])' "$work/org.json")

run() {
    local label=$1
    shift
    BUTTERFLY_REPO_PASSWORD=bench /usr/bin/time -v "$bin_dir/butterfly" backup okta \
        --allow-private-org-urls --org-url "$org_url" --client-id "$client_id" \
        --private-key "$key_path" --repo "$work/repo" --rate-limit-share 1 "$@" \
        >"$work/out.txt" 2>"$work/time.txt"
    local peak_kib seconds
    peak_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    seconds=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    printf '%s: %d users, %d groups, %d apps: peak RSS %.1f MiB, wall %s\n' \
        "$label" "$users" "$groups" "$apps" "$(echo "$peak_kib / 1024" | bc -l)" "$seconds"
}
run "full backup" --full
run "second full backup (unchanged org)" --full
