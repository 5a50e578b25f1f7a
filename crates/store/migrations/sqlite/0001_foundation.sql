-- Foundation: regions, organisations, pairings (SQLite).
-- Region key = padded 12-digit code * 10 + level (1 province .. 5 village): unique, and a
-- subtree is one key range.
CREATE TABLE regions (
    key INTEGER PRIMARY KEY,
    code TEXT NOT NULL,
    level BIGINT NOT NULL,
    name TEXT NOT NULL,
    parent_key BIGINT,
    source_year BIGINT NOT NULL,
    retired_year BIGINT,
    area_km2 DOUBLE PRECISION,
    elevation_m BIGINT
);
CREATE INDEX regions_parent ON regions (parent_key);

CREATE TABLE region_population (
    region_key BIGINT NOT NULL REFERENCES regions (key),
    year BIGINT NOT NULL,
    rural_population BIGINT NOT NULL,
    PRIMARY KEY (region_key, year)
);

CREATE TABLE region_changes (
    id INTEGER PRIMARY KEY,
    region_key BIGINT NOT NULL,
    year BIGINT NOT NULL,
    change TEXT NOT NULL,
    old_name TEXT,
    new_name TEXT,
    recorded_at TEXT NOT NULL
);
CREATE INDEX region_changes_region ON region_changes (region_key);

CREATE TABLE organisations (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    credit_code TEXT UNIQUE,
    region_key BIGINT REFERENCES regions (key),
    shenzhen_side BOOLEAN NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX organisations_name ON organisations (name);

CREATE TABLE pairings (
    id INTEGER PRIMARY KEY,
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    region_key BIGINT NOT NULL REFERENCES regions (key),
    pairing_type TEXT NOT NULL,
    start_year BIGINT NOT NULL,
    end_year BIGINT,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX pairings_region ON pairings (region_key);
CREATE INDEX pairings_organisation ON pairings (organisation_id);

CREATE TABLE pairing_targets (
    id INTEGER PRIMARY KEY,
    pairing_id BIGINT NOT NULL REFERENCES pairings (id),
    indicator TEXT NOT NULL,
    unit TEXT NOT NULL,
    year BIGINT NOT NULL,
    target DOUBLE PRECISION NOT NULL,
    UNIQUE (pairing_id, indicator, year)
);
