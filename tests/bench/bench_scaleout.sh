#!/usr/bin/env bash
# make bench-scaleout: two helplined on one private PostgreSQL (the same database and master key,
# a spool_dir each), as docs/scale-out.md describes, driven by tests/bench/bench_ingest:
#
#   1. contacts/s with one daemon (all BENCH_CONCURRENCY connections to daemon A), then with two
#      (half the connections to A, half to B, both load generators at once), alternating for
#      BENCH_ROUNDS rounds; the table gives the medians;
#   2. a double-posting run: BENCH_DOUBLE_CONTACTS contacts, each posted to A and B at the same
#      time (bench_ingest --twin), so every contact is a same-source race between the daemons.
#      It reports the non-2xx answers, answers whose ids differ, the contacts stored (must equal
#      the contacts sent), and the deadlocks of the database (pg_stat_database, read after both
#      daemons stopped, and "deadlock detected" in the server log). All but the stored count
#      must be 0.
#   3. with BENCH_REPLICA=1 (the default), a streaming standby of the bench's cluster
#      (pg_basebackup -R, its own Unix socket) is every daemon's read_database_url, and while
#      each load runs (after its warm-up) /healthz of daemon a is read every 0.5 s: the table
#      gives the median and the maximum of replica.lag_seconds and lag_bytes per phase, of
#      PostgreSQL's own replay_lag (pg_stat_replication, read with each sample: finer than the
#      daemon's 0.5 s probe), and the primary's WAL rate. The standby replays on the same cores
#      as the rest.
#
#   BENCH_SECONDS (10)             measured seconds per throughput run
#   BENCH_WARMUP (2)               warm-up seconds per throughput run, not counted
#   BENCH_CONCURRENCY (64)         connections in a throughput run (split in two with two daemons)
#   BENCH_ROUNDS (3)               one-daemon and two-daemon runs alternate this many times
#   BENCH_DOUBLE_CONTACTS (10000)  contacts of the double-posting run (twice as many requests)
#   BENCH_DOUBLE_CONCURRENCY (32)  connection pairs of the double-posting run
#   BENCH_THREADS (8), BENCH_WRITER_CONNECTIONS (2)   each daemon's threads, writer_connections
#   BENCH_REPLICA (1)              0: no standby, no read_database_url, no lag figures
#   HL_BUILD (build)               where helplined and bench/bench_ingest are
#
# Exit 1 when the double-posting run had a non-2xx answer, an id mismatch, a lost or doubled
# contact, or a deadlock.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=${HL_BUILD:-build}
[[ $build == /* ]] || build="$top/$build"
helplined="$build/helplined"
loadgen="$build/bench/bench_ingest"
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
concurrency=${BENCH_CONCURRENCY:-64}
rounds=${BENCH_ROUNDS:-3}
double_contacts=${BENCH_DOUBLE_CONTACTS:-10000}
double_concurrency=${BENCH_DOUBLE_CONCURRENCY:-32}
threads=${BENCH_THREADS:-8}
writer_connections=${BENCH_WRITER_CONNECTIONS:-2}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
replica=${BENCH_REPLICA:-1}

for f in "$helplined" "$loadgen" "$pgbin/psql" "$pgbin/pg_basebackup"; do
  [[ -x "$f" ]] || { echo "bench_scaleout: $f is missing" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "bench_scaleout: curl is needed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-scaleout.XXXXXX)
chmod 711 "$tmp" # the PostgreSQL server runs as the postgres user and must reach tmp/pg
declare -A pid=()
sampler="" sample_file=""
stop_sampler() { # stop_sampler [end]: end: note the primary's WAL position (sample, below)
  if [[ -n "$sampler" ]]; then
    kill -TERM "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    [[ ${1:-} != end ]] || echo "end $(sql "SELECT pg_current_wal_lsn() - '0/0'") $(date +%s%N)" >>"$sample_file.wal"
  fi
  sampler=""
}
stop_daemon() { # stop_daemon NAME: SIGTERM (it drains its writer and merges once more), wait
  if [[ -n "${pid[$1]:-}" ]] && kill -0 "${pid[$1]}" 2>/dev/null; then
    kill -TERM "${pid[$1]}" 2>/dev/null || true
    wait "${pid[$1]}" 2>/dev/null || true
  fi
  pid[$1]=""
}
cleanup() {
  stop_sampler
  stop_daemon a
  stop_daemon b
  "$top/scripts/pg-local" stop "$tmp/standby" >/dev/null 2>&1 || true
  "$top/scripts/pg-local" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$top/scripts/pg-local" start "$tmp/pg"
url=$("$top/scripts/pg-local" url "$tmp/pg")
read -r pghost pgport pgdb pguser <<<"$(sed -E 's/host=([^ ]*) port=([^ ]*) dbname=([^ ]*) user=([^ ]*)/\1 \2 \3 \4/' <<<"$url")"
export PGHOST=$pghost PGPORT=$pgport PGDATABASE=$pgdb PGUSER=$pguser
sql() { "$pgbin/psql" -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
echo "bench_scaleout: PostgreSQL $(sql 'SHOW server_version'), synchronous_commit=$(sql 'SHOW synchronous_commit')," \
  "fsync=$(sql 'SHOW fsync'), max_connections=$(sql 'SHOW max_connections')"

# The standby, as tests/support/daemon.c makes it: initdb's pg_hba.conf trusts local replication,
# and wal_level = replica, max_wal_senders = 10 are the defaults. It listens on a socket in its
# own directory (the same port number), on no TCP port (listen_addresses = '' from pg-local).
replica_line=""
if [[ $replica == 1 ]]; then
  mkdir "$tmp/standby"
  as_pg=()
  if [[ $(id -u) == 0 ]]; then
    chown postgres: "$tmp/standby"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$pgbin/pg_basebackup" -D "$tmp/standby/data" -R -X stream -c fast -d "$url" \
    >"$tmp/standby/basebackup.log" 2>&1 || { cat "$tmp/standby/basebackup.log" >&2; exit 1; }
  cp "$tmp/pg/port" "$tmp/standby/port"
  echo "unix_socket_directories = '$tmp/standby'" >>"$tmp/standby/data/postgresql.conf"
  "$top/scripts/pg-local" start "$tmp/standby"
  replica_url=$("$top/scripts/pg-local" url "$tmp/standby")
  [[ $("$pgbin/psql" -X -Atq -h "$tmp/standby" -c 'SELECT pg_is_in_recovery()') == t ]] ||
    { echo "bench_scaleout: the standby is not in recovery" >&2; exit 1; }
  replica_line="read_database_url = $replica_url"
  echo "bench_scaleout: a streaming standby in $tmp/standby is every daemon's read_database_url"
fi

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "bench_scaleout: no free port" >&2
  exit 1
}

# Two configs: the same database_url and key_file, a port and a spool_dir each.
declare -A port=()
for name in a b; do
  port[$name]=$(free_port)
  cat >"$tmp/$name.conf" <<CONF
listen = 127.0.0.1:${port[$name]}
database_url = $url
key_file = $tmp/master.key
spool_dir = $tmp/spool-$name
taxonomy_dir = $top/taxonomy
migrations_dir = $top/migrations
threads = $threads
writer_connections = $writer_connections
log_level = warn
$replica_line
CONF
done
setup_log="$tmp/setup.log"
admin_cmd() { "$helplined" "$@" -c "$tmp/a.conf" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }; }
"$helplined" keygen -o "$tmp/master.key" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }
admin_cmd migrate >/dev/null
admin_cmd helpline add bench --name "Bench Child Helpline" --country KE --network bench >/dev/null
token=$(admin_cmd user add bench-frontend --role frontend --helpline bench)

start_daemon() { # start_daemon NAME
  "$helplined" serve -c "$tmp/$1.conf" >>"$tmp/$1.log" 2>&1 &
  pid[$1]=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:${port[$1]}/healthz" >/dev/null 2>&1 && return
    kill -0 "${pid[$1]}" 2>/dev/null || { cat "$tmp/$1.log" >&2; echo "bench_scaleout: helplined $1 exited" >&2; exit 1; }
    sleep 0.1
  done
  echo "bench_scaleout: helplined $1 did not answer /healthz" >&2
  exit 1
}
start_daemon a
start_daemon b
echo "bench_scaleout: helplined a on :${port[a]} (pid ${pid[a]}), b on :${port[b]} (pid ${pid[b]});" \
  "threads=$threads writer_connections=$writer_connections each; machine: $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"

# sample FILE [DELAY]: after DELAY seconds, every 0.5 s until stop_sampler, a line into FILE:
# replica.lag_seconds, lag_bytes and database of daemon a's /healthz ("null" while unknown,
# "- - unreachable" when /healthz did not answer within a second), then, as a cross-check,
# PostgreSQL's own replay_lag of the standby (pg_stat_replication on the primary, seconds). The
# primary's WAL position at the start and (stop_sampler end) at the end go to FILE.wal, for the
# rate at which the load wrote WAL. Nothing without a replica.
sample() {
  [[ $replica == 1 ]] || return 0
  sample_file=$1
  (
    sleep "${2:-0}"
    echo "begin $(sql "SELECT pg_current_wal_lsn() - '0/0'") $(date +%s%N)" >>"$1.wal"
    while :; do
      t0=$(date +%s%N)
      if h=$(curl -s --max-time 1 "http://127.0.0.1:${port[a]}/healthz"); then
        line=$(jq -r '.replica | "\(.lag_seconds) \(.lag_bytes) \(.database)"' <<<"$h") || line="- - unreachable"
      else
        line="- - unreachable"
      fi
      echo "$line $(sql "SELECT coalesce(extract(epoch FROM max(replay_lag))::text, 'null') FROM pg_stat_replication")"
      ms=$((($(date +%s%N) - t0) / 1000000))
      ((ms >= 500)) || sleep "$(printf '0.%03d' $((500 - ms)))"
    done
  ) >>"$1" 2>/dev/null &
  sampler=$!
}

rate_of() { sed -nE 's/^RESULT .* rate=([^ ]*).*/\1/p' <<<"$1"; }
median() {
  tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
loadgen_run() { # loadgen_run PORT CONCURRENCY [extra args]: prints its output; fails the bench on non-2xx
  local p=$1 c=$2 out
  shift 2
  if ! out=$("$loadgen" --url "127.0.0.1:$p" --token "$token" --concurrency "$c" "$@"); then
    echo "$out" >&2
    echo "bench_scaleout: the load generator failed (logs: $tmp/a.log, $tmp/b.log)" >&2
    tail -5 "$tmp/a.log" "$tmp/b.log" >&2
    exit 1
  fi
  echo "$out"
}

# ---- 1. throughput: one daemon, then two -----------------------------------------------------
half=$((concurrency / 2))
one_rates="" two_rates=""
for round in $(seq "$rounds"); do
  echo "-- round $round of $rounds: one daemon, concurrency $concurrency (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  sample "$tmp/lag-one" "$warmup"
  out=$(loadgen_run "${port[a]}" "$concurrency" --seconds "$seconds" --warmup "$warmup")
  stop_sampler end
  grep -v '^RESULT' <<<"$out"
  one_rates+="$(rate_of "$out") "

  echo "-- round $round of $rounds: two daemons, concurrency $half + $half"
  sample "$tmp/lag-two" "$warmup"
  loadgen_run "${port[a]}" "$half" --seconds "$seconds" --warmup "$warmup" >"$tmp/run-a" &
  ga=$!
  loadgen_run "${port[b]}" "$half" --seconds "$seconds" --warmup "$warmup" >"$tmp/run-b" &
  gb=$!
  wait "$ga" && wait "$gb" || exit 1
  stop_sampler end
  ra=$(rate_of "$(cat "$tmp/run-a")")
  rb=$(rate_of "$(cat "$tmp/run-b")")
  echo "  a: $(grep -v '^RESULT' "$tmp/run-a")"
  echo "  b: $(grep -v '^RESULT' "$tmp/run-b")"
  two_rates+="$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.1f", a + b }') "
done

# ---- 2. double posting: every contact to both daemons at once ---------------------------------
before=$(sql "SELECT count(*) FROM contacts")
deadlocks_before=$(sql "SELECT coalesce(deadlocks, 0) FROM pg_stat_database WHERE datname = current_database()")
log_deadlocks_before=$(grep -c 'deadlock detected' "$tmp/pg/server.log" || true)
echo "-- double posting: $double_contacts contacts, each to a and b at once ($((2 * double_contacts)) requests)," \
  "$double_concurrency connection pairs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
sample "$tmp/lag-double"
set +e
double_out=$("$loadgen" --url "127.0.0.1:${port[a]}" --twin "127.0.0.1:${port[b]}" --token "$token" \
  --concurrency "$double_concurrency" --contacts "$double_contacts" --seconds 3600)
double_rc=$?
set -e
stop_sampler end
grep -v '^RESULT' <<<"$double_out"
res=$(grep '^RESULT' <<<"$double_out" || true)
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$res"; }
# Both daemons stop (draining, merging once more); their sessions' counters reach pg_stat_database
# when the sessions end.
stop_daemon a
stop_daemon b
for _ in $(seq 100); do
  [[ $(sql "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()") == 0 ]] && break
  sleep 0.1
done
stored=$(($(sql "SELECT count(*) FROM contacts") - before))
doubled=$(sql "SELECT count(*) FROM (SELECT 1 FROM contacts GROUP BY helpline_id, source_system, source_id HAVING count(*) > 1) d")
deadlocks=$(($(sql "SELECT coalesce(deadlocks, 0) FROM pg_stat_database WHERE datname = current_database()") - deadlocks_before))
log_deadlocks=$(($(grep -c 'deadlock detected' "$tmp/pg/server.log" || true) - log_deadlocks_before))
pending=$(sql "SELECT count(*) FROM stats_pending")
stats_total=$(sql "SELECT coalesce(sum(contacts), 0) FROM stats_daily WHERE level = 'total'")
all_contacts=$(sql "SELECT count(*) FROM contacts")

echo
echo "== bench-scaleout $(date -u +%Y-%m-%d), $(nproc) cores shared by PostgreSQL, both daemons and the load" \
  "generators; threads=$threads writer_connections=$writer_connections per daemon =="
printf '%-34s %12s   %s\n' setup "contacts/s" "every round"
printf '%-34s %12.0f   %s\n' "one daemon, concurrency $concurrency" "$(median "$one_rates")" "$one_rates"
printf '%-34s %12.0f   %s\n' "two daemons, $half + $half" "$(median "$two_rates")" "$two_rates"
echo "double posting: $(field requests) contacts, $(field answers) answers in $(awk -v n="$(field requests)" \
  -v r="$(field rate)" 'BEGIN { printf "%.1f", (r > 0 ? n / r : 0) }') s ($(field rate) contacts/s," \
  "p50 $(field p50_ms) ms, p99 $(field p99_ms) ms per pair)"
echo "  non-2xx answers:      $(field non2xx)"
echo "  202 (spooled):        $(field spooled)"
echo "  answers with two ids: $(field id_mismatch)"
echo "  contacts stored:      $stored of $double_contacts sent; sources stored twice: $doubled"
echo "  deadlocks:            $deadlocks (pg_stat_database), $log_deadlocks 'deadlock detected' in the server log"
echo "  statistics:           $stats_total contacts in the daily cells, $all_contacts contacts; $pending pending rows"
if [[ $replica == 1 ]]; then
  maximum() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | tail -1; }
  echo "replica lag: /healthz of daemon a every 0.5 s while the load ran (after its warm-up); lag_seconds is a" \
    "lower bound, 0.5 s below the truth at most (docs/scale-out.md); pg replay_lag: pg_stat_replication's, read" \
    "at each sample; WAL: what the primary wrote per second meanwhile"
  printf '%-34s %7s %7s %8s %8s %12s %12s %9s %8s %8s\n' phase samples unknown "s median" "s max" \
    "bytes median" "bytes max" "pg median" "pg max" "WAL MB/s"
  for phase in one:"one daemon, concurrency $concurrency" two:"two daemons, $half + $half" double:"double posting"; do
    f="$tmp/lag-${phase%%:*}"
    touch "$f" "$f.wal"
    known=$(awk '$1 != "null" && $1 != "-"' "$f")
    n=$(wc -l <"$f")
    n_known=$(grep -c . <<<"$known" || true)
    pg=$(awk '$4 != "null" { print $4 }' "$f" | tr '\n' ' ')
    pg_median=- pg_max=-
    [[ -z ${pg// /} ]] || { pg_median=$(printf '%.3f' "$(median "$pg")"); pg_max=$(printf '%.3f' "$(maximum "$pg")"); }
    # begin/end pairs of FILE.wal: bytes over nanoseconds
    wal=$(awk '$1 == "begin" { b = $2; t = $3 } $1 == "end" && t { bytes += $2 - b; ns += $3 - t; t = 0 }
      END { if (ns > 0) printf "%.1f", bytes / (ns / 1e9) / 1e6; else print "-" }' "$f.wal")
    if ((n_known > 0)); then
      secs=$(awk '{ print $1 }' <<<"$known" | tr '\n' ' ')
      bytes=$(awk '{ print $2 }' <<<"$known" | tr '\n' ' ')
      printf '%-34s %7d %7d %8.3f %8.3f %12.0f %12.0f %9s %8s %8s\n' "${phase#*:}" "$n" "$((n - n_known))" \
        "$(median "$secs")" "$(maximum "$secs")" "$(median "$bytes")" "$(maximum "$bytes")" "$pg_median" "$pg_max" "$wal"
    else
      printf '%-34s %7d %7d %8s %8s %12s %12s %9s %8s %8s\n' "${phase#*:}" "$n" "$n" - - - - "$pg_median" "$pg_max" "$wal"
    fi
  done
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

ok=1
[[ $double_rc == 0 && "$(field non2xx)" == 0 && "$(field id_mismatch)" == 0 ]] || ok=0
[[ $stored == "$double_contacts" && $doubled == 0 && $deadlocks == 0 && $log_deadlocks == 0 ]] || ok=0
[[ $stats_total == "$all_contacts" && $pending == 0 ]] || ok=0
if [[ $ok == 1 ]]; then
  echo "PASS  double posting: no non-2xx answer, one id per contact, each stored once, no deadlock"
else
  echo "FAIL  double posting (figures above)"
  exit 1
fi
