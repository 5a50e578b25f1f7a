-- Dashboard (数据看板) summaries. Like 0007, every table here is kept by triggers in the same
-- transaction as the records it summarises, so the dashboard sums a few hundred rows per figure
-- instead of scanning projects, ledger entries or households, and is never stale.

-- Settings of the installation. 'demo' = 'true' marks a database filled by `bangfu demo`:
-- every page and export of it says 演示数据.
CREATE TABLE app_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Bumped by every change to a record the dashboard reads (triggers at the end of this file).
CREATE TABLE stats_version (
    id BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO stats_version (id, version) VALUES (1, 0);


-- Active members of registry households by village, poverty status and exit year: the
-- drill-down below the county (towns, villages) without scanning households.
CREATE TABLE stats_village_members (
    village_key BIGINT NOT NULL,
    status TEXT NOT NULL,
    exit_year BIGINT NOT NULL,
    households BIGINT NOT NULL,
    members BIGINT NOT NULL,
    PRIMARY KEY (village_key, status, exit_year)
);

INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
SELECT village_key, status, COALESCE(exit_year, 0), COUNT(*), COALESCE(SUM(member_count), 0)
FROM households WHERE removed_year IS NULL
GROUP BY village_key, status, COALESCE(exit_year, 0);

CREATE FUNCTION stats_village_households_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
    VALUES (NEW.village_key, NEW.status, COALESCE(NEW.exit_year, 0), 1, NEW.member_count)
    ON CONFLICT (village_key, status, exit_year) DO UPDATE
    SET households = stats_village_members.households + excluded.households,
        members = stats_village_members.members + excluded.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_village_households_insert AFTER INSERT ON households
    FOR EACH ROW
    WHEN (NEW.removed_year IS NULL) EXECUTE FUNCTION stats_village_households_insert();

CREATE FUNCTION stats_village_households_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stats_village_members
    SET households = households - 1, members = members - OLD.member_count
    WHERE OLD.removed_year IS NULL AND village_key = OLD.village_key AND status = OLD.status
      AND exit_year = COALESCE(OLD.exit_year, 0);
    INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
    SELECT NEW.village_key, NEW.status, COALESCE(NEW.exit_year, 0), 1, NEW.member_count
    WHERE NEW.removed_year IS NULL
    ON CONFLICT (village_key, status, exit_year) DO UPDATE
    SET households = stats_village_members.households + excluded.households,
        members = stats_village_members.members + excluded.members;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_village_households_update AFTER UPDATE OF village_key, status, exit_year, member_count, removed_year ON households
    FOR EACH ROW EXECUTE FUNCTION stats_village_households_update();

CREATE FUNCTION stats_village_households_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stats_village_members
    SET households = households - 1, members = members - OLD.member_count
    WHERE village_key = OLD.village_key AND status = OLD.status AND exit_year = COALESCE(OLD.exit_year, 0);
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_village_households_delete AFTER DELETE ON households
    FOR EACH ROW
    WHEN (OLD.removed_year IS NULL) EXECUTE FUNCTION stats_village_households_delete();


-- Every region a project counts in: the root (0) and each distinct ancestor (province,
-- prefecture, county, town, village) of each of its locations. A project counts once in a region
-- however many of its locations lie inside, exactly like the overview's
-- "a location in the region". Kept by the triggers on projects and project_locations.
CREATE TABLE stats_project_regions (
    project_id BIGINT NOT NULL,
    region_key BIGINT NOT NULL,
    PRIMARY KEY (project_id, region_key)
);
CREATE INDEX stats_project_regions_region ON stats_project_regions (region_key);

-- Projects by region (as above), theme and start year.
CREATE TABLE stats_projects (
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    year BIGINT NOT NULL,
    projects BIGINT NOT NULL,
    PRIMARY KEY (region_key, theme, year)
);

-- Theme indicators (project_indicators, summed whole into every region of the project) by
-- region, theme, indicator and year; microloans as 'loans' (count) and 'loan_amount' (fen) by
-- year issued.
CREATE TABLE stats_indicators (
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    indicator TEXT NOT NULL,
    year BIGINT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (region_key, theme, indicator, year)
);

-- Invested funds (stats_invested) split over each project's locations by largest remainder per
-- (project, year, source, provider, receiver), exactly as the invested-funds report splits them,
-- and rolled up to every ancestor of the location and the root (0).
CREATE TABLE stats_funds (
    region_key BIGINT NOT NULL,
    theme TEXT NOT NULL,
    year BIGINT NOT NULL,
    fund_source TEXT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (region_key, theme, year, fund_source)
);

-- Elevation range of project sites and their counties, by the site's county (or the site itself
-- above county level) and the project's start year (高度).
CREATE TABLE stats_sites (
    county_key BIGINT NOT NULL,
    year BIGINT NOT NULL,
    elevation_min BIGINT,
    elevation_max BIGINT,
    PRIMARY KEY (county_key, year)
);

-- Region levels for rolling a key up to its ancestors: key = padded * 10 + level, and the
-- ancestor at level lv is (padded / pad * pad) * 10 + lv (lv 0 is the root, key 0).
CREATE TABLE stats_levels (
    lv BIGINT PRIMARY KEY,
    pad BIGINT NOT NULL
);
INSERT INTO stats_levels (lv, pad) VALUES (0, 1000000000000), (1, 10000000000), (2, 100000000), (3, 1000000), (4, 1000), (5, 1);

-- Existing records.
INSERT INTO stats_project_regions (project_id, region_key) SELECT id, 0 FROM projects;
INSERT INTO stats_project_regions (project_id, region_key)
SELECT DISTINCT l.project_id, (l.region_key / 10 / s.pad * s.pad) * 10 + s.lv
FROM project_locations l JOIN stats_levels s ON s.lv BETWEEN 1 AND l.region_key % 10
WHERE true
ON CONFLICT DO NOTHING;
INSERT INTO stats_projects (region_key, theme, year, projects)
SELECT r.region_key, p.theme, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), COUNT(*)
FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
GROUP BY r.region_key, p.theme, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT);
INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
SELECT r.region_key, p.theme, i.indicator, i.year, SUM(i.value)
FROM stats_project_regions r JOIN projects p ON p.id = r.project_id JOIN project_indicators i ON i.project_id = p.id
GROUP BY r.region_key, p.theme, i.indicator, i.year;
INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
SELECT r.region_key, p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT), SUM(CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END)
FROM stats_project_regions r JOIN projects p ON p.id = r.project_id JOIN project_loans o ON o.project_id = p.id
JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
GROUP BY r.region_key, p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT);
    DELETE FROM stats_sites WHERE county_key IN (SELECT ck FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations) AS z) AND true;
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT u.ck, u.y, MIN(u.e), MAX(u.e) FROM (
        SELECT cs.ck AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
        FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions r ON r.key = l.region_key
        WHERE true
        UNION ALL
        SELECT cs.ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
        FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions c ON c.key = cs.ck
        WHERE true
    ) u WHERE true GROUP BY u.ck, u.y
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = excluded.elevation_min, elevation_max = excluded.elevation_max;


INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, x.theme, x.year, x.fund_source, SUM(x.part)
FROM (SELECT q.theme, q.region_key, q.year, q.fund_source,
             (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
             * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
      FROM (SELECT p.theme, g.year, g.fund_source, g.amount, l.region_key,
                   ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                   ROW_NUMBER() OVER (PARTITION BY g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id
                       ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                   SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END))
                       OVER (PARTITION BY g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
            FROM stats_invested g
            JOIN projects p ON p.id = g.project_id
            JOIN project_locations l ON l.project_id = g.project_id
            JOIN (SELECT project_id, CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations GROUP BY project_id) t
              ON t.project_id = g.project_id) q) x
JOIN stats_levels s ON s.lv <= x.region_key % 10
GROUP BY 1, 2, 3, 4;


CREATE FUNCTION stats_dash_projects_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_project_regions (project_id, region_key) VALUES (NEW.id, 0) ON CONFLICT DO NOTHING;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_projects_insert AFTER INSERT ON projects
    FOR EACH ROW EXECUTE FUNCTION stats_dash_projects_insert();

CREATE FUNCTION stats_dash_projects_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_project_regions WHERE project_id = OLD.id;
    RETURN OLD;
END;
$$;
CREATE TRIGGER stats_dash_projects_delete BEFORE DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION stats_dash_projects_delete();

CREATE FUNCTION stats_dash_project_regions_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_projects (region_key, theme, year, projects)
    SELECT NEW.region_key, p.theme, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), 1 FROM projects p WHERE p.id = NEW.project_id
    ON CONFLICT (region_key, theme, year) DO UPDATE SET projects = stats_projects.projects + excluded.projects;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT NEW.region_key, p.theme, i.indicator, i.year, SUM(i.value)
    FROM project_indicators i JOIN projects p ON p.id = i.project_id
    WHERE i.project_id = NEW.project_id
    GROUP BY p.theme, i.indicator, i.year
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT NEW.region_key, p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT), SUM(CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END)
    FROM project_loans o JOIN projects p ON p.id = o.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE o.project_id = NEW.project_id
    GROUP BY p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT)
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_project_regions_insert AFTER INSERT ON stats_project_regions
    FOR EACH ROW EXECUTE FUNCTION stats_dash_project_regions_insert();

CREATE FUNCTION stats_dash_project_regions_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_projects (region_key, theme, year, projects)
    SELECT OLD.region_key, p.theme, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), -1 FROM projects p WHERE p.id = OLD.project_id
    ON CONFLICT (region_key, theme, year) DO UPDATE SET projects = stats_projects.projects + excluded.projects;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT OLD.region_key, p.theme, i.indicator, i.year, -SUM(i.value)
    FROM project_indicators i JOIN projects p ON p.id = i.project_id
    WHERE i.project_id = OLD.project_id
    GROUP BY p.theme, i.indicator, i.year
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT OLD.region_key, p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT), -SUM(CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END)
    FROM project_loans o JOIN projects p ON p.id = o.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE o.project_id = OLD.project_id
    GROUP BY p.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT)
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_project_regions_delete AFTER DELETE ON stats_project_regions
    FOR EACH ROW EXECUTE FUNCTION stats_dash_project_regions_delete();

-- A changed theme or start year moves the project's counts, indicators, money and sites.
CREATE FUNCTION stats_dash_projects_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_projects (region_key, theme, year, projects)
    SELECT region_key, OLD.theme, CAST(SUBSTR(OLD.start_date, 1, 4) AS BIGINT), -1 FROM stats_project_regions WHERE project_id = NEW.id
    ON CONFLICT (region_key, theme, year) DO UPDATE SET projects = stats_projects.projects + excluded.projects;
    INSERT INTO stats_projects (region_key, theme, year, projects)
    SELECT region_key, NEW.theme, CAST(SUBSTR(NEW.start_date, 1, 4) AS BIGINT), 1 FROM stats_project_regions WHERE project_id = NEW.id
    ON CONFLICT (region_key, theme, year) DO UPDATE SET projects = stats_projects.projects + excluded.projects;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT region_key, theme, indicator, year, SUM(value) FROM (
        SELECT r.region_key, OLD.theme AS theme, i.indicator, i.year, -i.value AS value
        FROM stats_project_regions r JOIN project_indicators i ON i.project_id = r.project_id WHERE r.project_id = NEW.id
        UNION ALL
        SELECT r.region_key, NEW.theme, i.indicator, i.year, i.value
        FROM stats_project_regions r JOIN project_indicators i ON i.project_id = r.project_id WHERE r.project_id = NEW.id
        UNION ALL
        SELECT r.region_key, OLD.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT), -(CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END)
        FROM stats_project_regions r JOIN project_loans o ON o.project_id = r.project_id
        JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true WHERE r.project_id = NEW.id
        UNION ALL
        SELECT r.region_key, NEW.theme, k.indicator, CAST(SUBSTR(o.issued_on, 1, 4) AS BIGINT), (CASE WHEN k.indicator = 'loans' THEN 1 ELSE o.amount END)
        FROM stats_project_regions r JOIN project_loans o ON o.project_id = r.project_id
        JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true WHERE r.project_id = NEW.id
    ) AS z WHERE true GROUP BY region_key, theme, indicator, year
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, OLD.theme, x.year, x.fund_source, -SUM(x.part)
    FROM (SELECT q.region_key, q.year, q.fund_source,
               (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
               * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
        FROM (SELECT g.year, g.fund_source, g.amount, l.region_key,
                     ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                     ROW_NUMBER() OVER (PARTITION BY g.year, g.fund_source, g.provider_id, g.receiver_id ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                     SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END)) OVER (PARTITION BY g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
              FROM (SELECT year, fund_source, provider_id, receiver_id, amount FROM stats_invested WHERE project_id = NEW.id) g
              JOIN project_locations l ON l.project_id = NEW.id
              JOIN (SELECT CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations WHERE project_id = NEW.id) t ON true) q) x
    JOIN stats_levels s ON s.lv <= x.region_key % 10
    WHERE true
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, NEW.theme, x.year, x.fund_source, SUM(x.part)
    FROM (SELECT q.region_key, q.year, q.fund_source,
               (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
               * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
        FROM (SELECT g.year, g.fund_source, g.amount, l.region_key,
                     ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                     ROW_NUMBER() OVER (PARTITION BY g.year, g.fund_source, g.provider_id, g.receiver_id ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                     SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END)) OVER (PARTITION BY g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
              FROM (SELECT year, fund_source, provider_id, receiver_id, amount FROM stats_invested WHERE project_id = NEW.id) g
              JOIN project_locations l ON l.project_id = NEW.id
              JOIN (SELECT CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations WHERE project_id = NEW.id) t ON true) q) x
    JOIN stats_levels s ON s.lv <= x.region_key % 10
    WHERE true
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    DELETE FROM stats_sites WHERE county_key IN (SELECT ck FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations WHERE project_id = NEW.id) AS z) AND year IN (CAST(SUBSTR(OLD.start_date, 1, 4) AS BIGINT), CAST(SUBSTR(NEW.start_date, 1, 4) AS BIGINT));
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT u.ck, u.y, MIN(u.e), MAX(u.e) FROM (
        SELECT cs.ck AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
        FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations WHERE project_id = NEW.id) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions r ON r.key = l.region_key
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) IN (CAST(SUBSTR(OLD.start_date, 1, 4) AS BIGINT), CAST(SUBSTR(NEW.start_date, 1, 4) AS BIGINT))
        UNION ALL
        SELECT cs.ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
        FROM (SELECT DISTINCT (CASE WHEN region_key % 10 >= 3 THEN (region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE region_key END) AS ck FROM project_locations WHERE project_id = NEW.id) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions c ON c.key = cs.ck
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) IN (CAST(SUBSTR(OLD.start_date, 1, 4) AS BIGINT), CAST(SUBSTR(NEW.start_date, 1, 4) AS BIGINT))
    ) u WHERE true GROUP BY u.ck, u.y
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = excluded.elevation_min, elevation_max = excluded.elevation_max;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_projects_update AFTER UPDATE OF theme, start_date ON projects
    FOR EACH ROW
    WHEN (OLD.theme IS DISTINCT FROM NEW.theme OR CAST(SUBSTR(OLD.start_date, 1, 4) AS BIGINT) IS DISTINCT FROM CAST(SUBSTR(NEW.start_date, 1, 4) AS BIGINT)) EXECUTE FUNCTION stats_dash_projects_update();

-- Locations: the regions a project counts in, the split of its money, its sites. The money of
-- the project is taken out with the old locations before the change and put back after it
-- (on PostgreSQL, where row triggers AFTER a statement run only at its end, by statement
-- triggers that see the rows before and after the statement instead).

CREATE FUNCTION stats_dash_locations_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_project_regions (project_id, region_key)
    SELECT NEW.project_id, (NEW.region_key / 10 / pad * pad) * 10 + lv FROM stats_levels WHERE lv <= NEW.region_key % 10
    ON CONFLICT DO NOTHING;
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT (CASE WHEN NEW.region_key % 10 >= 3 THEN (NEW.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.region_key END), CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), e.mn, e.mx
    FROM projects p
    JOIN (SELECT MIN(elevation_m) AS mn, MAX(elevation_m) AS mx FROM regions WHERE key IN (NEW.region_key, (CASE WHEN NEW.region_key % 10 >= 3 THEN (NEW.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.region_key END))) e ON true
    WHERE p.id = NEW.project_id
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = LEAST(COALESCE(stats_sites.elevation_min, excluded.elevation_min), COALESCE(excluded.elevation_min, stats_sites.elevation_min)),
        elevation_max = GREATEST(COALESCE(stats_sites.elevation_max, excluded.elevation_max), COALESCE(excluded.elevation_max, stats_sites.elevation_max));
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_insert AFTER INSERT ON project_locations
    FOR EACH ROW EXECUTE FUNCTION stats_dash_locations_insert();


CREATE FUNCTION stats_dash_locations_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_project_regions WHERE project_id = OLD.project_id AND region_key IN (
        SELECT (OLD.region_key / 10 / s.pad * s.pad) * 10 + s.lv FROM stats_levels s
        WHERE s.lv BETWEEN 1 AND OLD.region_key % 10
          AND NOT EXISTS (SELECT 1 FROM project_locations l WHERE l.project_id = OLD.project_id
                AND l.region_key >= (OLD.region_key / 10 / s.pad * s.pad) * 10 + s.lv
                AND l.region_key < (OLD.region_key / 10 / s.pad * s.pad + s.pad) * 10));
    DELETE FROM stats_sites WHERE county_key IN (SELECT ck FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck) AS z) AND year = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = OLD.project_id);
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT u.ck, u.y, MIN(u.e), MAX(u.e) FROM (
        SELECT cs.ck AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
        FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions r ON r.key = l.region_key
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = OLD.project_id)
        UNION ALL
        SELECT cs.ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
        FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions c ON c.key = cs.ck
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = OLD.project_id)
    ) u WHERE true GROUP BY u.ck, u.y
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = excluded.elevation_min, elevation_max = excluded.elevation_max;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_delete AFTER DELETE ON project_locations
    FOR EACH ROW EXECUTE FUNCTION stats_dash_locations_delete();


CREATE FUNCTION stats_dash_locations_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_project_regions WHERE project_id = OLD.project_id AND region_key IN (
        SELECT (OLD.region_key / 10 / s.pad * s.pad) * 10 + s.lv FROM stats_levels s
        WHERE s.lv BETWEEN 1 AND OLD.region_key % 10
          AND NOT EXISTS (SELECT 1 FROM project_locations l WHERE l.project_id = OLD.project_id
                AND l.region_key >= (OLD.region_key / 10 / s.pad * s.pad) * 10 + s.lv
                AND l.region_key < (OLD.region_key / 10 / s.pad * s.pad + s.pad) * 10));
    INSERT INTO stats_project_regions (project_id, region_key)
    SELECT NEW.project_id, (NEW.region_key / 10 / pad * pad) * 10 + lv FROM stats_levels WHERE lv <= NEW.region_key % 10
    ON CONFLICT DO NOTHING;
    DELETE FROM stats_sites WHERE county_key IN (SELECT ck FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck UNION SELECT (CASE WHEN NEW.region_key % 10 >= 3 THEN (NEW.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.region_key END)) AS z) AND year = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = NEW.project_id);
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT u.ck, u.y, MIN(u.e), MAX(u.e) FROM (
        SELECT cs.ck AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
        FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck UNION SELECT (CASE WHEN NEW.region_key % 10 >= 3 THEN (NEW.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.region_key END)) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions r ON r.key = l.region_key
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = NEW.project_id)
        UNION ALL
        SELECT cs.ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
        FROM (SELECT (CASE WHEN OLD.region_key % 10 >= 3 THEN (OLD.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE OLD.region_key END) AS ck UNION SELECT (CASE WHEN NEW.region_key % 10 >= 3 THEN (NEW.region_key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.region_key END)) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions c ON c.key = cs.ck
        WHERE CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) = (SELECT CAST(SUBSTR(start_date, 1, 4) AS BIGINT) FROM projects WHERE id = NEW.project_id)
    ) u WHERE true GROUP BY u.ck, u.y
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = excluded.elevation_min, elevation_max = excluded.elevation_max;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_update AFTER UPDATE ON project_locations
    FOR EACH ROW EXECUTE FUNCTION stats_dash_locations_update();

-- Money over changed locations, once per statement: split over the project's locations as they
-- were before the statement (taken out) and as they are after it (put back).
CREATE FUNCTION stats_dash_locations_funds_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta_old AS (SELECT project_id, region_key, weight, position FROM project_locations WHERE false),
    delta_new AS (SELECT project_id, region_key FROM new_rows),
    affected AS (SELECT project_id FROM delta_old UNION SELECT project_id FROM delta_new),
    after_l AS (SELECT l.project_id, l.region_key, l.weight, l.position FROM project_locations l
                WHERE l.project_id IN (SELECT project_id FROM affected)),
    before_l AS (SELECT a.project_id, a.region_key, a.weight, a.position FROM after_l a
                 WHERE NOT EXISTS (SELECT 1 FROM delta_new n WHERE n.project_id = a.project_id AND n.region_key = a.region_key)
                 UNION ALL SELECT project_id, region_key, weight, position FROM delta_old),
    sets AS (SELECT -1 AS sign, project_id, region_key, weight, position FROM before_l
             UNION ALL SELECT 1, project_id, region_key, weight, position FROM after_l),
    t AS (SELECT sign, project_id, CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM sets GROUP BY sign, project_id),
    q AS (SELECT st.sign, g.project_id, g.year, g.fund_source, g.amount, st.region_key,
                 ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                 ROW_NUMBER() OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id
                     ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, st.position) AS rn,
                 SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END))
                     OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
          FROM stats_invested g
          JOIN sets st ON st.project_id = g.project_id
          JOIN t ON t.sign = st.sign AND t.project_id = st.project_id),
    parts AS (SELECT project_id, region_key, year, fund_source,
                     sign * (CASE WHEN amount < 0 THEN -1 ELSE 1 END) * (base + CASE WHEN rn <= ABS(amount) - allocated THEN 1 ELSE 0 END) AS part
              FROM q)
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, p.theme, x.year, x.fund_source, SUM(x.part)
    FROM parts x JOIN projects p ON p.id = x.project_id JOIN stats_levels s ON s.lv <= x.region_key % 10
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_funds_insert AFTER INSERT ON project_locations
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dash_locations_funds_insert();
CREATE FUNCTION stats_dash_locations_funds_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta_old AS (SELECT project_id, region_key, weight, position FROM old_rows),
    delta_new AS (SELECT project_id, region_key FROM project_locations WHERE false),
    affected AS (SELECT project_id FROM delta_old UNION SELECT project_id FROM delta_new),
    after_l AS (SELECT l.project_id, l.region_key, l.weight, l.position FROM project_locations l
                WHERE l.project_id IN (SELECT project_id FROM affected)),
    before_l AS (SELECT a.project_id, a.region_key, a.weight, a.position FROM after_l a
                 WHERE NOT EXISTS (SELECT 1 FROM delta_new n WHERE n.project_id = a.project_id AND n.region_key = a.region_key)
                 UNION ALL SELECT project_id, region_key, weight, position FROM delta_old),
    sets AS (SELECT -1 AS sign, project_id, region_key, weight, position FROM before_l
             UNION ALL SELECT 1, project_id, region_key, weight, position FROM after_l),
    t AS (SELECT sign, project_id, CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM sets GROUP BY sign, project_id),
    q AS (SELECT st.sign, g.project_id, g.year, g.fund_source, g.amount, st.region_key,
                 ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                 ROW_NUMBER() OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id
                     ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, st.position) AS rn,
                 SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END))
                     OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
          FROM stats_invested g
          JOIN sets st ON st.project_id = g.project_id
          JOIN t ON t.sign = st.sign AND t.project_id = st.project_id),
    parts AS (SELECT project_id, region_key, year, fund_source,
                     sign * (CASE WHEN amount < 0 THEN -1 ELSE 1 END) * (base + CASE WHEN rn <= ABS(amount) - allocated THEN 1 ELSE 0 END) AS part
              FROM q)
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, p.theme, x.year, x.fund_source, SUM(x.part)
    FROM parts x JOIN projects p ON p.id = x.project_id JOIN stats_levels s ON s.lv <= x.region_key % 10
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_funds_delete AFTER DELETE ON project_locations
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dash_locations_funds_delete();
CREATE FUNCTION stats_dash_locations_funds_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH delta_old AS (SELECT project_id, region_key, weight, position FROM old_rows),
    delta_new AS (SELECT project_id, region_key FROM new_rows),
    affected AS (SELECT project_id FROM delta_old UNION SELECT project_id FROM delta_new),
    after_l AS (SELECT l.project_id, l.region_key, l.weight, l.position FROM project_locations l
                WHERE l.project_id IN (SELECT project_id FROM affected)),
    before_l AS (SELECT a.project_id, a.region_key, a.weight, a.position FROM after_l a
                 WHERE NOT EXISTS (SELECT 1 FROM delta_new n WHERE n.project_id = a.project_id AND n.region_key = a.region_key)
                 UNION ALL SELECT project_id, region_key, weight, position FROM delta_old),
    sets AS (SELECT -1 AS sign, project_id, region_key, weight, position FROM before_l
             UNION ALL SELECT 1, project_id, region_key, weight, position FROM after_l),
    t AS (SELECT sign, project_id, CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM sets GROUP BY sign, project_id),
    q AS (SELECT st.sign, g.project_id, g.year, g.fund_source, g.amount, st.region_key,
                 ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                 ROW_NUMBER() OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id
                     ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, st.position) AS rn,
                 SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(st.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END))
                     OVER (PARTITION BY st.sign, g.project_id, g.year, g.fund_source, g.provider_id, g.receiver_id) AS allocated
          FROM stats_invested g
          JOIN sets st ON st.project_id = g.project_id
          JOIN t ON t.sign = st.sign AND t.project_id = st.project_id),
    parts AS (SELECT project_id, region_key, year, fund_source,
                     sign * (CASE WHEN amount < 0 THEN -1 ELSE 1 END) * (base + CASE WHEN rn <= ABS(amount) - allocated THEN 1 ELSE 0 END) AS part
              FROM q)
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, p.theme, x.year, x.fund_source, SUM(x.part)
    FROM parts x JOIN projects p ON p.id = x.project_id JOIN stats_levels s ON s.lv <= x.region_key % 10
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_locations_funds_update AFTER UPDATE ON project_locations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_dash_locations_funds_update();

-- Indicators and microloans into every region their project counts in.
CREATE FUNCTION stats_dash_indicators_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, NEW.indicator, NEW.year, NEW.value
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    WHERE r.project_id = NEW.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_indicators_insert AFTER INSERT ON project_indicators
    FOR EACH ROW EXECUTE FUNCTION stats_dash_indicators_insert();
CREATE FUNCTION stats_dash_indicators_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, OLD.indicator, OLD.year, -OLD.value
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    WHERE r.project_id = OLD.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_indicators_delete AFTER DELETE ON project_indicators
    FOR EACH ROW EXECUTE FUNCTION stats_dash_indicators_delete();
CREATE FUNCTION stats_dash_indicators_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, OLD.indicator, OLD.year, -OLD.value
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    WHERE r.project_id = OLD.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, NEW.indicator, NEW.year, NEW.value
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    WHERE r.project_id = NEW.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_indicators_update AFTER UPDATE ON project_indicators
    FOR EACH ROW EXECUTE FUNCTION stats_dash_indicators_update();
CREATE FUNCTION stats_dash_loans_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, k.indicator, CAST(SUBSTR(NEW.issued_on, 1, 4) AS BIGINT), (CASE WHEN k.indicator = 'loans' THEN 1 ELSE NEW.amount END)
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE r.project_id = NEW.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_loans_insert AFTER INSERT ON project_loans
    FOR EACH ROW EXECUTE FUNCTION stats_dash_loans_insert();
CREATE FUNCTION stats_dash_loans_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, k.indicator, CAST(SUBSTR(OLD.issued_on, 1, 4) AS BIGINT), -(CASE WHEN k.indicator = 'loans' THEN 1 ELSE OLD.amount END)
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE r.project_id = OLD.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_loans_delete AFTER DELETE ON project_loans
    FOR EACH ROW EXECUTE FUNCTION stats_dash_loans_delete();
CREATE FUNCTION stats_dash_loans_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, k.indicator, CAST(SUBSTR(OLD.issued_on, 1, 4) AS BIGINT), -(CASE WHEN k.indicator = 'loans' THEN 1 ELSE OLD.amount END)
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE r.project_id = OLD.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    INSERT INTO stats_indicators (region_key, theme, indicator, year, value)
    SELECT r.region_key, p.theme, k.indicator, CAST(SUBSTR(NEW.issued_on, 1, 4) AS BIGINT), (CASE WHEN k.indicator = 'loans' THEN 1 ELSE NEW.amount END)
    FROM stats_project_regions r JOIN projects p ON p.id = r.project_id
    JOIN (SELECT 'loans' AS indicator UNION ALL SELECT 'loan_amount') k ON true
    WHERE r.project_id = NEW.project_id
    ON CONFLICT (region_key, theme, indicator, year) DO UPDATE SET value = stats_indicators.value + excluded.value;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_loans_update AFTER UPDATE OF project_id, amount, issued_on ON project_loans
    FOR EACH ROW EXECUTE FUNCTION stats_dash_loans_update();

-- Money: a group of stats_invested (kept by 0007's ledger trigger) split over the locations.
CREATE FUNCTION stats_dash_invested_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, (SELECT theme FROM projects WHERE id = NEW.project_id), x.year, x.fund_source, SUM(x.part)
    FROM (SELECT q.region_key, q.year, q.fund_source,
               (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
               * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
        FROM (SELECT g.year, g.fund_source, g.amount, l.region_key,
                     ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                     ROW_NUMBER() OVER (PARTITION BY g.year ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                     SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END)) OVER (PARTITION BY g.year) AS allocated
              FROM (SELECT NEW.year AS year, NEW.fund_source AS fund_source, NEW.amount AS amount) g
              JOIN project_locations l ON l.project_id = NEW.project_id
              JOIN (SELECT CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations WHERE project_id = NEW.project_id) t ON true) q) x
    JOIN stats_levels s ON s.lv <= x.region_key % 10
    WHERE true
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_invested_insert AFTER INSERT ON stats_invested
    FOR EACH ROW EXECUTE FUNCTION stats_dash_invested_insert();
CREATE FUNCTION stats_dash_invested_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, (SELECT theme FROM projects WHERE id = OLD.project_id), x.year, x.fund_source, -SUM(x.part)
    FROM (SELECT q.region_key, q.year, q.fund_source,
               (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
               * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
        FROM (SELECT g.year, g.fund_source, g.amount, l.region_key,
                     ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                     ROW_NUMBER() OVER (PARTITION BY g.year ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                     SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END)) OVER (PARTITION BY g.year) AS allocated
              FROM (SELECT OLD.year AS year, OLD.fund_source AS fund_source, OLD.amount AS amount) g
              JOIN project_locations l ON l.project_id = OLD.project_id
              JOIN (SELECT CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations WHERE project_id = OLD.project_id) t ON true) q) x
    JOIN stats_levels s ON s.lv <= x.region_key % 10
    WHERE true
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    INSERT INTO stats_funds (region_key, theme, year, fund_source, amount)
    SELECT (x.region_key / 10 / s.pad * s.pad) * 10 + s.lv, (SELECT theme FROM projects WHERE id = NEW.project_id), x.year, x.fund_source, SUM(x.part)
    FROM (SELECT q.region_key, q.year, q.fund_source,
               (CASE WHEN q.amount < 0 THEN -1 ELSE 1 END)
               * (q.base + CASE WHEN q.rn <= ABS(q.amount) - q.allocated THEN 1 ELSE 0 END) AS part
        FROM (SELECT g.year, g.fund_source, g.amount, l.region_key,
                     ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) AS base,
                     ROW_NUMBER() OVER (PARTITION BY g.year ORDER BY ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) % (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END) DESC, l.position) AS rn,
                     SUM(ABS(g.amount) * (CASE WHEN t.wsum = 0 THEN 1 ELSE GREATEST(l.weight, 0) END) / (CASE WHEN t.wsum = 0 THEN t.n ELSE t.wsum END)) OVER (PARTITION BY g.year) AS allocated
              FROM (SELECT NEW.year AS year, NEW.fund_source AS fund_source, NEW.amount AS amount) g
              JOIN project_locations l ON l.project_id = NEW.project_id
              JOIN (SELECT CAST(SUM(GREATEST(weight, 0)) AS BIGINT) AS wsum, COUNT(*) AS n FROM project_locations WHERE project_id = NEW.project_id) t ON true) q) x
    JOIN stats_levels s ON s.lv <= x.region_key % 10
    WHERE true
    GROUP BY 1, 2, 3, 4
    ON CONFLICT (region_key, theme, year, fund_source) DO UPDATE SET amount = stats_funds.amount + excluded.amount;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_invested_update AFTER UPDATE ON stats_invested
    FOR EACH ROW EXECUTE FUNCTION stats_dash_invested_update();

-- Elevation: a first value widens the range; a changed one recomputes the county's rows.
CREATE FUNCTION stats_dash_regions_elevation_first() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stats_sites
    SET elevation_min = LEAST(COALESCE(elevation_min, NEW.elevation_m), NEW.elevation_m),
        elevation_max = GREATEST(COALESCE(elevation_max, NEW.elevation_m), NEW.elevation_m)
    WHERE county_key = (CASE WHEN NEW.key % 10 >= 3 THEN (NEW.key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.key END)
      AND (NEW.key = (CASE WHEN NEW.key % 10 >= 3 THEN (NEW.key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.key END) OR year IN (
          SELECT CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) FROM project_locations l JOIN projects p ON p.id = l.project_id WHERE l.region_key = NEW.key));
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_regions_elevation_first AFTER UPDATE OF elevation_m ON regions
    FOR EACH ROW
    WHEN (OLD.elevation_m IS NULL AND NEW.elevation_m IS NOT NULL) EXECUTE FUNCTION stats_dash_regions_elevation_first();

CREATE FUNCTION stats_dash_regions_elevation_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM stats_sites WHERE county_key IN (SELECT ck FROM (SELECT (CASE WHEN NEW.key % 10 >= 3 THEN (NEW.key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.key END) AS ck) AS z) AND true;
    INSERT INTO stats_sites (county_key, year, elevation_min, elevation_max)
    SELECT u.ck, u.y, MIN(u.e), MAX(u.e) FROM (
        SELECT cs.ck AS ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT) AS y, r.elevation_m AS e
        FROM (SELECT (CASE WHEN NEW.key % 10 >= 3 THEN (NEW.key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.key END) AS ck) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions r ON r.key = l.region_key
        WHERE true
        UNION ALL
        SELECT cs.ck, CAST(SUBSTR(p.start_date, 1, 4) AS BIGINT), c.elevation_m
        FROM (SELECT (CASE WHEN NEW.key % 10 >= 3 THEN (NEW.key / 10 / 1000000 * 1000000) * 10 + 3 ELSE NEW.key END) AS ck) cs
        JOIN project_locations l ON l.region_key >= cs.ck AND l.region_key < (CASE WHEN cs.ck % 10 = 3 THEN (cs.ck / 10 + 1000000) * 10 ELSE cs.ck + 1 END)
        JOIN projects p ON p.id = l.project_id
        JOIN regions c ON c.key = cs.ck
        WHERE true
    ) u WHERE true GROUP BY u.ck, u.y
    ON CONFLICT (county_key, year) DO UPDATE
    SET elevation_min = excluded.elevation_min, elevation_max = excluded.elevation_max;
    RETURN NULL;
END;
$$;
CREATE TRIGGER stats_dash_regions_elevation_changed AFTER UPDATE OF elevation_m ON regions
    FOR EACH ROW
    WHEN (OLD.elevation_m IS NOT NULL AND OLD.elevation_m IS DISTINCT FROM NEW.elevation_m) EXECUTE FUNCTION stats_dash_regions_elevation_changed();


-- Every change to a record the dashboard reads bumps stats_version in the same transaction, so
-- On PostgreSQL the version is bumped by deferred constraint triggers, once per transaction at
-- commit: the single version row is locked only for the instant of the commit, so concurrent
-- writers do not queue behind a long import.
CREATE FUNCTION stats_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('bangfu.stats_bumped', true) IS DISTINCT FROM 'y' THEN
        UPDATE stats_version SET version = version + 1 WHERE id = 1;
        PERFORM set_config('bangfu.stats_bumped', 'y', true);
    END IF;
    RETURN NULL;
END;
$$;
-- the server may keep computed figures for as long as the version is unchanged (see
-- store::stats): an import from the command line while the server runs shows at once.
CREATE CONSTRAINT TRIGGER stats_version_households_insert AFTER INSERT ON households
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_households_update AFTER UPDATE OF county_key, village_key, status, exit_year, member_count, removed_year ON households
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_households_delete AFTER DELETE ON households
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_ledger_entries_insert AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_projects_insert AFTER INSERT ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_projects_update AFTER UPDATE OF theme, start_date ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_projects_delete AFTER DELETE ON projects
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_locations_insert AFTER INSERT ON project_locations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_locations_update AFTER UPDATE ON project_locations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_locations_delete AFTER DELETE ON project_locations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_indicators_insert AFTER INSERT ON project_indicators
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_indicators_update AFTER UPDATE ON project_indicators
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_indicators_delete AFTER DELETE ON project_indicators
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_loans_insert AFTER INSERT ON project_loans
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_loans_update AFTER UPDATE ON project_loans
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_project_loans_delete AFTER DELETE ON project_loans
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairings_insert AFTER INSERT ON pairings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairings_update AFTER UPDATE ON pairings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairings_delete AFTER DELETE ON pairings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairing_targets_insert AFTER INSERT ON pairing_targets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairing_targets_update AFTER UPDATE ON pairing_targets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_pairing_targets_delete AFTER DELETE ON pairing_targets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_organisations_insert AFTER INSERT ON organisations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_organisations_update AFTER UPDATE OF name, shenzhen_side ON organisations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_organisations_delete AFTER DELETE ON organisations
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_regions_update AFTER UPDATE OF name, area_km2, elevation_m, retired_year ON regions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_app_settings_insert AFTER INSERT ON app_settings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_app_settings_update AFTER UPDATE ON app_settings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
CREATE CONSTRAINT TRIGGER stats_version_app_settings_delete AFTER DELETE ON app_settings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION stats_version_bump();
