-- Room for the merger's updates on the rollup cells' own pages (docs/writer.md, "The
-- statistics rollup"). A merge adds to cells that exist already far more often than it
-- creates new ones: every contact of a day lands in that day's cells. With full pages an
-- update writes its new row version on another page and a new entry in the 10-column primary
-- key; with free space on the page it is a heap-only update, without an index entry, and the
-- old version is pruned from the page later. Measured on 59,549 cells: updating each once took
-- 1,057-1,287 ms at fillfactor 100, 482 ms at 50. 70 keeps most of that for 30 % more pages.
-- Existing pages keep their rows; the setting applies to the pages written from now on.
ALTER TABLE stats_daily SET (fillfactor = 70);
ALTER TABLE stats_monthly SET (fillfactor = 70);
