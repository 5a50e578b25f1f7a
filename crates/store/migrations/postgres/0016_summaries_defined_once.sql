-- Summaries defined once (issue 18 item 1). No trigger repeats the arithmetic of a summary any
-- more: the triggers only note which keys changed (stats_dirty), and before every commit the
-- store recomputes those keys from the one definition of each summary in
-- crates/store/src/summaries.rs (`TABLES`), which is also what `bangfu stats rebuild`,
-- `stats check` and the demo loader run over all keys.
--
-- stats_dirty holds keys by kind, named after the column the values come from:
--   'households.county_key', 'households.village_key': a county or village whose households
--     changed (the household summaries);
--   'projects.id': a project whose record, locations, indicators, microloans or invested
--     ledger entries changed (invested funds, project regions and the per-project parts);
--   'project_locations.region_key', 'regions.key': a site added or removed, a region whose
--     elevation changed (the site elevations of its county).
-- The national and regional sums (stats_projects, stats_indicators, stats_funds) are kept by
-- adding the change of per-project parts (the three tables below), so a change to one project
-- does not recompute a sum over every project.
--
-- The household triggers note keys per statement (transition tables, as 0009 did for the
-- arithmetic), so an import's COPY of thousands of households notes each county and village
-- once; the others per row, as before. The stats_version triggers stay: those of 0009 on the
-- household summaries see only rows whose figures changed (the recomputation writes no other).

CREATE TABLE stats_dirty (
    kind TEXT NOT NULL,
    key BIGINT NOT NULL,
    PRIMARY KEY (kind, key)
);

CREATE TABLE stats_project_parts (
    project_id BIGINT NOT NULL,
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    year BIGINT NOT NULL,
    projects BIGINT NOT NULL,
    PRIMARY KEY (project_id, region_key, theme, year)
);

CREATE TABLE stats_indicator_parts (
    project_id BIGINT NOT NULL,
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    indicator TEXT NOT NULL,
    year BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (project_id, region_key, theme, indicator, year)
);

CREATE TABLE stats_fund_parts (
    project_id BIGINT NOT NULL,
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    year BIGINT NOT NULL,
    fund_source TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (project_id, region_key, theme, year, fund_source)
);

DROP TRIGGER stats_households_inserted ON households;
DROP FUNCTION stats_households_inserted();
DROP TRIGGER stats_households_updated ON households;
DROP FUNCTION stats_households_updated();
DROP TRIGGER stats_households_deleted ON households;
DROP FUNCTION stats_households_deleted();
DROP TRIGGER stats_ledger_insert ON ledger_entries;
DROP FUNCTION stats_ledger_insert();
DROP TRIGGER stats_dash_projects_insert ON projects;
DROP FUNCTION stats_dash_projects_insert();
DROP TRIGGER stats_dash_projects_delete ON projects;
DROP FUNCTION stats_dash_projects_delete();
DROP TRIGGER stats_dash_projects_update ON projects;
DROP FUNCTION stats_dash_projects_update();
DROP TRIGGER stats_dash_project_regions_insert ON stats_project_regions;
DROP FUNCTION stats_dash_project_regions_insert();
DROP TRIGGER stats_dash_project_regions_delete ON stats_project_regions;
DROP FUNCTION stats_dash_project_regions_delete();
DROP TRIGGER stats_dash_locations_insert ON project_locations;
DROP FUNCTION stats_dash_locations_insert();
DROP TRIGGER stats_dash_locations_delete ON project_locations;
DROP FUNCTION stats_dash_locations_delete();
DROP TRIGGER stats_dash_locations_update ON project_locations;
DROP FUNCTION stats_dash_locations_update();
DROP TRIGGER stats_dash_locations_funds_insert ON project_locations;
DROP FUNCTION stats_dash_locations_funds_insert();
DROP TRIGGER stats_dash_locations_funds_delete ON project_locations;
DROP FUNCTION stats_dash_locations_funds_delete();
DROP TRIGGER stats_dash_locations_funds_update ON project_locations;
DROP FUNCTION stats_dash_locations_funds_update();
DROP TRIGGER stats_dash_indicators_insert ON project_indicators;
DROP FUNCTION stats_dash_indicators_insert();
DROP TRIGGER stats_dash_indicators_delete ON project_indicators;
DROP FUNCTION stats_dash_indicators_delete();
DROP TRIGGER stats_dash_indicators_update ON project_indicators;
DROP FUNCTION stats_dash_indicators_update();
DROP TRIGGER stats_dash_loans_insert ON project_loans;
DROP FUNCTION stats_dash_loans_insert();
DROP TRIGGER stats_dash_loans_delete ON project_loans;
DROP FUNCTION stats_dash_loans_delete();
DROP TRIGGER stats_dash_loans_update ON project_loans;
DROP FUNCTION stats_dash_loans_update();
DROP TRIGGER stats_dash_invested_insert ON stats_invested;
DROP FUNCTION stats_dash_invested_insert();
DROP TRIGGER stats_dash_invested_update ON stats_invested;
DROP FUNCTION stats_dash_invested_update();
DROP TRIGGER stats_dash_regions_elevation_first ON regions;
DROP FUNCTION stats_dash_regions_elevation_first();
DROP TRIGGER stats_dash_regions_elevation_changed ON regions;
DROP FUNCTION stats_dash_regions_elevation_changed();

-- The household summaries keep their rows (the same figures); the project side is recomputed
-- from the records by the store right after the migrations (`migrate::run`), with the parts.
DELETE FROM stats_invested;
DELETE FROM stats_project_regions;
DELETE FROM stats_projects;
DELETE FROM stats_indicators;
DELETE FROM stats_sites;
DELETE FROM stats_funds;
INSERT INTO stats_dirty (kind, key) SELECT 'projects.id', id FROM projects;

CREATE FUNCTION stats_dirty_households_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT 'households.county_key', county_key FROM new_rows
    UNION SELECT 'households.village_key', village_key FROM new_rows
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_households_inserted AFTER INSERT ON households
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_households_inserted();

-- The columns compared are those the household summaries read.
CREATE FUNCTION stats_dirty_households_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT o.county_key AS old_county, o.village_key AS old_village,
               n.county_key AS new_county, n.village_key AS new_village
        FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.county_key, o.village_key, o.status, o.exit_year, o.member_count, o.removed_year)
              IS DISTINCT FROM (n.county_key, n.village_key, n.status, n.exit_year, n.member_count, n.removed_year))
    INSERT INTO stats_dirty (kind, key)
    SELECT 'households.county_key', old_county FROM changed
    UNION SELECT 'households.county_key', new_county FROM changed
    UNION SELECT 'households.village_key', old_village FROM changed
    UNION SELECT 'households.village_key', new_village FROM changed
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_households_updated AFTER UPDATE ON households
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_households_updated();

CREATE FUNCTION stats_dirty_households_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key)
    SELECT 'households.county_key', county_key FROM old_rows
    UNION SELECT 'households.village_key', village_key FROM old_rows
    ORDER BY 1, 2
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_households_deleted AFTER DELETE ON households
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION stats_dirty_households_deleted();

CREATE FUNCTION stats_dirty_projects() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.id) ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_projects AFTER INSERT OR DELETE OR UPDATE OF theme, start_date ON projects
    FOR EACH ROW EXECUTE FUNCTION stats_dirty_projects();

CREATE FUNCTION stats_dirty_locations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO stats_dirty (kind, key)
        VALUES ('projects.id', OLD.project_id), ('project_locations.region_key', OLD.region_key)
        ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO stats_dirty (kind, key)
        VALUES ('projects.id', NEW.project_id), ('project_locations.region_key', NEW.region_key)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_locations AFTER INSERT OR DELETE OR UPDATE ON project_locations
    FOR EACH ROW EXECUTE FUNCTION stats_dirty_locations();

-- Indicators and microloans: their project.
CREATE FUNCTION stats_dirty_project_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.project_id) ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.project_id) ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_indicators AFTER INSERT OR DELETE OR UPDATE ON project_indicators
    FOR EACH ROW EXECUTE FUNCTION stats_dirty_project_rows();
CREATE TRIGGER stats_dirty_loans AFTER INSERT OR DELETE OR UPDATE OF project_id, amount, issued_on ON project_loans
    FOR EACH ROW EXECUTE FUNCTION stats_dirty_project_rows();

-- The ledger is append-only: an insert is all it takes.
CREATE TRIGGER stats_dirty_ledger_insert AFTER INSERT ON ledger_entries
    FOR EACH ROW WHEN (NEW.invested) EXECUTE FUNCTION stats_dirty_project_rows();

CREATE FUNCTION stats_dirty_regions_elevation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('regions.key', NEW.key) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dirty_regions_elevation AFTER UPDATE OF elevation_m ON regions
    FOR EACH ROW WHEN (OLD.elevation_m IS DISTINCT FROM NEW.elevation_m)
    EXECUTE FUNCTION stats_dirty_regions_elevation();
