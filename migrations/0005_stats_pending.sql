-- Rollup changes not yet folded into stats_daily and stats_monthly (docs/writer.md, "The
-- statistics rollup"). Every contact write and PATCH appends its cell deltas here, in its own
-- transaction, instead of upserting the shared cells: appends take no row locks, so the
-- writer's concurrent batches never wait for each other's cells. helplined's merger folds the
-- rows into the two rollup tables about once a second, deleting what it folds in the same
-- transaction; statistics read the rollup tables plus what is still here, so they always
-- agree with the contacts. No index: the table stays small and is read whole.
--
-- The cells' columns (their types, collations and NOT NULL), without stats_daily's checks: a
-- delta may be negative.
CREATE TABLE stats_pending (LIKE stats_daily);
ALTER TABLE stats_pending ADD CHECK (contacts <> 0);
