#!/usr/bin/env bash
# SCIM load benchmark: butterfly-server against the Python reference server scim2-server
# (PyPI), on one workload driven by `scim-load` (benches/src/bin/scim-load.rs).
#
#   benches/scim-load.sh           # Butterfly at 10K and 100K Users, scim2-server at 10K
#   benches/scim-load.sh --full    # then Butterfly seeded at 10K, 100K and 1M Users
#   benches/scim-load.sh --seeded  # only the seeded stage of --full
#
# Run by hand, never in CI: the default run takes about 5 minutes on 2 cores once built
# (a cold release build adds 5-7 minutes). --full then measures lookups, lists and
# PATCHes on servers seeded with `scim-seed` (benches/src/bin/scim-seed.rs: the server's
# own store path, 5000 Users per transaction, deterministic ids the driver knows) at
# each of SEEDED_USERS, each on a fresh data directory, and prints how latency grows
# with size (`scim-load flatness`): about 6 more minutes, most of it seeding 1M Users
# (3000-6000 Users/s on 2 cores) and the 1M measurements.
#
# Steps: build butterfly-server and the driver in release; start the server on a fresh
# data directory on a loopback port; create a SCIM token; seed and measure; stop it.
# Then install scim2-server (pinned) into a virtualenv under ~/.cache, start it on
# another loopback port with a bearer token, run the same driver with a smaller
# workload (it is far slower: 10K Users, fewer requests per phase; rates are per second
# so they still compare), stop it, and print the ratios per metric. Both servers get
# the same concurrency. Reports (one JSON line each) and server logs are kept in
# $CARGO_TARGET_DIR/scim-load/<time>/.
#
# The ceiling, in the same run: after each Butterfly measurement, `ab -k` (apache2-utils;
# installed with apt-get when missing) with CONCURRENCY in flight measures the same
# server's `/healthz` (no auth, no database), `/scim/v2/ServiceProviderConfig` (the
# bearer check and nothing else) and one `userName eq` lookup repeated, and the same
# two SCIM requests on scim2-server. The summary prints every phase (ab's and the
# driver's) as a fraction of `/healthz` beside the ratio to scim2-server; ab's lookup
# is the one the 25% goal reads (the driver spends more CPU per request than ab, and
# shares the 2 cores with the server).
#
# Environment: CONCURRENCY (16), AB_REQUESTS (20000), BF_USERS (10000,100000), PY_USERS (10000),
# SEEDED_USERS (10000,100000,1000000; with --full),
# BF_PORT (18181), PY_PORT (18182), REQUEST_TIMEOUT (300 s),
# BUTTERFLY_SCIM2_SERVER_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=0
SEEDED_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --full) FULL=1 ;;
    --seeded) FULL=1 SEEDED_ONLY=1 ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

CONCURRENCY="${CONCURRENCY:-16}"
BF_USERS="${BF_USERS:-10000,100000}"
SEEDED_USERS="${SEEDED_USERS:-10000,100000,1000000}"
PY_USERS="${PY_USERS:-10000}"
BF_PORT="${BF_PORT:-18181}"
PY_PORT="${PY_PORT:-18182}"
# Generous, so a slow phase is measured rather than cut off: a request still counts as
# failed past it (Okta itself gives up on a SCIM request much sooner).
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-300}"
AB_REQUESTS="${AB_REQUESTS:-20000}"
SCIM2_SERVER_VERSION="0.8.3"
SCIM2_MODELS_VERSION="0.12.3"
VENV="${BUTTERFLY_SCIM2_SERVER_VENV:-$HOME/.cache/butterfly-scim2-server-venv}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
STARTED=$SECONDS

WORK="$(mktemp -d)"
OUT="$TARGET_DIR/scim-load/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  # The servers' logs say why a request failed (a 500 is logged, not explained).
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until `curl` gets an HTTP answer from $1 (any status), or fail after 30 s.
wait_http() {
  for _ in $(seq 1 300); do
    if curl -s -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "no answer from $1" >&2
  return 1
}

# Stop one server we started, and forget it so the exit trap does not signal its pid.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=()
  for pid in "${PIDS[@]}"; do
    if [ "$pid" != "$1" ]; then kept+=("$pid"); fi
  done
  PIDS=("${kept[@]}")
}

# ab measures the ceiling: install it like CI installs its tools, only when missing.
if ! command -v ab >/dev/null; then
  echo "== installing apache2-utils (ab)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q apache2-utils >/dev/null
fi

# `ab -k` at CONCURRENCY in flight: print requests per second, or fail when any request
# failed or answered other than 2xx. Args: URL [bearer token].
ab_rate() {
  local url="$1" token="${2:-}" out
  local args=(-k -q -c "$CONCURRENCY" -n "$AB_REQUESTS" -s 60)
  if [ -n "$token" ]; then args+=(-H "Authorization: Bearer $token"); fi
  out="$(ab "${args[@]}" "$url" 2>&1)" || { echo "ab failed on $url: $out" >&2; return 1; }
  if grep -q '^Non-2xx responses' <<<"$out" || ! grep -q '^Failed requests: *0$' <<<"$out"; then
    echo "ab got failures on $url:" >&2
    grep -E '^(Failed requests|Non-2xx responses|   \()' <<<"$out" >&2
    return 1
  fi
  awk '/^Requests per second:/ {print $4}' <<<"$out"
}

# The ceiling and ab's lookup on one server, as one JSON line in $6.
# Args: label users health-url scim-base-url token out-file
measure_ceiling() {
  local label="$1" users="$2" health="$3" base="$4" token="$5" file="$6" name healthz spc lookup
  # One User's userName, read off the server, for a lookup that finds exactly one.
  name="$(curl -s -H "Authorization: Bearer $token" "$base/Users?count=1&startIndex=$((users / 2 + 1))" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Resources"][0]["userName"])')"
  healthz=null
  if [ -n "$health" ]; then healthz="$(ab_rate "$health")"; fi
  spc="$(ab_rate "$base/ServiceProviderConfig" "$token")"
  lookup="$(ab_rate "$base/Users?filter=userName%20eq%20%22$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$name")%22" "$token")"
  printf '{"label":"%s","users":%s,"healthz":%s,"spc":%s,"lookup":%s}\n' \
    "$label" "$users" "$healthz" "$spc" "$lookup" >"$file"
  echo "   ab -k -c$CONCURRENCY ($label, $users Users): /healthz $healthz, ServiceProviderConfig $spc, userName eq $lookup req/s"
}

echo "== building butterfly-server and scim-load (release)"
cargo build --release --quiet -p butterfly-server -p butterfly-benches \
  --bin butterfly-server --bin scim-load --bin scim-seed
BIN="$TARGET_DIR/release/butterfly-server"
DRIVER="$TARGET_DIR/release/scim-load"
SEEDER="$TARGET_DIR/release/scim-seed"

# What was measured: the commit, whether the server's sources differ from it, the
# compiler, and which SCIM resource store the server wires in (read off its source).
COMMIT="$(git rev-parse --short=12 HEAD)"
DIRTY="$(git status --porcelain -- . ':(exclude)benches' ':(exclude)*.md' 2>/dev/null | awk '{print $2}' | head -n5 | paste -sd' ' -)"
if [ -n "$DIRTY" ]; then
  COMMIT="$COMMIT with uncommitted changes to $DIRTY"
fi
STORE="$(grep -ho 'type ScimResources = [^;]*' examples/server/src/*.rs 2>/dev/null | sed 's/.*= //' | head -n1)"
BUILD="commit $COMMIT, release, $(rustc --version | cut -d' ' -f1-2), SQLite, SCIM store ${STORE:-unknown}"
echo "== measuring: $BUILD"
echo "== machine: $(nproc) cores, $(uname -sm); driver and server share them"

STATUS=0
if [ "$SEEDED_ONLY" = 0 ]; then
echo "== butterfly-server on 127.0.0.1:$BF_PORT, Users: $BF_USERS"
"$BIN" --data-dir "$WORK/butterfly" --listen "127.0.0.1:$BF_PORT" \
  >"$WORK/butterfly.out" 2>"$WORK/butterfly.log" &
BF_PID=$!
PIDS+=("$BF_PID")
wait_http "http://127.0.0.1:$BF_PORT/healthz"
TOKEN="$("$BIN" --data-dir "$WORK/butterfly" scim-token create --name load 2>/dev/null | tail -n1)"
# A driver that stops on errors still writes what it measured; carry on to the other
# server and the comparison, and exit non-zero at the end.
SCIM_LOAD_TOKEN="$TOKEN" "$DRIVER" run \
  --base-url "http://127.0.0.1:$BF_PORT/scim/v2" --label butterfly-server --build "$BUILD" \
  --users "$BF_USERS" --concurrency "$CONCURRENCY" --request-timeout-secs "$REQUEST_TIMEOUT" \
  --lookups 5000 --lists 200 --patches 5000 --phase-max-secs 120 --seed-max-secs 21600 \
  --json-out "$OUT/butterfly-server.json" || STATUS=1
BF_MAX="$(tr ',' '\n' <<<"$BF_USERS" | sort -n | tail -n1)"
measure_ceiling butterfly-server "$BF_MAX" "http://127.0.0.1:$BF_PORT/healthz" \
  "http://127.0.0.1:$BF_PORT/scim/v2" "$TOKEN" "$OUT/ceiling-butterfly.json" || STATUS=1
stop "$BF_PID"

echo "== scim2-server $SCIM2_SERVER_VERSION (PyPI) on 127.0.0.1:$PY_PORT, Users: $PY_USERS (capped: it is far slower)"
if ! "$VENV/bin/pip" show "scim2-server" 2>/dev/null | grep -qx "Version: $SCIM2_SERVER_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "scim2-server==$SCIM2_SERVER_VERSION" "scim2-models==$SCIM2_MODELS_VERSION"
fi
# Its `scim2-server` command serves the RFC 7643 User and Group schemas from memory
# (InMemoryStorage, which indexes unique values and `eq` lookups) on a threaded wsgiref
# server at /v2; --bearer-token makes it require the token like Butterfly does.
PY_TOKEN="load-$RANDOM$RANDOM"
"$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$PY_PORT" --bearer-token "$PY_TOKEN" \
  >"$WORK/scim2-server.out" 2>"$WORK/scim2-server.log" &
PY_PID=$!
PIDS+=("$PY_PID")
wait_http "http://127.0.0.1:$PY_PORT/v2/ServiceProviderConfig"
SCIM_LOAD_TOKEN="$PY_TOKEN" "$DRIVER" run \
  --base-url "http://127.0.0.1:$PY_PORT/v2" --label scim2-server \
  --build "scim2-server $SCIM2_SERVER_VERSION, scim2-models $SCIM2_MODELS_VERSION, $("$VENV/bin/python" --version)" \
  --users "$PY_USERS" --concurrency "$CONCURRENCY" --request-timeout-secs "$REQUEST_TIMEOUT" \
  --lookups 2000 --lists 30 --sorted-lists 30 --patches 2000 --phase-max-secs 120 --seed-max-secs 3600 \
  --json-out "$OUT/scim2-server.json" || STATUS=1
measure_ceiling scim2-server "$PY_USERS" "" "http://127.0.0.1:$PY_PORT/v2" "$PY_TOKEN" \
  "$OUT/ceiling-scim2-server.json" || STATUS=1
stop "$PY_PID"

"$DRIVER" compare "$OUT/butterfly-server.json" "$OUT/scim2-server.json" --target 20 || STATUS=1
fi

if [ "$FULL" = 1 ]; then
  # Each size on a fresh database seeded straight through the store (no HTTP creates),
  # so the sizes differ only in how many Users the server holds.
  SEED_TAG="s$RANDOM"
  SEEDED_REPORTS=()
  for n in ${SEEDED_USERS//,/ }; do
    echo "== butterfly-server seeded with $n Users (scim-seed, tag $SEED_TAG)"
    DIR="$WORK/seeded-$n"
    "$BIN" --data-dir "$DIR" scim-token create --name load >"$WORK/token-$n.out" 2>/dev/null
    TOKEN="$(tail -n1 "$WORK/token-$n.out")"
    "$SEEDER" --data-dir "$DIR" --users "$n" --run-tag "$SEED_TAG"
    "$BIN" --data-dir "$DIR" --listen "127.0.0.1:$BF_PORT" \
      >"$WORK/seeded-$n.out" 2>"$WORK/seeded-$n.log" &
    SEEDED_PID=$!
    PIDS+=("$SEEDED_PID")
    wait_http "http://127.0.0.1:$BF_PORT/healthz"
    SCIM_LOAD_TOKEN="$TOKEN" "$DRIVER" run \
      --base-url "http://127.0.0.1:$BF_PORT/scim/v2" --label butterfly-server-seeded --build "$BUILD" \
      --users "$n" --preseeded "$n" --run-tag "$SEED_TAG" \
      --concurrency "$CONCURRENCY" --request-timeout-secs "$REQUEST_TIMEOUT" \
      --lookups 5000 --lists 200 --patches 5000 --phase-max-secs 120 \
      --json-out "$OUT/butterfly-seeded-$n.json" || STATUS=1
    measure_ceiling butterfly-server-seeded "$n" "http://127.0.0.1:$BF_PORT/healthz" \
      "http://127.0.0.1:$BF_PORT/scim/v2" "$TOKEN" "$OUT/ceiling-seeded-$n.json" || STATUS=1
    stop "$SEEDED_PID"
    rm -rf "$DIR"
    SEEDED_REPORTS+=("$OUT/butterfly-seeded-$n.json")
  done
  "$DRIVER" flatness "${SEEDED_REPORTS[@]}" || STATUS=1
fi
# Every phase as a fraction of the same server's /healthz, beside the ratio to
# scim2-server (its 10K figures: rates per second, so they compare across sizes).
python3 - "$OUT" <<'PY' || STATUS=1
import glob, json, os, sys
out = sys.argv[1]
def load(path):
    try:
        with open(path) as f:
            return json.loads(f.readline())
    except (OSError, ValueError):
        return None
ref_ceiling = load(os.path.join(out, "ceiling-scim2-server.json")) or {}
ref_run = load(os.path.join(out, "scim2-server.json")) or {}
ref_phase = {}
for p in ref_run.get("phases", []):
    ref_phase.setdefault(p["phase"], p["rps"])  # its first (smallest) size
goals = {"ab lookup": ("ceiling", 0.25), "create": ("ref", 10.0), "patch": ("ref", 10.0)}
runs = [("butterfly-server", "butterfly-server.json", "ceiling-butterfly.json")]
runs += [(f"seeded {os.path.basename(c)[len('ceiling-seeded-'):-5]}", f"butterfly-seeded-{os.path.basename(c)[len('ceiling-seeded-'):]}", os.path.basename(c))
         for c in sorted(glob.glob(os.path.join(out, "ceiling-seeded-*.json")), key=lambda c: int(c.rsplit("-", 1)[1][:-5]))]
print("\n== against the ceiling (same server's /healthz, ab -k) and the reference (scim2-server)")
print(f"{'run':<18} {'users':>8}  {'phase':<18} {'req/s':>9} {'of /healthz':>12} {'x scim2':>8}  goal")
for name, run_file, ceiling_file in runs:
    ceiling = load(os.path.join(out, ceiling_file))
    if not ceiling or not ceiling.get("healthz"):
        continue
    top = ceiling["healthz"]
    rows = [(ceiling["users"], "ab /healthz", top, None),
            (ceiling["users"], "ab SCIM SPConfig", ceiling["spc"], ref_ceiling.get("spc")),
            (ceiling["users"], "ab lookup", ceiling["lookup"], ref_ceiling.get("lookup"))]
    run = load(os.path.join(out, run_file)) or {}
    for p in run.get("phases", []):
        rows.append((p["users"], "driver " + p["phase"], p["rps"], ref_phase.get(p["phase"])))
    for users, phase, rps, ref in rows:
        frac = rps / top
        ratio = rps / ref if ref else None
        goal = goals.get(phase.replace("driver ", ""))
        verdict = ""
        if goal and goal[0] == "ceiling":
            verdict = f">= {goal[1]:.0%} of /healthz: " + ("met" if frac >= goal[1] else "NOT met")
        elif goal and ratio is not None:
            verdict = f">= {goal[1]:.0f}x scim2-server: " + ("met" if ratio >= goal[1] else "NOT met")
        print(f"{name:<18} {users:>8}  {phase:<18} {rps:>9.0f} {frac:>11.1%} {('%.1f' % ratio) if ratio else '-':>8}  {verdict}")
PY
echo "== reports in $OUT; total time $((SECONDS - STARTED)) s"
if [ "$STATUS" != 0 ]; then echo "== a run failed: see its errors above" >&2; fi
exit "$STATUS"
