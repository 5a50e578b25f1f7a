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

DROP TRIGGER stats_households_insert;
DROP TRIGGER stats_households_update;
DROP TRIGGER stats_households_delete;
DROP TRIGGER stats_village_households_insert;
DROP TRIGGER stats_village_households_update;
DROP TRIGGER stats_village_households_delete;
DROP TRIGGER stats_ledger_insert;
DROP TRIGGER stats_dash_projects_insert;
DROP TRIGGER stats_dash_projects_delete;
DROP TRIGGER stats_dash_project_regions_insert;
DROP TRIGGER stats_dash_project_regions_delete;
DROP TRIGGER stats_dash_projects_update;
DROP TRIGGER stats_dash_locations_before_insert;
DROP TRIGGER stats_dash_locations_insert;
DROP TRIGGER stats_dash_locations_before_delete;
DROP TRIGGER stats_dash_locations_delete;
DROP TRIGGER stats_dash_locations_before_update;
DROP TRIGGER stats_dash_locations_update;
DROP TRIGGER stats_dash_indicators_insert;
DROP TRIGGER stats_dash_indicators_delete;
DROP TRIGGER stats_dash_indicators_update;
DROP TRIGGER stats_dash_loans_insert;
DROP TRIGGER stats_dash_loans_delete;
DROP TRIGGER stats_dash_loans_update;
DROP TRIGGER stats_dash_invested_insert;
DROP TRIGGER stats_dash_invested_update;
DROP TRIGGER stats_dash_regions_elevation_first;
DROP TRIGGER stats_dash_regions_elevation_changed;

-- The household summaries keep their rows (the same figures); the project side is recomputed
-- from the records by the store right after the migrations (`migrate::run`), with the parts.
DELETE FROM stats_invested;
DELETE FROM stats_project_regions;
DELETE FROM stats_projects;
DELETE FROM stats_indicators;
DELETE FROM stats_sites;
DELETE FROM stats_funds;
INSERT INTO stats_dirty (kind, key) SELECT 'projects.id', id FROM projects;

-- The columns named in an update trigger are those the summaries read.
CREATE TRIGGER stats_dirty_households_insert AFTER INSERT ON households
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('households.county_key', NEW.county_key), ('households.village_key', NEW.village_key)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_households_update
AFTER UPDATE OF county_key, village_key, status, exit_year, member_count, removed_year ON households
WHEN OLD.county_key IS NOT NEW.county_key OR OLD.village_key IS NOT NEW.village_key
  OR OLD.status IS NOT NEW.status OR OLD.exit_year IS NOT NEW.exit_year
  OR OLD.member_count IS NOT NEW.member_count OR OLD.removed_year IS NOT NEW.removed_year
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('households.county_key', OLD.county_key), ('households.village_key', OLD.village_key),
           ('households.county_key', NEW.county_key), ('households.village_key', NEW.village_key)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_households_delete AFTER DELETE ON households
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('households.county_key', OLD.county_key), ('households.village_key', OLD.village_key)
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER stats_dirty_projects_insert AFTER INSERT ON projects
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_projects_update AFTER UPDATE OF theme, start_date ON projects
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_projects_delete AFTER DELETE ON projects
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER stats_dirty_locations_insert AFTER INSERT ON project_locations
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('projects.id', NEW.project_id), ('project_locations.region_key', NEW.region_key)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_locations_update AFTER UPDATE ON project_locations
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('projects.id', OLD.project_id), ('project_locations.region_key', OLD.region_key),
           ('projects.id', NEW.project_id), ('project_locations.region_key', NEW.region_key)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_locations_delete AFTER DELETE ON project_locations
BEGIN
    INSERT INTO stats_dirty (kind, key)
    VALUES ('projects.id', OLD.project_id), ('project_locations.region_key', OLD.region_key)
    ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER stats_dirty_indicators_insert AFTER INSERT ON project_indicators
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.project_id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_indicators_update AFTER UPDATE ON project_indicators
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.project_id), ('projects.id', NEW.project_id)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_indicators_delete AFTER DELETE ON project_indicators
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.project_id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER stats_dirty_loans_insert AFTER INSERT ON project_loans
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.project_id) ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_loans_update AFTER UPDATE OF project_id, amount, issued_on ON project_loans
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.project_id), ('projects.id', NEW.project_id)
    ON CONFLICT DO NOTHING;
END;
CREATE TRIGGER stats_dirty_loans_delete AFTER DELETE ON project_loans
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', OLD.project_id) ON CONFLICT DO NOTHING;
END;

-- The ledger is append-only: an insert is all it takes.
CREATE TRIGGER stats_dirty_ledger_insert AFTER INSERT ON ledger_entries
WHEN NEW.invested
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('projects.id', NEW.project_id) ON CONFLICT DO NOTHING;
END;

CREATE TRIGGER stats_dirty_regions_elevation AFTER UPDATE OF elevation_m ON regions
WHEN OLD.elevation_m IS NOT NEW.elevation_m
BEGIN
    INSERT INTO stats_dirty (kind, key) VALUES ('regions.key', NEW.key) ON CONFLICT DO NOTHING;
END;
