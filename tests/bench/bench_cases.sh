#!/usr/bin/env bash
# make bench-cases: the case and list routes of helplined over a helpline of BENCH_CONTACTS
# contacts (1 million) and BENCH_CASES cases (100,000) on a private PostgreSQL (issue 16,
# acceptance 7). docs/benchmarks.md ("bench-cases") explains it.
#
#   1. Loading, not measured: the rows are synthetic, made by SQL in the database
#      (generate_series), not through the API: two years of contacts spread over
#      BENCH_COUNSELLORS counsellors (50; the benchmark's "me" is one of them, so it has 1/50 of
#      the contacts), 1-3 categories per counselling contact, 20 % of the contacts linked to a
#      case, cases with statuses that depend on their age, assignees, priorities, follow-up dates
#      and timelines (a status entry, their links, 0-4 notes, a closing entry). Sealed columns
#      hold random bytes of a sealed field's size: the lists never read them, and no measured
#      request opens them (the SQL-made cases' notes are written, not read). VACUUM ANALYZE
#      and a CHECKPOINT follow.
#   2. tests/bench/bench_cases (the measure): through the API, a case of "me" with a real
#      200-entry timeline; then p50/p95/p99 of GET /v1/cases?status=open&assigned_to=me,
#      GET /v1/contacts?counsellor=me and GET /v1/cases/{id} (sealed fields opened and audited),
#      one request at a time, and of POST /v1/cases/{id}/notes at concurrency 16; PASS or MISS
#      per target.
#      With each figure, the CPU time helplined and PostgreSQL spent per request (from /proc).
#   3. BENCH_PGBENCH=1 (the default): pgbench runs the note's statement (hl_cases_add_notes with
#      one note: the case row locked if the caller writes it, stamped, the entry inserted; one
#      transaction) at the same concurrency on the same database, each client on its own cases,
#      once with -M extended (parsed and planned every time, as an unnamed statement is) and once
#      with -M prepared (as helplined's pool runs it): what PostgreSQL alone takes for notes one
#      at a time (helplined stores the notes that wait in one statement: db/dbjobs.h).
#   4. BENCH_EXPLAIN=1 (the default): one more request of each kind with auto_explain on in the
#      PostgreSQL server, and the plans (EXPLAIN ANALYZE, BUFFERS) of the statements these
#      handlers run, read from the server log.
#
#   BENCH_CONTACTS (1000000), BENCH_CASES (100000), BENCH_COUNSELLORS (50)
#   BENCH_REQUESTS (1000)      measured requests per GET, one at a time
#   BENCH_WARMUP (100)         requests per GET before those, not counted
#   BENCH_SECONDS (10)         measured seconds of the notes run
#   BENCH_WARMUP_SECONDS (2)   seconds of the notes run before those, not counted
#   BENCH_CONCURRENCY (16)     connections posting notes at once
#   BENCH_THREADS (8)          helplined `threads` (HTTP workers)
#   BENCH_PGBENCH (1)          0: no pgbench runs
#   BENCH_EXPLAIN (1)          0: no plans
#   BENCH_DATA (none)          a directory that keeps the loaded cluster, the master key and the
#                              token between runs: the first run loads it, the next ones (same
#                              BENCH_CONTACTS, BENCH_CASES, BENCH_COUNSELLORS) skip the loading.
#                              Every run measures on a copy of it, so runs of two builds, one
#                              after the other, start from the same data (about 2 GB each)
#   HL_BUILD (build)           where helplined and bench/bench_cases are
#
# Exit 1 on an error (set-up, load, a non-2xx answer); a missed target is printed, not an error.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
build=${HL_BUILD:-build}
[[ $build == /* ]] || build="$top/$build"
helplined="$build/helplined"
measure="$build/bench/bench_cases"
n_contacts=${BENCH_CONTACTS:-1000000}
n_cases=${BENCH_CASES:-100000}
n_counsellors=${BENCH_COUNSELLORS:-50}
requests=${BENCH_REQUESTS:-1000}
warmup=${BENCH_WARMUP:-100}
seconds=${BENCH_SECONDS:-10}
warmup_seconds=${BENCH_WARMUP_SECONDS:-2}
concurrency=${BENCH_CONCURRENCY:-16}
threads=${BENCH_THREADS:-8}
run_pgbench=${BENCH_PGBENCH:-1}
explain=${BENCH_EXPLAIN:-1}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
data_dir=${BENCH_DATA:-}
me=amina

for f in "$helplined" "$measure" "$pgbin/psql" "$pgbin/pgbench"; do
  [[ -x "$f" ]] || { echo "bench_cases: $f is missing" >&2; exit 1; }
done
for c in curl python3; do
  command -v "$c" >/dev/null || { echo "bench_cases: $c is needed" >&2; exit 1; }
done
[[ $n_counsellors -ge 2 && $n_counsellors -le 99 ]] || { echo "bench_cases: BENCH_COUNSELLORS 2..99" >&2; exit 1; }

tmp=$(mktemp -d /tmp/bench-cases.XXXXXX)
chmod 711 "$tmp" # the PostgreSQL server runs as the postgres user and must reach tmp/pg
pgdir="$tmp/pg" keyfile="$tmp/master.key" reuse=0
stamp="contacts=$n_contacts cases=$n_cases counsellors=$n_counsellors me=$me"
if [[ -n $data_dir ]]; then
  mkdir -p "$data_dir"
  data_dir=$(cd "$data_dir" && pwd)
  chmod 711 "$data_dir"
  pgdir="$data_dir/pg" keyfile="$data_dir/master.key"
  if [[ -f $data_dir/loaded && $(cat "$data_dir/loaded") == "$stamp" ]]; then
    reuse=1
  else # loaded with other sizes, or never to the end: start afresh
    "$top/scripts/pg-local" stop "$pgdir" >/dev/null 2>&1 || true
    rm -rf "$pgdir" "$keyfile" "$data_dir/token" "$data_dir/loaded"
  fi
fi
# BENCH_DATA: the kept cluster, stopped, copied into tmp, where the measure runs (its socket
# directory is tmp's).
copy_cluster() {
  "$top/scripts/pg-local" stop "$data_dir/pg" >/dev/null
  cp -a "$data_dir/pg" "$tmp/pg"
  sed -i "s|^unix_socket_directories = .*|unix_socket_directories = '$tmp/pg'|" "$tmp/pg/data/postgresql.conf"
  pgdir="$tmp/pg"
}
daemon_pid=""
cleanup() {
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  "$top/scripts/pg-local" stop "$pgdir" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
started=$(date +%s)
echo "bench_cases: $(nproc) cores, load average $(loadavg) at the start"

# ---- PostgreSQL ------------------------------------------------------------------------------
pg_start() { # starts pgdir's cluster; url and the PG* variables of psql name it
  "$top/scripts/pg-local" start "$pgdir"
  url=$("$top/scripts/pg-local" url "$pgdir")
  read -r pghost pgport pgdb pguser <<<"$(sed -E 's/host=([^ ]*) port=([^ ]*) dbname=([^ ]*) user=([^ ]*)/\1 \2 \3 \4/' <<<"$url")"
  export PGHOST=$pghost PGPORT=$pgport PGDATABASE=$pgdb PGUSER=$pguser
}
[[ $reuse == 0 ]] || copy_cluster
pg_start
sql() { "$pgbin/psql" -X -Atq -v ON_ERROR_STOP=1 -c "$1"; }
# auto_explain in every new session, off until the plans are wanted.
sql "ALTER SYSTEM SET session_preload_libraries = 'auto_explain'"
sql "SELECT pg_reload_conf()" >/dev/null
echo "bench_cases: PostgreSQL $(sql 'SHOW server_version'), shared_buffers=$(sql 'SHOW shared_buffers')," \
  "synchronous_commit=$(sql 'SHOW synchronous_commit'), fsync=$(sql 'SHOW fsync')"

# ---- helplined, set up as scripts/run-local does ---------------------------------------------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
conf="$tmp/helplined.conf"
cat >"$conf" <<CONF
listen = 127.0.0.1:$port
database_url = $url
key_file = $keyfile
spool_dir = $tmp/spool
taxonomy_dir = $top/taxonomy
migrations_dir = $top/migrations
threads = $threads
log_level = warn
CONF
setup_log="$tmp/setup.log"
admin_cmd() { "$helplined" "$@" -c "$conf" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }; }
if [[ $reuse == 1 ]]; then
  admin_cmd migrate >/dev/null # a migration added since the load
  token=$(cat "$data_dir/token")
else
  "$helplined" keygen -o "$keyfile" 2>>"$setup_log" || { cat "$setup_log" >&2; exit 1; }
  admin_cmd migrate >/dev/null
  admin_cmd helpline add bench --name "Bench Child Helpline" --country KE >/dev/null
  admin_cmd user add bench-frontend --role frontend --helpline bench >/dev/null
  token=$(admin_cmd user add "$me" --role counsellor --helpline bench)
  [[ -z $data_dir ]] || (umask 077 && printf '%s\n' "$token" >"$data_dir/token")
fi
hl=$(sql "SELECT id FROM helplines WHERE code = 'bench'")
frontend=$(sql "SELECT id FROM users WHERE name = 'bench-frontend'")

# ---- the synthetic rows ----------------------------------------------------------------------
# (not indented: BENCH_DATA's second and later runs skip to the measure)
load_start=$(date +%s) load_end=$load_start
if [[ $reuse == 1 ]]; then
  echo "bench_cases: reusing the cluster loaded in $data_dir ($stamp), load average $(loadavg)"
else
# Leaf codes of the taxonomy (counselling ones), as a text[] literal.
leaves=$(python3 - "$top/taxonomy/categories.json" <<'PY'
import json, sys
cats = json.load(open(sys.argv[1]))["categories"]
parents = {c.get("parent") for c in cats}
print("{" + ",".join(c["code"] for c in cats
                     if c["code"] not in parents and not c["code"].startswith("non_counselling")) + "}")
PY
)
n_leaves=$(tr ',' '\n' <<<"$leaves" | wc -l)
psql_load() { # psql_load WHAT: the SQL on stdin, timed
  local t0 t1
  t0=$(date +%s.%N)
  "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -v hl="$hl" -v frontend="$frontend" -v me="$me" \
    -v contacts="$n_contacts" -v cases="$n_cases" -v counsellors="$n_counsellors" -v leaves="$leaves" \
    -v n_leaves="$n_leaves" >/dev/null
  t1=$(date +%s.%N)
  printf '  %-64s %6.1f s\n' "$1" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
}
echo "bench_cases: loading $n_contacts contacts and $n_cases cases by SQL (synthetic rows; not measured)," \
  "load average $(loadavg)"
# Fewer checkpoints while loading (a throw-away cluster; the load ends with one, and the default
# max_wal_size again, which leaves less WAL to copy for BENCH_DATA's runs).
sql "ALTER SYSTEM SET max_wal_size = '8GB'"
sql "SELECT pg_reload_conf()" >/dev/null

psql_load "users: $n_counsellors counsellors (rows only, but $me's)" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pgcrypto;
-- The counsellors other than "me" never log in: random token selectors and hashes.
INSERT INTO users (helpline_id, name, role, token_selector, token_hash)
SELECT :hl, 'counsellor' || lpad(k::text, 2, '0'), 'counsellor', gen_random_bytes(16), gen_random_bytes(32)
FROM generate_series(1, :counsellors - 1) k;
-- k: 0 is "me", 1.. the others; names in k order.
CREATE TABLE bench_counsellors (k int PRIMARY KEY, id bigint NOT NULL, name text NOT NULL);
INSERT INTO bench_counsellors
SELECT CASE WHEN name = :'me' THEN 0 ELSE substr(name, 11)::int END, id, name
FROM users WHERE helpline_id = :hl AND role = 'counsellor';
SQL

psql_load "contacts: $n_contacts over two years" <<'SQL'
SELECT setseed(0.16);
INSERT INTO contacts (id, helpline_id, source_system, source_id, channel, contact_type, started_at, ended_at,
                      counsellor, created_by, child_age, child_gender, child_region, caller_relationship,
                      urgency, actions, child_name, caller_name, caller_phone, summary, caller_phone_bidx,
                      taxonomy_version, created_at, updated_at)
SELECT md5('contact' || g)::uuid, :hl, 'bench', 'b' || g, channel, contact_type, t,
       t + (30 + floor(r3 * 2400)::int) * interval '1 second',
       names[1 + floor(r4 * :counsellors)::int], :frontend,
       CASE WHEN counselling AND r5 < 0.9 THEN 5 + floor(r5 * 17)::int END,
       CASE WHEN NOT counselling THEN NULL WHEN r6 < 0.5 THEN 'girl' WHEN r6 < 0.88 THEN 'boy'
            WHEN r6 < 0.9 THEN 'non_binary' ELSE 'unknown' END,
       CASE WHEN NOT counselling THEN NULL ELSE (ARRAY['urban', 'urban', 'town', 'rural', 'rural', 'unknown'])[1 + floor(r7 * 6)::int] END,
       CASE WHEN NOT counselling THEN NULL WHEN r8 < 0.7 THEN 'self'
            ELSE (ARRAY['parent', 'caregiver', 'relative', 'sibling', 'friend', 'teacher', 'neighbour'])[1 + floor((r8 - 0.7) / 0.3 * 7)::int] END,
       CASE WHEN NOT counselling THEN NULL WHEN r9 < 0.75 THEN 'non_critical' WHEN r9 < 0.95 THEN 'urgent' ELSE 'critical' END,
       CASE WHEN contact_type = 'referral' THEN ARRAY['referral.child_protection'] ELSE '{}' END,
       CASE WHEN counselling AND r5 < 0.6 THEN gen_random_bytes(45 + 8 + floor(r6 * 16)::int) END,
       CASE WHEN counselling AND r7 < 0.4 THEN gen_random_bytes(45 + 8 + floor(r8 * 16)::int) END,
       CASE WHEN phone THEN gen_random_bytes(45 + 13) END,
       CASE WHEN counselling THEN gen_random_bytes(45 + 100 + floor(r9 * 870)::int) END,
       -- repeat callers: 600,000 numbers, the low ones far more often
       CASE WHEN phone THEN decode(md5('phone' || floor(r3 * r3 * 600000)), 'hex') END,
       '2026.1', t + interval '45 minutes', t + interval '45 minutes'
FROM (SELECT *, contact_type IN ('counselling', 'information', 'referral') AS counselling,
             channel IN ('phone', 'sms', 'messaging_app') AS phone
      FROM (SELECT g, r3, r4, r5, r6, r7, r8, r9, t,
                   (ARRAY['phone', 'phone', 'phone', 'phone', 'phone', 'chat', 'chat', 'sms', 'messaging_app',
                          'messaging_app', 'social_media', 'email', 'walk_in'])[1 + floor(r1 * 13)::int] AS channel,
                   CASE WHEN r2 < 0.55 THEN 'counselling' WHEN r2 < 0.65 THEN 'information'
                        WHEN r2 < 0.70 THEN 'referral' WHEN r2 < 0.78 THEN 'silent'
                        WHEN r2 < 0.88 THEN 'hang_up' WHEN r2 < 0.93 THEN 'missed' WHEN r2 < 0.96 THEN 'prank'
                        WHEN r2 < 0.98 THEN 'wrong_number' WHEN r2 < 0.99 THEN 'abusive' ELSE 'thank_you' END
                       AS contact_type
            FROM (SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6,
                         random() r7, random() r8, random() r9,
                         now() - interval '1 hour' - random() * interval '730 days' AS t
                  FROM generate_series(1, :contacts) g) r) s) c,
     (SELECT array_agg(name ORDER BY k) AS names FROM bench_counsellors) n;
SQL

psql_load "contact_categories: 1-3 per counselling contact" <<'SQL'
SELECT setseed(0.17);
INSERT INTO contact_categories (contact_id, code, source)
SELECT c.id, (:'leaves'::text[])[1 + floor(pow(random(), 1.6) * :n_leaves)::int], 'given'
FROM contacts c, generate_series(1, 1 + abs(hashtext(c.source_id)) % 3) k
WHERE c.helpline_id = :hl AND c.contact_type IN ('counselling', 'information', 'referral')
ON CONFLICT DO NOTHING;
SQL

psql_load "cases: $n_cases, statuses by age" <<'SQL'
SELECT setseed(0.18);
INSERT INTO cases (id, helpline_id, created_by, assigned_to, status, priority, follow_up_at, label, summary,
                   created_at, updated_at, closed_at)
SELECT md5('case' || n)::uuid, :hl, cr.id,
       CASE WHEN r_assign < 0.85 THEN cr.id WHEN r_assign < 0.95 THEN other.id END,
       status,
       CASE WHEN r_prio < 0.15 THEN 'low' WHEN r_prio < 0.75 THEN 'normal' WHEN r_prio < 0.95 THEN 'high'
            ELSE 'critical' END,
       CASE WHEN status <> 'closed' AND r_fu < 0.7 THEN created + (3 + r_fu * 40) * interval '1 day' END,
       gen_random_bytes(45 + 20 + floor(r_fu * 60)::int), gen_random_bytes(45 + 100 + floor(r_prio * 800)::int),
       created,
       CASE WHEN status = 'closed' THEN closed ELSE created + r_upd * (now() - created) END,
       CASE WHEN status = 'closed' THEN closed END
FROM (SELECT *, created + r_close * least(now() - created, interval '90 days') AS closed,
             CASE WHEN now() - created < interval '60 days'
                  THEN CASE WHEN r_status < 0.45 THEN 'open' WHEN r_status < 0.8 THEN 'in_progress' ELSE 'closed' END
                  ELSE CASE WHEN r_status < 0.06 THEN 'open' WHEN r_status < 0.10 THEN 'in_progress' ELSE 'closed' END
             END AS status
      FROM (SELECT n, random() r_creator, random() r_other, random() r_assign, random() r_status,
                   random() r_prio, random() r_fu, random() r_upd, random() r_close,
                   now() - interval '1 hour' - random() * interval '730 days' AS created
            FROM generate_series(1, :cases) n) r) s
JOIN bench_counsellors cr ON cr.k = floor(r_creator * :counsellors)::int
JOIN bench_counsellors other ON other.k = floor(r_other * :counsellors)::int;
SQL

psql_load "case_contacts: every fifth contact, about 2 per case" <<'SQL'
INSERT INTO case_contacts (contact_id, case_id, linked_at, linked_by)
SELECT md5('contact' || g)::uuid, c.id, c.created_at, c.created_by
FROM generate_series(5, :contacts, 5) g
JOIN cases c ON c.id = md5('case' || (1 + (g / 5) % :cases))::uuid;
SQL

psql_load "case_entries: first status, links, 0-4 notes, closing" <<'SQL'
SELECT setseed(0.19);
INSERT INTO case_entries (id, case_id, kind, at, by_user, status_from, status_to)
SELECT gen_random_uuid(), id, 'status', created_at, created_by, NULL, 'open' FROM cases WHERE helpline_id = :hl;
INSERT INTO case_entries (id, case_id, kind, at, by_user, contact_id, unlinked)
SELECT gen_random_uuid(), case_id, 'contact', linked_at, linked_by, contact_id, false FROM case_contacts;
INSERT INTO case_entries (id, case_id, kind, at, by_user, text)
SELECT gen_random_uuid(), c.id, 'note', c.created_at + k * (c.updated_at - c.created_at) / 5,
       coalesce(c.assigned_to, c.created_by), gen_random_bytes(45 + 50 + floor(random() * 900)::int)
FROM cases c, generate_series(1, abs(hashtext(c.id::text)) % 5) k
WHERE c.helpline_id = :hl;
INSERT INTO case_entries (id, case_id, kind, at, by_user, status_from, status_to)
SELECT gen_random_uuid(), id, 'status', closed_at, coalesce(assigned_to, created_by), 'open', 'closed'
FROM cases WHERE helpline_id = :hl AND status = 'closed';
DROP TABLE bench_counsellors;
SQL

psql_load "VACUUM ANALYZE, CHECKPOINT" <<'SQL'
VACUUM ANALYZE;
ALTER SYSTEM RESET max_wal_size;
SELECT pg_reload_conf();
CHECKPOINT;
SQL
load_end=$(date +%s)
echo "bench_cases: loaded in $((load_end - load_start)) s:" \
  "$(sql "SELECT (SELECT count(*) FROM contacts) || ' contacts (' || (SELECT count(*) FROM contacts WHERE counsellor = '$me')
    || ' of $me), ' || (SELECT count(*) FROM contact_categories) || ' category rows, '
    || (SELECT count(*) FROM cases) || ' cases (' || (SELECT count(*) FROM cases c JOIN users u ON u.id = c.assigned_to
    WHERE u.name = '$me' AND c.status = 'open') || ' open ones assigned to $me), '
    || (SELECT count(*) FROM case_contacts) || ' links, ' || (SELECT count(*) FROM case_entries) || ' timeline entries;'
    || ' database ' || pg_size_pretty(pg_database_size(current_database()))")"
if [[ -n $data_dir ]]; then
  echo "$stamp" >"$data_dir/loaded"
  copy_cluster
  pg_start
  sed -i "s|^database_url = .*|database_url = $url|" "$conf"
fi
fi

# ---- the measure -----------------------------------------------------------------------------
"$helplined" serve -c "$conf" >"$tmp/helplined.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$tmp/helplined.log" >&2; echo "bench_cases: helplined exited" >&2; exit 1; }
  sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { echo "bench_cases: helplined did not answer /healthz" >&2; exit 1; }
echo "bench_cases: helplined pid $daemon_pid on 127.0.0.1:$port, threads=$threads; load average $(loadavg) before the measure"

postmaster=$(head -1 "$pgdir/data/postmaster.pid")
if ! out=$("$measure" --url "http://127.0.0.1:$port" --token "$token" --requests "$requests" --warmup "$warmup" \
  --seconds "$seconds" --warmup-seconds "$warmup_seconds" --concurrency "$concurrency" \
  --daemon-pid "$daemon_pid" --postmaster-pid "$postmaster"); then
  echo "$out"
  echo "bench_cases: the measure failed (helplined log: last lines below)" >&2
  tail -20 "$tmp/helplined.log" >&2
  exit 1
fi
load_after=$(loadavg)
echo "$out"

# ---- pgbench: the note's statement, PostgreSQL alone -----------------------------------------
if [[ $run_pgbench == 1 ]]; then
  # The statement of POST /v1/cases/{id}/notes (server/casework/cases.c, hl_cases_add_notes, one
  # note), on the SQL-made cases, as an admin's note (every case of the helpline is theirs):
  # client i writes to cases i + 1, i + 1 + C, ... (md5('case' || n) is their id), as the
  # measure's connections do.
  cat >"$tmp/note.sql" <<'SQL'
\set k 1 + :client_id + :clients * random(0, :per_client - 1)
WITH n (o, case_id, hl, any_case, writer, id, by_user, text) AS (VALUES (0::int8, md5('case' || :k)::uuid,
  :hl::int8, true, NULL::int8, gen_random_uuid(), :uid::int8, gen_random_bytes(45 + 400))),
l AS (SELECT c.id FROM cases c JOIN n ON c.id = n.case_id AND c.helpline_id = n.hl
  AND (n.any_case OR c.created_by = n.writer OR c.assigned_to = n.writer) ORDER BY c.id FOR NO KEY UPDATE OF c),
u AS (UPDATE cases c SET updated_at = now() WHERE c.id IN (SELECT id FROM l) RETURNING c.id, c.created_by, c.assigned_to),
e AS (INSERT INTO case_entries (id, case_id, kind, by_user, text)
  SELECT n.id, n.case_id, 'note', n.by_user, n.text FROM n JOIN u ON u.id = n.case_id
  WHERE n.any_case OR u.created_by = n.writer OR u.assigned_to = n.writer ORDER BY n.o RETURNING id, at)
SELECT n.o, (extract(epoch FROM e.at) * 1000000)::int8, e.id IS NOT NULL
  OR EXISTS (SELECT FROM cases c WHERE c.id = n.case_id AND c.helpline_id = n.hl)
FROM n LEFT JOIN e ON e.id = n.id;
SQL
  uid=$(sql "SELECT id FROM users WHERE name = '$me'")
  pgb_summary=""
  for mode in extended prepared; do
    rm -f "$tmp"/pgb.*
    pgout=$(cd "$tmp" && "$pgbin/pgbench" -n -M "$mode" -c "$concurrency" -j 2 -T "$seconds" -l --log-prefix=pgb \
      -D hl="$hl" -D uid="$uid" -D clients="$concurrency" -D per_client=$((n_cases / concurrency)) \
      -f "$tmp/note.sql" 2>&1) || { echo "$pgout" >&2; exit 1; }
    # per-transaction log: the third field is the latency in microseconds
    pcts=$(cat "$tmp"/pgb.* | awk '{ print $3 }' | sort -n | awk '{ a[NR] = $1 }
      END { printf "p50 %.2f ms, p95 %.2f ms, p99 %.2f ms", a[int((NR - 1) * 0.5) + 1] / 1000,
            a[int((NR - 1) * 0.95) + 1] / 1000, a[int((NR - 1) * 0.99) + 1] / 1000 }')
    pgb_summary+="pgbench -M $mode -c $concurrency, the note's statement: $(awk '/^tps = / { printf "%.0f", $3 }' <<<"$pgout") tps, $pcts"$'\n'
  done
  echo
  printf '%s' "$pgb_summary"
fi

# ---- the plans of what the handlers run ------------------------------------------------------
if [[ $explain == 1 ]]; then
  case_id=$(sed -nE 's/^set-up: case ([0-9a-f-]{36}) .*/\1/p' <<<"$out")
  note_case=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/cases?status=open&assigned_to=me&limit=2" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["items"][1]["id"])')
  from=$(($(wc -l <"$pgdir/server.log") + 1))
  sql "ALTER SYSTEM SET auto_explain.log_min_duration = 0"
  sql "ALTER SYSTEM SET auto_explain.log_analyze = on"
  sql "ALTER SYSTEM SET auto_explain.log_buffers = on"
  sql "SELECT pg_reload_conf()" >/dev/null
  sleep 1 # the daemon's sessions read the new settings at their next statement
  get() { curl -sf -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$port$1"; }
  get "/v1/cases?status=open&assigned_to=me"
  get "/v1/contacts?counsellor=me"
  get "/v1/cases/$case_id"
  curl -sf -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"text":"One more note, for the plans."}' "http://127.0.0.1:$port/v1/cases/$note_case/notes"
  sql "ALTER SYSTEM SET auto_explain.log_min_duration = -1"
  sql "SELECT pg_reload_conf()" >/dev/null
  echo
  echo "== plans (auto_explain, EXPLAIN ANALYZE with BUFFERS) of the statements of one request each =="
  # A plan is a "duration: ... plan:" line and the tab-indented lines after it.
  tail -n +"$from" "$pgdir/server.log" | awk '
    function flush() {
      if (block != "" && (q ~ /FROM cases c JOIN users/ || q ~ /FROM contacts c LEFT JOIN case_contacts/ ||
                          q ~ /FROM case_entries e/ || q ~ /^INSERT INTO case_entries/ ||
                          q ~ /^WITH n \(o, case_id/)) {
        print "-- " substr(q, 1, 160) (length(q) > 160 ? " ..." : ""); print dur; printf "%s", block; print ""
      }
      block = ""; q = ""
    }
    /duration: [0-9.]+ ms  plan:/ { flush(); dur = "   " substr($0, index($0, "duration:")); inplan = 1; next }
    inplan && /^\t/ {
      line = substr($0, 2)
      if (line ~ /^Query Text: /) { q = substr(line, 13); next }
      block = block "   " line "\n"; next
    }
    { flush(); inplan = 0 }
    END { flush() }'
fi

echo
echo "bench_cases: load average $load_after after the measure (other processes on these $(nproc) cores skew every" \
  "figure); whole run $(($(date +%s) - started)) s, loading $((load_end - load_start)) s"
