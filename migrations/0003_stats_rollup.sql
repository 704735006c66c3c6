-- Statistics rollups, daily and monthly, maintained by helplined in the same transaction as every
-- contact write and PATCH, so statistics read cells (not contacts) and never disagree with
-- the contacts. Keyed by canonical codes (design.md invariant 4). Days are UTC dates of
-- started_at. Suggested categories are not counted (only given and mapped).
--
-- stats_monthly holds the same cells by calendar month, so a quarter reads three months of
-- cells instead of ninety days; stats_daily serves the partial months of a date range.
--
-- level 'total':       one row per contact (category = subcategory = '')
-- level 'category':    one row per distinct top-level category of the contact
-- level 'subcategory': one row per category code of the contact (a top-level code given
--                      alone counts as its own, unspecified, subcategory)
--
-- Cost of a contact write: the text columns compare bytewise (COLLATE "C": the values are codes,
-- never sorted for display), and there is no foreign key to helplines: every cell is derived
-- from contacts, whose own foreign key guards the helpline, and a foreign key here would run
-- one trigger per new cell in the writer's transaction.
CREATE TABLE stats_daily (
    helpline_id  bigint NOT NULL,
    day          date NOT NULL,
    level        text COLLATE "C" NOT NULL CHECK (level IN ('total', 'category', 'subcategory')),
    category     text COLLATE "C" NOT NULL,
    subcategory  text COLLATE "C" NOT NULL,
    age_band     text COLLATE "C" NOT NULL,
    gender       text COLLATE "C" NOT NULL,
    channel      text COLLATE "C" NOT NULL,
    contact_type text COLLATE "C" NOT NULL,
    region       text COLLATE "C" NOT NULL,
    contacts     bigint NOT NULL CHECK (contacts >= 0),
    PRIMARY KEY (helpline_id, level, day, category, subcategory, age_band, gender, channel, contact_type, region)
);

CREATE FUNCTION helpline_age_band(age smallint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN age IS NULL THEN 'unknown'
        WHEN age <= 6 THEN '0-6'
        WHEN age <= 9 THEN '7-9'
        WHEN age <= 12 THEN '10-12'
        WHEN age <= 15 THEN '13-15'
        WHEN age <= 17 THEN '16-17'
        WHEN age <= 25 THEN '18-25'
        ELSE 'unknown' END
$$;

-- Back-fill from the contacts already stored.
WITH c AS (
    SELECT id, helpline_id, (started_at AT TIME ZONE 'UTC')::date AS day,
           helpline_age_band(child_age) AS age_band, coalesce(child_gender, 'unknown') AS gender,
           channel, contact_type, coalesce(child_region, 'unknown') AS region
    FROM contacts
), counted AS (
    SELECT c.*, cc.code, split_part(cc.code, '.', 1) AS top
    FROM c JOIN contact_categories cc ON cc.contact_id = c.id AND cc.source IN ('given', 'mapped')
)
INSERT INTO stats_daily
SELECT helpline_id, day, 'total', '', '', age_band, gender, channel, contact_type, region, count(*)
FROM c GROUP BY 1, 2, 6, 7, 8, 9, 10
UNION ALL
SELECT helpline_id, day, 'category', top, '', age_band, gender, channel, contact_type, region,
       count(DISTINCT id)
FROM counted GROUP BY 1, 2, 4, 6, 7, 8, 9, 10
UNION ALL
SELECT helpline_id, day, 'subcategory', top, code, age_band, gender, channel, contact_type, region, count(*)
FROM counted GROUP BY 1, 2, 4, 5, 6, 7, 8, 9, 10;

CREATE TABLE stats_monthly (LIKE stats_daily INCLUDING CONSTRAINTS);
ALTER TABLE stats_monthly RENAME COLUMN day TO month;
ALTER TABLE stats_monthly ADD PRIMARY KEY
    (helpline_id, level, month, category, subcategory, age_band, gender, channel, contact_type, region);
ALTER TABLE stats_monthly ADD CHECK (month = date_trunc('month', month)::date);

INSERT INTO stats_monthly
SELECT helpline_id, date_trunc('month', day)::date, level, category, subcategory, age_band, gender, channel,
       contact_type, region, sum(contacts)
FROM stats_daily GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10;
