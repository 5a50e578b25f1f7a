-- Household summaries (stats_household_members of 0007, stats_village_members of 0008) kept per
-- statement instead of per row.
--
-- Why: the per-row triggers updated one of a handful of summary rows for every household
-- written. Within one transaction every update of the same row leaves a row version the next
-- update has to step over (none of them can be pruned before the commit), so a registry import
-- took time growing with the square of its households (250,000 member rows: 46 s). A statement
-- trigger sees all rows of the statement at once (transition tables; COPY fills them too), adds
-- them up with GROUP BY and writes each summary row it changes once: the import's COPY of a
-- chunk of a few thousand rows touches each summary row at most once.
--
-- PostgreSQL allows transition tables only on triggers for a single event and without a column
-- list, hence three triggers, and the update trigger fires for every UPDATE of households; groups
-- whose net change is zero (an update that leaves the summarised columns as they were) are not
-- written, so such updates cost one small aggregate and change nothing.
--
-- Every trigger's name starts with stats_ like the other summary triggers.

DROP TRIGGER stats_households_change ON households;
DROP FUNCTION stats_households_change();
DROP TRIGGER stats_village_households_insert ON households;
DROP FUNCTION stats_village_households_insert();
DROP TRIGGER stats_village_households_update ON households;
DROP FUNCTION stats_village_households_update();
DROP TRIGGER stats_village_households_delete ON households;
DROP FUNCTION stats_village_households_delete();

-- One function per event (each trigger names only the transition tables its event has). Rows
-- are written in key order, so two transactions touching the same summary rows lock them in the
-- same order. A removed household (removed_year set, 清退) counts nowhere, as before.
CREATE FUNCTION stats_households_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
    SELECT county_key, status, COALESCE(exit_year, 0), COUNT(*), SUM(member_count)
    FROM new_households WHERE removed_year IS NULL
    GROUP BY county_key, status, COALESCE(exit_year, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (county_key, status, exit_year) DO UPDATE
    SET households = stats_household_members.households + excluded.households,
        members = stats_household_members.members + excluded.members;
    INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
    SELECT village_key, status, COALESCE(exit_year, 0), COUNT(*), SUM(member_count)
    FROM new_households WHERE removed_year IS NULL
    GROUP BY village_key, status, COALESCE(exit_year, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (village_key, status, exit_year) DO UPDATE
    SET households = stats_village_members.households + excluded.households,
        members = stats_village_members.members + excluded.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_households_inserted AFTER INSERT ON households
    REFERENCING NEW TABLE AS new_households
    FOR EACH STATEMENT EXECUTE FUNCTION stats_households_inserted();

-- An update takes the old rows out and puts the new ones in; a group is written only when its
-- households or members change.
CREATE FUNCTION stats_households_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
    SELECT county_key, status, exit_year, SUM(households), SUM(members)
    FROM (SELECT county_key, status, COALESCE(exit_year, 0) AS exit_year, 1 AS households, member_count AS members
          FROM new_households WHERE removed_year IS NULL
          UNION ALL
          SELECT county_key, status, COALESCE(exit_year, 0), -1, -member_count
          FROM old_households WHERE removed_year IS NULL) AS d
    GROUP BY county_key, status, exit_year
    HAVING SUM(households) <> 0 OR SUM(members) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (county_key, status, exit_year) DO UPDATE
    SET households = stats_household_members.households + excluded.households,
        members = stats_household_members.members + excluded.members;
    INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
    SELECT village_key, status, exit_year, SUM(households), SUM(members)
    FROM (SELECT village_key, status, COALESCE(exit_year, 0) AS exit_year, 1 AS households, member_count AS members
          FROM new_households WHERE removed_year IS NULL
          UNION ALL
          SELECT village_key, status, COALESCE(exit_year, 0), -1, -member_count
          FROM old_households WHERE removed_year IS NULL) AS d
    GROUP BY village_key, status, exit_year
    HAVING SUM(households) <> 0 OR SUM(members) <> 0
    ORDER BY 1, 2, 3
    ON CONFLICT (village_key, status, exit_year) DO UPDATE
    SET households = stats_village_members.households + excluded.households,
        members = stats_village_members.members + excluded.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_households_updated AFTER UPDATE ON households
    REFERENCING OLD TABLE AS old_households NEW TABLE AS new_households
    FOR EACH STATEMENT EXECUTE FUNCTION stats_households_updated();

CREATE FUNCTION stats_households_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
    SELECT county_key, status, COALESCE(exit_year, 0), -COUNT(*), -SUM(member_count)
    FROM old_households WHERE removed_year IS NULL
    GROUP BY county_key, status, COALESCE(exit_year, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (county_key, status, exit_year) DO UPDATE
    SET households = stats_household_members.households + excluded.households,
        members = stats_household_members.members + excluded.members;
    INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
    SELECT village_key, status, COALESCE(exit_year, 0), -COUNT(*), -SUM(member_count)
    FROM old_households WHERE removed_year IS NULL
    GROUP BY village_key, status, COALESCE(exit_year, 0)
    ORDER BY 1, 2, 3
    ON CONFLICT (village_key, status, exit_year) DO UPDATE
    SET households = stats_village_members.households + excluded.households,
        members = stats_village_members.members + excluded.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_households_deleted AFTER DELETE ON households
    REFERENCING OLD TABLE AS old_households
    FOR EACH STATEMENT EXECUTE FUNCTION stats_households_deleted();

-- stats_version. The figures read households only through the two summaries above (see
-- store::stats and store::dashboard), so a change to households that matters to them is exactly
-- a change of a summary row, and the version is bumped from there: by deferred constraint
-- triggers on the summary tables instead of on households. They stay per row (constraint
-- triggers can only be), but a summary table changes a few rows per statement where households
-- changes hundreds of thousands, so the queue of deferred events stays short; and being deferred
-- they run at commit, so the single version row is locked only for the instant of the commit and
-- not for the whole of a long import. (A plain statement trigger on households would lock the
-- version row from the first statement of the import to its end.) An update of households that
-- leaves every summary as it was does not bump the version: no figure changed.
DROP TRIGGER stats_version_households_insert ON households;
DROP TRIGGER stats_version_households_update ON households;
DROP TRIGGER stats_version_households_delete ON households;

CREATE CONSTRAINT TRIGGER stats_version_household_members_insert AFTER INSERT ON stats_household_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_household_members_update AFTER UPDATE ON stats_household_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_household_members_delete AFTER DELETE ON stats_household_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_village_members_insert AFTER INSERT ON stats_village_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_village_members_update AFTER UPDATE ON stats_village_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_village_members_delete AFTER DELETE ON stats_village_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
