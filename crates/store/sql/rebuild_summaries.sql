-- Recomputes every dashboard summary (0007, 0008; 0009 changed only how PostgreSQL keeps the
-- household ones) from the records, as the migrations did for the records that existed when
-- they ran. Only valid while the per-row `stats_` triggers are
-- suspended (the demo loader drops or disables them, loads, runs this, and restores them): with
-- the triggers live, inserting into stats_project_regions or stats_invested would count twice.
-- The integration tests compare it with the trigger-kept tables row for row (store::summaries).
-- Written for PostgreSQL; SQLite runs it with its two-argument MAX(a, b) for GREATEST(a, b).

DELETE FROM stats_household_members;
DELETE FROM stats_village_members;
DELETE FROM stats_invested;
DELETE FROM stats_project_regions;
DELETE FROM stats_projects;
DELETE FROM stats_indicators;
DELETE FROM stats_sites;
DELETE FROM stats_funds;

INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
SELECT county_key, status, COALESCE(exit_year, 0), COUNT(*), COALESCE(SUM(member_count), 0)
FROM households WHERE removed_year IS NULL
GROUP BY county_key, status, COALESCE(exit_year, 0);
INSERT INTO stats_village_members (village_key, status, exit_year, households, members)
SELECT village_key, status, COALESCE(exit_year, 0), COUNT(*), COALESCE(SUM(member_count), 0)
FROM households WHERE removed_year IS NULL
GROUP BY village_key, status, COALESCE(exit_year, 0);
INSERT INTO stats_invested (project_id, year, fund_source, provider_id, receiver_id, amount)
SELECT project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT), fund_source, provider_id, receiver_id, SUM(amount)
FROM ledger_entries WHERE invested
GROUP BY project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT), fund_source, provider_id, receiver_id;
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

UPDATE stats_version SET version = version + 1 WHERE id = 1;
