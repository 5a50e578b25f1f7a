-- Household registry (建档立卡). Current values live on households/members for fast lists;
-- history (status, cadres, measures, events) is appended, never overwritten.

-- Code tables as versioned data (seeded from the shipped tables; administrators add values).
CREATE TABLE code_values (
    table_name TEXT NOT NULL,
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    aliases TEXT NOT NULL DEFAULT '',
    valid_from BIGINT,
    PRIMARY KEY (table_name, code)
);

-- One row per import run (file hash, counts, who); records it changed carry its id.
CREATE TABLE import_batches (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL,
    started_at TEXT NOT NULL,
    rows BIGINT NOT NULL DEFAULT 0,
    households_added BIGINT NOT NULL DEFAULT 0,
    households_updated BIGINT NOT NULL DEFAULT 0,
    members_added BIGINT NOT NULL DEFAULT 0,
    members_updated BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE households (
    id INTEGER PRIMARY KEY,
    household_no TEXT NOT NULL UNIQUE,
    village_key BIGINT NOT NULL REFERENCES regions (key),
    county_key BIGINT NOT NULL,
    group_name TEXT NOT NULL DEFAULT '',
    identification_standard TEXT NOT NULL,
    attribute TEXT NOT NULL,
    main_cause TEXT NOT NULL,
    other_causes TEXT NOT NULL DEFAULT '',
    identified_year BIGINT NOT NULL,
    status TEXT NOT NULL,
    exit_year BIGINT,
    monitoring_type TEXT,
    housing_dangerous BOOLEAN,
    housing_structure TEXT NOT NULL DEFAULT '',
    safe_water BOOLEAN,
    food_secure BOOLEAN,
    clothing_secure BOOLEAN,
    education_secure BOOLEAN,
    medical_secure BOOLEAN,
    housing_secure BOOLEAN,
    phone TEXT NOT NULL DEFAULT '',
    bank_account TEXT NOT NULL DEFAULT '',
    head_name TEXT NOT NULL DEFAULT '',
    member_count BIGINT NOT NULL DEFAULT 0,
    removed_year BIGINT,
    removed_reason TEXT,
    last_batch_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX households_village ON households (village_key, household_no);
CREATE INDEX households_county ON households (county_key, household_no);
CREATE INDEX households_status ON households (status);

CREATE TABLE members (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    member_no TEXT UNIQUE,
    name TEXT NOT NULL,
    sex TEXT NOT NULL,
    id_number TEXT,
    id_was_15 BOOLEAN NOT NULL DEFAULT FALSE,
    relation TEXT NOT NULL,
    ethnicity TEXT NOT NULL DEFAULT '',
    education TEXT NOT NULL DEFAULT '',
    schooling TEXT NOT NULL DEFAULT '',
    health TEXT NOT NULL DEFAULT '',
    labour TEXT NOT NULL DEFAULT '',
    migrant_months BIGINT,
    insurance TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    active BOOLEAN NOT NULL DEFAULT TRUE,
    left_reason TEXT,
    left_date TEXT,
    last_batch_id BIGINT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX members_household ON members (household_id);
-- One person is an active member of at most one household anywhere.
CREATE UNIQUE INDEX members_active_id_number ON members (id_number) WHERE active AND id_number IS NOT NULL;

CREATE TABLE household_status_history (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    status TEXT NOT NULL,
    year BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);
CREATE INDEX household_status_history_household ON household_status_history (household_id);

CREATE TABLE household_incomes (
    household_id BIGINT NOT NULL REFERENCES households (id),
    year BIGINT NOT NULL,
    wage_fen BIGINT NOT NULL,
    business_fen BIGINT NOT NULL,
    property_fen BIGINT NOT NULL,
    transfer_fen BIGINT NOT NULL,
    business_cost_fen BIGINT NOT NULL,
    net_fen BIGINT NOT NULL,
    household_size BIGINT NOT NULL,
    per_capita_fen BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (household_id, year)
);
CREATE INDEX household_incomes_year ON household_incomes (year, per_capita_fen);

CREATE TABLE household_cadres (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    unit_level TEXT NOT NULL,
    phone TEXT NOT NULL DEFAULT '',
    start_date TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX household_cadres_household ON household_cadres (household_id);

CREATE TABLE household_measures (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    measure_type TEXT NOT NULL,
    project_id BIGINT,
    amount_fen BIGINT,
    measure_date TEXT NOT NULL,
    relocated_from_key BIGINT,
    relocated_to_key BIGINT,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL
);
CREATE INDEX household_measures_household ON household_measures (household_id);

CREATE TABLE household_events (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    member_id BIGINT,
    event_type TEXT NOT NULL,
    event_date TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    batch_id BIGINT
);
CREATE INDEX household_events_household ON household_events (household_id);
