-- Nothing changes on SQLite. On PostgreSQL this migration replaces the per-row triggers that keep
-- the household summaries (0007, 0008) with statement triggers, because there every update of the
-- same summary row within one transaction leaves a row version the next update has to step over.
-- SQLite updates a row in place, its per-row triggers cost little and it has no statement
-- triggers: they stay. The file exists so that both engines run the same numbered migrations.
SELECT 1;
