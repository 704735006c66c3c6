#!/usr/bin/env bash
# make bench-ingest: contacts/s and latency of POST /v1/contacts against a live helplined on a
# private PostgreSQL (synchronous_commit=on, fsync=on), at concurrency 1, 16 and 64, and in the
# same run pgbench inserting the same row shape, one contact (+ one category row) per
# transaction, at the same concurrency on the same cluster. docs/benchmarks.md explains it.
#
#   BENCH_SECONDS (10)   measured seconds per run (daemon and pgbench each)
#   BENCH_WARMUP (2)     load-generator warm-up seconds, not counted
#   BENCH_THREADS (8)    helplined `threads` (HTTP workers)
#   BENCH_WRITER_CONNECTIONS (2)  helplined `writer_connections`
#   BENCH_CONCURRENCY ("1 16 64")
#   BENCH_ROUNDS (3)     daemon and pgbench runs alternate this many times per concurrency; the
#                        table gives the medians (this machine's speed drifts between runs)
#   BENCH_PGBENCH (1)    0: skip pgbench (for tuning the daemon alone)
#   BENCH_PGLOG (0)      1: log every statement's duration during the daemon runs and print where
#                        the writer's transactions spend their time (slows PostgreSQL a little)
#   BENCH_FSYNC_DELAY_US (0)  > 0: the PostgreSQL server's every fsync/fdatasync waits this much
#                        longer (tests/bench/shim/slow_fsync.c, preloaded), standing in for a
#                        slower disk than this machine's
#   HL_BUILD (build)     where helplined and bench/bench_ingest are
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=${HL_BUILD:-build}
[[ $build == /* ]] || build="$top/$build"
helplined="$build/helplined"
loadgen="$build/bench/bench_ingest"
seconds=${BENCH_SECONDS:-10}
warmup=${BENCH_WARMUP:-2}
threads=${BENCH_THREADS:-8}
writer_connections=${BENCH_WRITER_CONNECTIONS:-2}
levels=${BENCH_CONCURRENCY:-1 16 64}
rounds=${BENCH_ROUNDS:-3}
run_pgbench=${BENCH_PGBENCH:-1}
pglog=${BENCH_PGLOG:-0}
fsync_delay=${BENCH_FSYNC_DELAY_US:-0}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}

for f in "$helplined" "$loadgen" "$pgbin/pgbench" "$pgbin/psql"; do
  [[ -x "$f" ]] || { echo "bench_ingest: $f is missing" >&2; exit 1; }
done
command -v curl >/dev/null || { echo "bench_ingest: curl is needed" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-ingest.XXXXXX)
chmod 711 "$tmp" # the PostgreSQL server runs as the postgres user and must reach tmp/pg
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  "$top/scripts/pg-local" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- PostgreSQL ------------------------------------------------------------------------------
if [[ $fsync_delay -gt 0 ]]; then
  cc -O2 -shared -fPIC -o "$tmp/slow_fsync.so" "$top/tests/bench/shim/slow_fsync.c" -ldl
  chmod 755 "$tmp/slow_fsync.so"
  LD_PRELOAD="$tmp/slow_fsync.so" SLOW_FSYNC_US="$fsync_delay" "$top/scripts/pg-local" start "$tmp/pg"
  echo "bench_ingest: every fsync of the PostgreSQL server waits $fsync_delay us longer (BENCH_FSYNC_DELAY_US)"
else
  "$top/scripts/pg-local" start "$tmp/pg"
fi
url=$("$top/scripts/pg-local" url "$tmp/pg")
# host=DIR port=P dbname=helpline user=U, for psql and pgbench
read -r pghost pgport pgdb pguser <<<"$(sed -E 's/host=([^ ]*) port=([^ ]*) dbname=([^ ]*) user=([^ ]*)/\1 \2 \3 \4/' <<<"$url")"
export PGHOST=$pghost PGPORT=$pgport PGDATABASE=$pgdb PGUSER=$pguser
sql() { "$pgbin/psql" -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
echo "bench_ingest: PostgreSQL $(sql 'SHOW server_version'), synchronous_commit=$(sql 'SHOW synchronous_commit')," \
  "fsync=$(sql 'SHOW fsync'), wal_sync_method=$(sql 'SHOW wal_sync_method'), shared_buffers=$(sql 'SHOW shared_buffers')"

# ---- helplined, set up as scripts/run-local does ---------------------------------------------
port=""
for _ in $(seq 20); do
  p=$((20000 + RANDOM % 20000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p; break; fi
done
[[ -n "$port" ]] || { echo "bench_ingest: no free port" >&2; exit 1; }
conf="$tmp/helplined.conf"
cat >"$conf" <<CONF
listen = 127.0.0.1:$port
database_url = $url
key_file = $tmp/master.key
spool_dir = $tmp/spool
taxonomy_dir = $top/taxonomy
migrations_dir = $top/migrations
threads = $threads
writer_connections = $writer_connections
log_level = warn
CONF
setup_log="$tmp/setup.log"
admin_cmd() { "$helplined" "$@" -c "$conf" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }; }
"$helplined" keygen -o "$tmp/master.key" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }
admin_cmd migrate >/dev/null
admin_cmd helpline add bench --name "Bench Child Helpline" --country KE --network bench >/dev/null
token=$(admin_cmd user add bench-frontend --role frontend --helpline bench)
admin=$(admin_cmd user add bench-admin --role admin --helpline bench)

"$helplined" serve -c "$conf" >"$tmp/helplined.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$tmp/helplined.log" >&2; echo "bench_ingest: helplined exited" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "bench_ingest: helplined did not answer /healthz" >&2; exit 1; }
echo "bench_ingest: helplined pid $daemon_pid on 127.0.0.1:$port, threads=$threads;" \
  "$seconds s per run (+$warmup s warm-up), machine: $(nproc) cores"

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; } # utime + stime
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
metric() { # metric NAME_WITH_LABELS -> value
  curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$port/metrics" |
    awk -v m="$1" '$1 == m { print $2; found = 1 } END { if (!found) print 0 }'
}

# ---- pgbench: the same row shape, one contact per transaction ---------------------------------
sql "CREATE EXTENSION IF NOT EXISTS pgcrypto"
sql "CREATE TABLE pgb_contacts (LIKE contacts INCLUDING ALL)"
sql "ALTER TABLE pgb_contacts ADD FOREIGN KEY (helpline_id) REFERENCES helplines (id),
       ADD FOREIGN KEY (created_by) REFERENCES users (id)"
sql "CREATE TABLE pgb_categories (LIKE contact_categories INCLUDING ALL)"
sql "ALTER TABLE pgb_categories ADD FOREIGN KEY (contact_id) REFERENCES pgb_contacts (id) ON DELETE CASCADE"
hl_id=$(sql "SELECT id FROM helplines WHERE code = 'bench'")
user_id=$(sql "SELECT id FROM users WHERE name = 'bench-frontend'")
# Sealed sizes (lib/crypto.h: plaintext + 45): summary 1 KiB + 45, names and phone about 60,
# blind index 16. gen_random_bytes returns at most 1024 bytes, hence the concatenation.
cat >"$tmp/ingest.sql" <<'SQL'
\set k random(1, 1000000000000000)
\set age random(0, 17)
BEGIN;
INSERT INTO pgb_contacts (id, helpline_id, source_system, source_id, channel, contact_type, started_at,
    ended_at, counsellor, created_by, child_age, child_gender, child_region, caller_relationship, urgency,
    child_name, caller_name, caller_phone, summary, caller_phone_bidx, taxonomy_version)
  VALUES (lpad(to_hex(:k::bigint), 32, '0')::uuid, :hl, 'pgbench', :k::text, 'phone', 'counselling',
    now() - interval '20 minutes', now(), 'amina', :uid, :age, 'girl', 'rural', 'self', 'urgent',
    gen_random_bytes(60), gen_random_bytes(62), gen_random_bytes(58),
    gen_random_bytes(1024) || gen_random_bytes(45), gen_random_bytes(16), '2026.1');
INSERT INTO pgb_categories (contact_id, code, source)
  VALUES (lpad(to_hex(:k::bigint), 32, '0')::uuid, 'violence.bullying', 'given');
END;
SQL

pglog_on() {
  sql "ALTER SYSTEM SET log_min_duration_statement = $1"
  sql "ALTER SYSTEM SET log_parameter_max_length = 0"
  sql "SELECT pg_reload_conf()" >/dev/null
}
# Per statement kind (first words of the SQL): count, mean and total of the server-side durations
# logged since line FROM of the server log, for the extended-protocol phases and simple queries.
pglog_report() {
  tail -n +"$1" "$tmp/pg/server.log" | awk '
    match($0, /duration: [0-9.]+ ms  (statement|parse|bind|execute)[^:]*: /) {
      split(substr($0, RSTART), a, " "); ms = a[2]; phase = a[4]
      sqltext = substr($0, RSTART + RLENGTH); gsub(/[ \t]+/, " ", sqltext)
      key = sprintf("%-8s %.46s", phase, sqltext); n[key]++; t[key] += ms; all += ms
    }
    END {
      for (k in t) printf "    %8d x %8.3f ms = %9.1f ms  %s\n", n[k], t[k] / n[k], t[k], k
      printf "    total server time in statements: %.1f ms\n", all
    }' | sort -k5,5 -rn | head -14
}

# median "1 5 3" -> 3 (the mean of the middle two for an even count)
median() {
  tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g |
    awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# Per concurrency, the figures of every round, space-separated; the table takes their medians.
declare -A r_rate r_p50 r_p99 r_max r_tps batches contacts
for c in $levels; do
  for round in $(seq "$rounds"); do
    b0=$(metric helpline_writer_batches_total)
    n0=$(metric 'helpline_contacts_stored_total{outcome="created"}')
    h0=$(metric 'helpline_http_request_duration_seconds_bucket{le="0.05"}')
    hc0=$(metric helpline_http_request_duration_seconds_count)
    hs0=$(metric helpline_http_request_duration_seconds_sum)
    m0=$(metric 'helpline_rollup_merges_total{outcome="ok"}')
    ms0=$(metric helpline_rollup_merge_seconds_total)
    t0=$(cpu_ticks)
    if [[ $pglog == 1 ]]; then
      pglog_on 0
      logline=$(($(wc -l <"$tmp/pg/server.log") + 1))
    fi
    echo "-- concurrency $c, round $round of $rounds (load average before: $(loadavg))"
    if ! out=$("$loadgen" --url "127.0.0.1:$port" --token "$token" --concurrency "$c" --seconds "$seconds" \
      --warmup "$warmup"); then
      echo "$out"
      echo "bench_ingest: the load generator failed at concurrency $c (helplined log: last lines below)" >&2
      tail -20 "$tmp/helplined.log" >&2
      exit 1
    fi
    t1=$(cpu_ticks)
    [[ $pglog == 1 ]] && pglog_on -1
    h1=$(metric 'helpline_http_request_duration_seconds_bucket{le="0.05"}')
    hc1=$(metric helpline_http_request_duration_seconds_count)
    hs1=$(metric helpline_http_request_duration_seconds_sum)
    b1=$(metric helpline_writer_batches_total)
    n1=$(metric 'helpline_contacts_stored_total{outcome="created"}')
    m1=$(metric 'helpline_rollup_merges_total{outcome="ok"}')
    ms1=$(metric helpline_rollup_merge_seconds_total)
    echo "$out" | grep -v '^RESULT'
    res=$(echo "$out" | grep '^RESULT')
    r_rate[$c]+="$(sed -E 's/.* rate=([^ ]*).*/\1/' <<<"$res") "
    r_p50[$c]+="$(sed -E 's/.* p50_ms=([^ ]*).*/\1/' <<<"$res") "
    r_p99[$c]+="$(sed -E 's/.* p99_ms=([^ ]*).*/\1/' <<<"$res") "
    r_max[$c]+="$(sed -E 's/.* max_ms=([^ ]*).*/\1/' <<<"$res") "
    batches[$c]=$((${batches[$c]:-0} + b1 - b0))
    contacts[$c]=$((${contacts[$c]:-0} + n1 - n0))
    echo "  writer: $((n1 - n0)) contacts in $((b1 - b0)) transactions" \
      "($(awk -v n="$((n1 - n0))" -v b="$((b1 - b0))" 'BEGIN { printf "%.1f", b ? n / b : 0 }') per commit, $(awk -v n="$((n1 - n0))" -v b="$((b1 - b0))" -v s="$seconds" -v w="$warmup" \
      'BEGIN { printf "%.1f", b / (s + w) }') commits/s);" \
      "helplined CPU $(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$((n1 - n0))" \
        'BEGIN { printf "%.2f ms per contact", n ? t * 1000 / hz / n : 0 }')"
    echo "  daemon-side latency (its /metrics histogram, warm-up included):" \
      "$(awk -v h="$((h1 - h0))" -v n="$((hc1 - hc0))" -v s0="$hs0" -v s1="$hs1" \
        'BEGIN { if (n) printf "mean %.2f ms, %.2f%% within 50 ms", (s1 - s0) * 1000 / n, 100 * h / n }')"
    echo "  statistics merger: $((m1 - m0)) merges, $(awk -v a="$ms0" -v b="$ms1" 'BEGIN { printf "%.2f", b - a }') s merging"

    if [[ $pglog == 1 ]]; then
      echo "  PostgreSQL time per statement during this run (warm-up included):"
      pglog_report "$logline"
    fi
    [[ $run_pgbench == 1 ]] || continue
    j=$((c < 2 ? c : 2))
    pgout=$("$pgbin/pgbench" -n -M prepared -c "$c" -j "$j" -T "$seconds" -D hl="$hl_id" -D uid="$user_id" \
      -f "$tmp/ingest.sql" 2>&1) || { echo "$pgout" >&2; exit 1; }
    tps=$(awk '/^tps = / { print $3 }' <<<"$pgout")
    r_tps[$c]+="$tps "
    echo "pgbench -c $c -j $j: $tps tps, latency average $(awk '/^latency average = / { print $4 }' <<<"$pgout") ms" \
      "($(awk '/failed transactions/ { print $5 }' <<<"$pgout") failed)"
  done
done

declare -A d_rate d_p50 d_p99 d_max pg_tps
for c in $levels; do
  d_rate[$c]=$(median "${r_rate[$c]}")
  d_p50[$c]=$(median "${r_p50[$c]}")
  d_p99[$c]=$(median "${r_p99[$c]}")
  d_max[$c]=$(tr ' ' '\n' <<<"${r_max[$c]}" | sort -g | tail -1)
  pg_tps[$c]=0
  [[ $run_pgbench == 1 ]] && pg_tps[$c]=$(median "${r_tps[$c]}")
done

hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$daemon_pid/status")
rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status")

echo
echo "== bench-ingest $(date -u +%Y-%m-%d), $(nproc) cores, helplined threads=$threads writer_connections=$writer_connections, $seconds s per run," \
  "medians of $rounds round(s) (max: the largest)$([[ $fsync_delay -gt 0 ]] && echo ", fsync +$fsync_delay us (simulated)") =="
printf '%-11s %14s %9s %9s %9s %12s %13s %8s\n' concurrency "daemon c/s" "p50 ms" "p99 ms" "max ms" \
  "per commit" "pgbench tps" ratio
for c in $levels; do
  awk -v c="$c" -v r="${d_rate[$c]}" -v p50="${d_p50[$c]}" -v p99="${d_p99[$c]}" -v mx="${d_max[$c]}" \
    -v n="${contacts[$c]}" -v b="${batches[$c]}" -v t="${pg_tps[$c]}" 'BEGIN {
      printf "%-11s %14.0f %9.2f %9.2f %9.2f %12.1f %13.0f %7.2fx\n", c, r, p50, p99, mx, (b ? n / b : 0), t,
        (t > 0 ? r / t : 0) }'
done
if [[ $rounds -gt 1 ]]; then
  for c in $levels; do
    echo "concurrency $c, every round: daemon ${r_rate[$c]}c/s; p99 ${r_p99[$c]}ms${r_tps[$c]:+; pgbench ${r_tps[$c]}tps}"
  done
fi
echo "load average at the end: $(loadavg) (other processes on these $(nproc) cores skew every figure)"
echo "helplined peak RSS (VmHWM): $((hwm / 1024)) MiB ($hwm kB); RSS now $((rss / 1024)) MiB"

# The acceptance targets of the daemon issue.
verdict() { if awk "BEGIN { exit !($2) }"; then echo "PASS  $1"; else echo "MISS  $1"; fi; }
if [[ -n "${d_rate[64]:-}" && $run_pgbench == 1 ]]; then
  verdict "concurrency 64: daemon >= 2x pgbench (${d_rate[64]} vs ${pg_tps[64]})" "${d_rate[64]} >= 2 * ${pg_tps[64]}"
fi
if [[ -n "${d_p99[16]:-}" ]]; then
  verdict "concurrency 16: p99 < 50 ms (${d_p99[16]} ms)" "${d_p99[16]} < 50"
fi
