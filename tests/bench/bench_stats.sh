#!/usr/bin/env bash
# bench-stats: /v1/stats over BENCH_CONTACTS contacts (default 5 million, loaded by SQL, not
# through HTTP) against the equivalent GROUP BY over the contacts table, same run, same
# database. The contacts are loaded before migration 0003, so its back-fill is timed too.
set -euo pipefail
cd "$(dirname "$0")/../.."
top=$PWD
build=${HL_BUILD:-build}
n=${BENCH_CONTACTS:-5000000}
dir=$(mktemp -d /tmp/helpline-bench-stats.XXXXXX)
chmod 755 "$dir"
daemon=""
cleanup() {
  [[ -n "$daemon" ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null || true
  scripts/pg-local stop "$dir/pg" || true
  rm -rf "$dir"
}
trap cleanup EXIT

scripts/pg-local start "$dir/pg"
url=$(scripts/pg-local url "$dir/pg")
mkdir "$dir/early"
cp migrations/0001_*.sql migrations/0002_*.sql "$dir/early/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$dir/helplined.conf" <<CONF
listen = 127.0.0.1:$port
database_url = $url
key_file = $dir/master.key
spool_dir = $dir/spool
taxonomy_dir = $top/taxonomy
migrations_dir = $dir/early
threads = 4
log_level = warn
CONF
"$build/helplined" keygen -o "$dir/master.key" 2>/dev/null
"$build/helplined" migrate -c "$dir/helplined.conf" 2>/dev/null
"$build/helplined" helpline add bench --name "Benchmark helpline" --country KE -c "$dir/helplined.conf" 2>/dev/null
token=$("$build/helplined" user add sup --role supervisor --helpline bench -c "$dir/helplined.conf" 2>/dev/null)

echo "bench-stats: loading $n contacts over one year, 1-3 categories each ..."
start=$(date +%s%N)
psql -q "$url" <<SQL
SET synchronous_commit = off;
INSERT INTO contacts (id, helpline_id, source_system, source_id, channel, contact_type, started_at,
                      child_age, child_gender, child_region, taxonomy_version)
SELECT gen_random_uuid(), 1, 'bench', 'b' || g,
       (ARRAY['phone','phone','chat','sms','messaging_app','social_media'])[1 + g % 6],
       (ARRAY['counselling','counselling','counselling','information','referral','silent','hang_up','missed'])[1 + g % 8],
       timestamptz '2026-01-01 00:00:00+00' + ((g::int8 * 7919) % 31536000) * interval '1 second',
       CASE WHEN g % 11 = 0 THEN NULL ELSE 5 + (g * 31) % 21 END,
       (ARRAY['girl','girl','girl','boy','boy','non_binary','unknown'])[1 + (g * 13) % 7],
       (ARRAY['urban','town','rural','unknown'])[1 + (g * 17) % 4],
       '2026.1'
FROM generate_series(1, $n) g;
WITH codes AS (SELECT array_agg(code ORDER BY code) AS a FROM (VALUES
  ('violence.bullying'), ('violence.physical_violence'), ('violence.sexual_violence'), ('violence.neglect'),
  ('mental_health.suicidal_thoughts_attempts'), ('mental_health.fear_anxiety_problems'),
  ('mental_health.self_harm'), ('family_relationships.general_family_issues'),
  ('peer_relationships.friends_friendships'), ('education_occupation.academic_issues'),
  ('sexuality.sexual_orientation_gender_identity'), ('physical_health.sexual_reproductive_health')) v(code))
INSERT INTO contact_categories (contact_id, code, source)
SELECT DISTINCT c.id, codes.a[1 + (abs(hashtext(c.source_id || k)) % 12)], 'given'
FROM contacts c, codes, generate_series(1, 1 + abs(hashtext(c.source_id)) % 3) k;
ANALYZE;
SQL
loaded=$(date +%s%N)
sed -i "s|^migrations_dir = .*|migrations_dir = $top/migrations|" "$dir/helplined.conf"
"$build/helplined" migrate -c "$dir/helplined.conf" 2>/dev/null
migrated=$(date +%s%N)
psql -q "$url" -c "ANALYZE"
cells=$(psql -Atq "$url" -c "SELECT count(*) FROM stats_daily")
cats=$(psql -Atq "$url" -c "SELECT count(*) FROM contact_categories")
printf 'bench-stats: %s contacts, %s category rows loaded in %d s; migration 0003 back-filled %s rollup cells in %d s\n' \
  "$n" "$cats" $(((loaded - start) / 1000000000)) "$cells" $(((migrated - loaded) / 1000000000))

"$build/helplined" serve -c "$dir/helplined.conf" 2>"$dir/daemon.log" &
daemon=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
"$build/bench/bench_stats" --url "http://127.0.0.1:$port" --token "$token" --conninfo "$url"
