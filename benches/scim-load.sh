#!/usr/bin/env bash
# SCIM load benchmark: butterfly-server against the machine's own ceiling and against the
# Python reference server scim2-server (PyPI), on one workload driven by `scim-load`
# (benches/src/bin/scim-load.rs). One command per size, for a quiet machine:
#
#   BF_USERS=10000 benches/scim-load.sh      # about 5 minutes once built
#   BF_USERS=1000000 benches/scim-load.sh    # seeds 990K Users first: add 5-10 minutes
#   BF_DATABASE_URL=postgres://postgres@127.0.0.1:54329/postgres BF_USERS=10000 benches/scim-load.sh
#   benches/scim-load.sh --full              # BF_USERS=10000,100000,1000000, and flatness
#
# Run by hand, never in CI (a cold release build adds 5-7 minutes).
#
# Steps, for each size N in BF_USERS, on a fresh database (a SQLite file in a fresh data
# directory, or with BF_DATABASE_URL a fresh PostgreSQL database `bf_load_*` created on
# that server with psql and dropped afterwards): create a SCIM token (which makes the
# team); when N is above SEED_ABOVE, write all but the last HTTP_CREATES Users straight
# through the store with `scim-seed` (benches/src/bin/scim-seed.rs: the same rows a POST
# makes, through the server's own `MemberLinkedStore`, 5000 Users per transaction, ids
# the driver knows); start butterfly-server on a loopback port; let the driver create
# the rest over HTTP (the create figures) and measure lookups, lists and PATCHes at N;
# then `ab -k` (apache2-utils; installed with apt-get when missing) measures, on the same
# server, `/healthz` (no auth, no database: the ceiling), `/scim/v2/ServiceProviderConfig`
# (the bearer check and nothing else) and one `userName eq` lookup repeated; stop it.
# Then scim2-server (pinned, in a virtualenv under ~/.cache) at PY_USERS, with the same
# driver (fewer requests per phase: it is far slower; rates are per second so they
# compare) and the same two ab requests.
#
# The summary prints every phase (ab's and the driver's) as a fraction of the same
# server's `/healthz` beside its ratio to scim2-server, with the goals (ab lookup >= 25%
# of /healthz; creates and PATCHes >= 10x scim2-server). It is printed on every exit,
# also when a server fails to start or a phase fails (a server that does not answer
# within START_TIMEOUT, or exits, is skipped and the exit status is 1). Reports (one
# JSON line each) and server logs are kept in $CARGO_TARGET_DIR/scim-load/<time>/.
#
# Environment: BF_USERS (10000; comma-separated sizes), BF_DATABASE_URL (unset: SQLite),
# SEED_ABOVE (20000), HTTP_CREATES (10000), PY_USERS (10000; 0 skips scim2-server),
# CONCURRENCY (16), AB_REQUESTS (20000), BF_PORT (18181), PY_PORT (18182),
# START_TIMEOUT (600 s), REQUEST_TIMEOUT (300 s), BUTTERFLY_SCIM2_SERVER_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=0
for arg in "$@"; do
  case "$arg" in
    --full) FULL=1 ;;
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
if [ "$FULL" = 1 ]; then
  BF_USERS="${BF_USERS:-10000,100000,1000000}"
else
  BF_USERS="${BF_USERS:-10000}"
fi
BF_DATABASE_URL="${BF_DATABASE_URL:-}"
SEED_ABOVE="${SEED_ABOVE:-20000}"
HTTP_CREATES="${HTTP_CREATES:-10000}"
PY_USERS="${PY_USERS:-10000}"
BF_PORT="${BF_PORT:-18181}"
PY_PORT="${PY_PORT:-18182}"
# scim2-server has taken over 30 s to start on a loaded machine (importing pydantic).
START_TIMEOUT="${START_TIMEOUT:-600}"
# Generous, so a slow phase is measured rather than cut off: a request still counts as
# failed past it (Okta itself gives up on a SCIM request much sooner).
REQUEST_TIMEOUT="${REQUEST_TIMEOUT:-300}"
AB_REQUESTS="${AB_REQUESTS:-20000}"
SCIM2_SERVER_VERSION="0.8.3"
SCIM2_MODELS_VERSION="0.12.3"
VENV="${BUTTERFLY_SCIM2_SERVER_VENV:-$HOME/.cache/butterfly-scim2-server-venv}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
STARTED=$SECONDS
if [ -n "$BF_DATABASE_URL" ]; then BACKEND=PostgreSQL; else BACKEND=SQLite; fi

WORK="$(mktemp -d)"
OUT="$TARGET_DIR/scim-load/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
PIDS=()
DATABASES=()
STATUS=0
SUMMARISED=0

# Every phase as a fraction of the same server's /healthz, beside the ratio to
# scim2-server (its PY_USERS figures: rates per second, so they compare across sizes).
summary() {
  if [ "$SUMMARISED" = 1 ]; then return 0; fi
  SUMMARISED=1
  python3 - "$OUT" "$BACKEND" <<'PY' || STATUS=1
import glob, json, os, sys
out, backend = sys.argv[1], sys.argv[2]
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
sizes = sorted(int(os.path.basename(c)[len("ceiling-butterfly-"):-5])
               for c in glob.glob(os.path.join(out, "ceiling-butterfly-*.json")))
sizes += sorted(int(os.path.basename(r)[len("butterfly-"):-5])
                for r in glob.glob(os.path.join(out, "butterfly-*.json"))
                if int(os.path.basename(r)[len("butterfly-"):-5]) not in sizes)
print(f"\n== against the ceiling (same server's /healthz, ab -k -c{os.environ.get('CONCURRENCY', '16')}) and the reference (scim2-server); butterfly on {backend}")
if not ref_run:
    print("   (no scim2-server report: reference ratios are left out)")
print(f"{'run':<18} {'users':>8}  {'phase':<18} {'req/s':>9} {'of /healthz':>12} {'x scim2':>8}  goal")
for n in sizes:
    name = f"butterfly {backend}"
    ceiling = load(os.path.join(out, f"ceiling-butterfly-{n}.json")) or {}
    top = ceiling.get("healthz")
    rows = []
    if ceiling:
        rows += [(ceiling["users"], "ab /healthz", top, None),
                 (ceiling["users"], "ab SCIM SPConfig", ceiling["spc"], ref_ceiling.get("spc")),
                 (ceiling["users"], "ab lookup", ceiling["lookup"], ref_ceiling.get("lookup"))]
    run = load(os.path.join(out, f"butterfly-{n}.json")) or {}
    for p in run.get("phases", []):
        rows.append((p["users"], "driver " + p["phase"], p["rps"], ref_phase.get(p["phase"])))
    if not rows:
        print(f"{name:<18} {n:>8}  (nothing measured: see the errors above)")
    for users, phase, rps, ref in rows:
        frac = rps / top if top else None
        ratio = rps / ref if ref else None
        goal = goals.get(phase.replace("driver ", ""))
        verdict = ""
        if goal and goal[0] == "ceiling" and frac is not None:
            verdict = f">= {goal[1]:.0%} of /healthz: " + ("met" if frac >= goal[1] else "NOT met")
        elif goal and goal[0] == "ref" and ratio is not None:
            verdict = f">= {goal[1]:.0f}x scim2-server: " + ("met" if ratio >= goal[1] else "NOT met")
        frac_text = f"{frac:.1%}" if frac is not None else "-"
        ratio_text = f"{ratio:.1f}" if ratio else "-"
        print(f"{name:<18} {users:>8}  {phase:<18} {rps:>9.0f} {frac_text:>12} {ratio_text:>8}  {verdict}")
PY
  echo "== reports in $OUT; total time $((SECONDS - STARTED)) s"
  if [ "$STATUS" != 0 ]; then echo "== a step failed: see its errors above" >&2; fi
}

cleanup() {
  local rc=$?
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  for db in "${DATABASES[@]}"; do
    psql -q "$BF_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  # The servers' logs say why a request failed (a 500 is logged, not explained).
  cp "$WORK"/*.log "$OUT"/ 2>/dev/null || true
  rm -rf "$WORK"
  if [ "$rc" != 0 ]; then STATUS=1; fi
  summary
  exit "$STATUS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wait until `curl` gets an HTTP answer from $1 (any status), while the server's pid $2
# lives, for at most START_TIMEOUT seconds.
wait_http() {
  local url="$1" pid="$2" deadline=$((SECONDS + START_TIMEOUT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if curl -s -o /dev/null --max-time 5 "$url"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "the server for $url exited before answering (see its log in $OUT)" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "no answer from $url within $START_TIMEOUT s (START_TIMEOUT)" >&2
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

echo "== building butterfly-server, scim-load and scim-seed (release)"
cargo build --release --quiet -p butterfly-server -p butterfly-benches \
  --bin butterfly-server --bin scim-load --bin scim-seed
BIN="$TARGET_DIR/release/butterfly-server"
DRIVER="$TARGET_DIR/release/scim-load"
SEEDER="$TARGET_DIR/release/scim-seed"

# What was measured: the commit, whether the server's sources differ from it, the
# compiler, the database, and which SCIM resource store the server wires in (read off
# its source).
COMMIT="$(git rev-parse --short=12 HEAD)"
DIRTY="$(git status --porcelain -- . ':(exclude)benches' ':(exclude)*.md' 2>/dev/null | awk '{print $2}' | head -n5 | paste -sd' ' -)"
if [ -n "$DIRTY" ]; then
  COMMIT="$COMMIT with uncommitted changes to $DIRTY"
fi
STORE="$(grep -ho 'type ScimResources = [^;]*' examples/server/src/*.rs 2>/dev/null | sed 's/.*= //' | head -n1)"
BUILD="commit $COMMIT, release, $(rustc --version | cut -d' ' -f1-2), $BACKEND, SCIM store ${STORE:-unknown}"
echo "== measuring: $BUILD"
echo "== machine: $(nproc) cores, $(uname -sm), load average $(cut -d' ' -f1-3 /proc/loadavg); driver and server share the cores"

# A fresh database for one size: prints the server's database arguments (none for
# SQLite, whose file lives in the data directory). Arg: size.
fresh_database() {
  if [ -z "$BF_DATABASE_URL" ]; then return 0; fi
  local name="bf_load_$1_$RANDOM$RANDOM"
  psql -q "$BF_DATABASE_URL" -c "CREATE DATABASE $name" >&2 || return 1
  DATABASES+=("$name")
  python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print("--database-url")
print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$BF_DATABASE_URL" "$name"
}

# Butterfly at one size, on a fresh database: seed, serve, drive, measure the ceiling.
# Arg: size. Writes butterfly-N.json and ceiling-butterfly-N.json in $OUT.
measure_butterfly() {
  local n="$1" dir="$WORK/butterfly-$n" db_args=() token pid tag preseeded=0
  mapfile -t db_args < <(fresh_database "$n") || return 1
  if [ -n "$BF_DATABASE_URL" ] && [ "${#db_args[@]}" = 0 ]; then return 1; fi
  token="$("$BIN" --data-dir "$dir" "${db_args[@]}" scim-token create --name load 2>"$WORK/token-$n.log" | tail -n1)" || return 1
  tag="s$RANDOM"
  if [ "$n" -gt "$SEED_ABOVE" ]; then
    preseeded=$((n > HTTP_CREATES ? n - HTTP_CREATES : 0))
    echo "== seeding $preseeded Users straight through the store (scim-seed, tag $tag)"
    local seed_into=(--data-dir "$dir")
    if [ "${#db_args[@]}" -gt 0 ]; then seed_into=("${db_args[@]}"); fi
    "$SEEDER" "${seed_into[@]}" --users "$preseeded" --run-tag "$tag" || return 1
  fi
  echo "== butterfly-server ($BACKEND) on 127.0.0.1:$BF_PORT at $n Users"
  "$BIN" --data-dir "$dir" "${db_args[@]}" --listen "127.0.0.1:$BF_PORT" \
    >"$WORK/butterfly-$n.out" 2>"$WORK/butterfly-$n.log" &
  pid=$!
  PIDS+=("$pid")
  local ok=0
  if wait_http "http://127.0.0.1:$BF_PORT/healthz" "$pid"; then
    # A driver that stops on errors still writes what it measured: go on to the
    # ceiling, the other sizes and the summary, and exit non-zero at the end.
    SCIM_LOAD_TOKEN="$token" "$DRIVER" run \
      --base-url "http://127.0.0.1:$BF_PORT/scim/v2" --label "butterfly-server" --build "$BUILD" \
      --users "$n" --preseeded "$preseeded" --run-tag "$tag" \
      --concurrency "$CONCURRENCY" --request-timeout-secs "$REQUEST_TIMEOUT" \
      --lookups 5000 --lists 200 --patches 5000 --phase-max-secs 120 --seed-max-secs 21600 \
      --json-out "$OUT/butterfly-$n.json" || ok=1
    measure_ceiling butterfly-server "$n" "http://127.0.0.1:$BF_PORT/healthz" \
      "http://127.0.0.1:$BF_PORT/scim/v2" "$token" "$OUT/ceiling-butterfly-$n.json" || ok=1
  else
    ok=1
  fi
  stop "$pid"
  rm -rf "$dir"
  return "$ok"
}

BF_REPORTS=()
for n in ${BF_USERS//,/ }; do
  measure_butterfly "$n" || STATUS=1
  if [ -f "$OUT/butterfly-$n.json" ]; then BF_REPORTS+=("$OUT/butterfly-$n.json"); fi
done

# scim2-server, at PY_USERS. Arg: none. Writes scim2-server.json and
# ceiling-scim2-server.json in $OUT.
measure_reference() {
  echo "== scim2-server $SCIM2_SERVER_VERSION (PyPI) on 127.0.0.1:$PY_PORT, Users: $PY_USERS (capped: it is far slower)"
  if ! "$VENV/bin/pip" show "scim2-server" 2>/dev/null | grep -qx "Version: $SCIM2_SERVER_VERSION"; then
    python3 -m venv "$VENV" || return 1
    "$VENV/bin/pip" install --quiet --disable-pip-version-check \
      "scim2-server==$SCIM2_SERVER_VERSION" "scim2-models==$SCIM2_MODELS_VERSION" || return 1
  fi
  # Its `scim2-server` command serves the RFC 7643 User and Group schemas from memory
  # (InMemoryStorage, which indexes unique values and `eq` lookups) on a threaded
  # wsgiref server at /v2; --bearer-token makes it require the token like Butterfly does.
  local token="load-$RANDOM$RANDOM" pid ok=0
  "$VENV/bin/scim2-server" --hostname 127.0.0.1 --port "$PY_PORT" --bearer-token "$token" \
    >"$WORK/scim2-server.out" 2>"$WORK/scim2-server.log" &
  pid=$!
  PIDS+=("$pid")
  local waited=$SECONDS
  if wait_http "http://127.0.0.1:$PY_PORT/v2/ServiceProviderConfig" "$pid"; then
    echo "   (answered $((SECONDS - waited)) s after its start)"
    SCIM_LOAD_TOKEN="$token" "$DRIVER" run \
      --base-url "http://127.0.0.1:$PY_PORT/v2" --label scim2-server \
      --build "scim2-server $SCIM2_SERVER_VERSION, scim2-models $SCIM2_MODELS_VERSION, $("$VENV/bin/python" --version)" \
      --users "$PY_USERS" --concurrency "$CONCURRENCY" --request-timeout-secs "$REQUEST_TIMEOUT" \
      --lookups 2000 --lists 30 --sorted-lists 30 --patches 2000 --phase-max-secs 120 --seed-max-secs 3600 \
      --json-out "$OUT/scim2-server.json" || ok=1
    measure_ceiling scim2-server "$PY_USERS" "" "http://127.0.0.1:$PY_PORT/v2" "$token" \
      "$OUT/ceiling-scim2-server.json" || ok=1
  else
    ok=1
  fi
  stop "$pid"
  return "$ok"
}

if [ "$PY_USERS" -gt 0 ]; then
  measure_reference || STATUS=1
  for report in "${BF_REPORTS[@]}"; do
    # The driver's own comparison, where a size matches scim2-server's.
    if [ "$report" = "$OUT/butterfly-$PY_USERS.json" ] && [ -f "$OUT/scim2-server.json" ]; then
      "$DRIVER" compare "$report" "$OUT/scim2-server.json" --target 20 || STATUS=1
    fi
  done
fi
if [ "${#BF_REPORTS[@]}" -gt 1 ]; then
  "$DRIVER" flatness "${BF_REPORTS[@]}" || STATUS=1
fi
# The exit trap prints the summary and exits with STATUS.
