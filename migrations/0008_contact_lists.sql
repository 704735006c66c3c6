-- Lists of contacts (GET /v1/contacts, server/contact_list.c): pages newest first by
-- (started_at, id), each page read from an index backwards, from the cursor's position on.
-- Only adds indexes (docs/http-api.md "Lists" has the plans this was checked with).
--
-- Without a counsellor filter a page walks contacts_helpline_started (0002) newest first and
-- checks the other filters on the rows it meets (channel, contact_type, urgency, case,
-- category): a page costs about limit / (share of contacts that match) rows, whatever the
-- size of the table. caller_of reads contacts_phone_bidx (0002): a few rows.
--
-- counsellor (a counsellor's own list, the common one, and the benchmark's): without this
-- index PostgreSQL sorts every contact of the counsellor to find the newest page; with the
-- counsellor, started_at and id in it, a page is the first rows of one index range, the
-- cursor's (started_at, id) < (...) included in the index condition.
CREATE INDEX contacts_list_counsellor ON contacts (helpline_id, counsellor, started_at, id);

-- category: lets PostgreSQL start from a rare category's contacts (e.g. with a counsellor
-- filter: a hash semi join of the two index ranges) instead of walking until enough match.
CREATE INDEX contact_categories_code ON contact_categories (code, contact_id);
