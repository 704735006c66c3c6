-- Referrals and case status changes in the statistics rollup (api.md "Cases", last point;
-- docs/http-api.md "GET /v1/stats", "Referrals and case status"; docs/writer.md "The statistics
-- rollup"). They use the contacts' cells, with two more levels:
--
-- level 'referral':    one row per referral, in the UTC day it was made (referrals.created_at),
--                      category = referral_to (a referral.* action code),
--                      subcategory = its current state (made accepted declined completed);
--                      a state change moves the referral from its old cell to its new one.
-- level 'case_status': one row per status entry of a case timeline, in the UTC day of the
--                      entry (case_entries.at), category = the status moved to: 'open' for a
--                      new case (its first entry), 'in_progress' (started or reopened),
--                      'closed'. Entries are append-only, so these rows only ever grow.
-- The other columns are '' in both; the count column (contacts) counts referrals, or status
-- changes. Everything else is as for contacts: deltas are appended to stats_pending in the
-- transaction that writes the referral or the entry, the merger folds them into stats_daily
-- and stats_monthly, statistics read the three.
--
-- The deltas come from statement triggers with transition tables, so that every path that
-- writes referrals or timeline entries counts (the Cases API, bulk loads, future tools) and a
-- statement costs one grouped append however many rows it writes. A note or a link (no status
-- row) appends nothing.
--
-- Only adds rows, functions and triggers; the one change to existing objects widens the level
-- check of stats_daily and stats_monthly to the two new levels (no row changes).

-- The triggers first: CREATE TRIGGER waits for the transactions writing referrals or entries
-- and holds off new ones until this migration commits. The back-fill below then counts every
-- row committed before, the triggers every row written after: each exactly once, even with a
-- daemon running while the migration runs.
CREATE FUNCTION stats_referrals_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_pending (helpline_id, day, level, category, subcategory, age_band, gender, channel,
                               contact_type, region, contacts)
    SELECT c.helpline_id, (r.created_at AT TIME ZONE 'UTC')::date, 'referral', r.referral_to, r.state,
           '', '', '', '', '', count(*)
    FROM new_referrals r JOIN cases c ON c.id = r.case_id
    GROUP BY 1, 2, 4, 5;
    RETURN NULL;
END;
$$;

-- A referral's cell is (helpline, day made, referral_to, state): an update that changes any of
-- them (the API changes only the state) takes one from the old cell and adds one to the new.
-- Re-sealing and erasure change other columns and append nothing.
CREATE FUNCTION stats_referrals_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_pending (helpline_id, day, level, category, subcategory, age_band, gender, channel,
                               contact_type, region, contacts)
    SELECT h, d, 'referral', t, s, '', '', '', '', '', sum(n)::int8
    FROM (SELECT oc.helpline_id AS h, (o.created_at AT TIME ZONE 'UTC')::date AS d, o.referral_to AS t,
                 o.state AS s, -1 AS n
          FROM old_referrals o JOIN new_referrals nr ON nr.id = o.id JOIN cases oc ON oc.id = o.case_id
          WHERE (o.case_id, o.created_at, o.referral_to, o.state)
                IS DISTINCT FROM (nr.case_id, nr.created_at, nr.referral_to, nr.state)
          UNION ALL
          SELECT nc.helpline_id, (nr.created_at AT TIME ZONE 'UTC')::date, nr.referral_to, nr.state, 1
          FROM old_referrals o JOIN new_referrals nr ON nr.id = o.id JOIN cases nc ON nc.id = nr.case_id
          WHERE (o.case_id, o.created_at, o.referral_to, o.state)
                IS DISTINCT FROM (nr.case_id, nr.created_at, nr.referral_to, nr.state)) x
    GROUP BY h, d, t, s
    HAVING sum(n) <> 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION stats_case_entries_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_pending (helpline_id, day, level, category, subcategory, age_band, gender, channel,
                               contact_type, region, contacts)
    SELECT c.helpline_id, (e.at AT TIME ZONE 'UTC')::date, 'case_status', e.status_to, '', '', '', '', '',
           '', count(*)
    FROM new_entries e JOIN cases c ON c.id = e.case_id
    WHERE e.kind = 'status'
    GROUP BY 1, 2, 4;
    RETURN NULL;
END;
$$;

CREATE TRIGGER referrals_stats_insert AFTER INSERT ON referrals
    REFERENCING NEW TABLE AS new_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION stats_referrals_inserted();
CREATE TRIGGER referrals_stats_update AFTER UPDATE ON referrals
    REFERENCING OLD TABLE AS old_referrals NEW TABLE AS new_referrals
    FOR EACH STATEMENT EXECUTE FUNCTION stats_referrals_updated();
CREATE TRIGGER case_entries_stats_insert AFTER INSERT ON case_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION stats_case_entries_inserted();

-- A referral's cases row is never deleted (case_entries refers to both and is append-only), so
-- no delete trigger is needed.

ALTER TABLE stats_daily DROP CONSTRAINT stats_daily_level_check;
ALTER TABLE stats_daily ADD CONSTRAINT stats_daily_level_check
    CHECK (level IN ('total', 'category', 'subcategory', 'referral', 'case_status'));
ALTER TABLE stats_monthly DROP CONSTRAINT stats_daily_level_check;
ALTER TABLE stats_monthly ADD CONSTRAINT stats_monthly_level_check
    CHECK (level IN ('total', 'category', 'subcategory', 'referral', 'case_status'));

-- Back-fill from the referrals and timelines already stored.
INSERT INTO stats_daily (helpline_id, day, level, category, subcategory, age_band, gender, channel, contact_type,
                         region, contacts)
SELECT c.helpline_id, (r.created_at AT TIME ZONE 'UTC')::date, 'referral', r.referral_to, r.state,
       '', '', '', '', '', count(*)
FROM referrals r JOIN cases c ON c.id = r.case_id
GROUP BY 1, 2, 4, 5
UNION ALL
SELECT c.helpline_id, (e.at AT TIME ZONE 'UTC')::date, 'case_status', e.status_to, '', '', '', '', '', '',
       count(*)
FROM case_entries e JOIN cases c ON c.id = e.case_id
WHERE e.kind = 'status'
GROUP BY 1, 2, 4;

INSERT INTO stats_monthly (helpline_id, month, level, category, subcategory, age_band, gender, channel,
                           contact_type, region, contacts)
SELECT helpline_id, date_trunc('month', day)::date, level, category, subcategory, age_band, gender, channel,
       contact_type, region, sum(contacts)
FROM stats_daily WHERE level IN ('referral', 'case_status')
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
