-- Rural households never registered as poor (一般农户), kept in the registry only so that
-- monitoring can find 边缘易致贫户 among them (DOMAIN.md §7).
--
-- Representation: households.status = 'N' (STATUS_NOT_REGISTERED in crates/domain). It is not a
-- value of the poverty_status code table, so a registered household can never take it, and the
-- summaries of 0007/0008 key their rows by status: every poverty figure (people out of poverty,
-- remaining poor, incidence, exit assessment, overview and dashboard) counts statuses 0/3 as
-- poor and 1/4 as exited only, so these rows sit in the summaries under 'N' and are never
-- counted. Their identification columns (attribute, identification_standard, main_cause) hold
-- '' and identified_year 0: those columns are NOT NULL, and SQLite can only drop a NOT NULL by
-- rebuilding households, which would drop the summary triggers with it.

-- The monitoring batch and the work list read these households by village; a partial index
-- keeps that cheap however large the registry of poor households is.
CREATE INDEX households_not_registered ON households (village_key, id) WHERE status = 'N' AND removed_year IS NULL;
