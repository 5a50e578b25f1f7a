-- Projects in eight themes and the append-only fund ledger (SQLite).
CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    code TEXT UNIQUE,
    name TEXT NOT NULL,
    theme TEXT NOT NULL,
    sub_type TEXT NOT NULL DEFAULT '',
    livelihood BOOLEAN NOT NULL,
    pairing_id BIGINT REFERENCES pairings (id),
    approved_on TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    status TEXT NOT NULL,
    status_date TEXT NOT NULL,
    budget BIGINT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX projects_theme_status ON projects (theme, status);
CREATE INDEX projects_start ON projects (start_date);
CREATE INDEX projects_pairing ON projects (pairing_id);

-- Where a project is, and each location's weight in the split of its money (largest remainder).
CREATE TABLE project_locations (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    region_key BIGINT NOT NULL REFERENCES regions (key),
    weight BIGINT NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (project_id, region_key)
);
CREATE INDEX project_locations_region ON project_locations (region_key);

-- Participating organisations with their IATI roles (funding, accountable, extending, implementing).
CREATE TABLE project_organisations (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    organisation_id BIGINT NOT NULL REFERENCES organisations (id),
    role TEXT NOT NULL,
    PRIMARY KEY (project_id, organisation_id, role)
);
CREATE INDEX project_organisations_org ON project_organisations (organisation_id);

-- Every status change, dated and attributed; projects.status is the latest.
CREATE TABLE project_status_history (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    status TEXT NOT NULL,
    changed_on TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL
);
CREATE INDEX project_status_history_project ON project_status_history (project_id);

CREATE TABLE project_results (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    indicator TEXT NOT NULL,
    unit TEXT NOT NULL,
    year BIGINT NOT NULL,
    baseline DOUBLE PRECISION,
    target DOUBLE PRECISION,
    actual DOUBLE PRECISION,
    UNIQUE (project_id, indicator, year)
);

-- Beneficiaries: a registry household or person where known (no foreign key until the registry
-- settles), otherwise counts; a village where known.
CREATE TABLE project_beneficiaries (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    household_id BIGINT,
    member_id BIGINT,
    village_key BIGINT REFERENCES regions (key),
    households BIGINT NOT NULL,
    people BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX project_beneficiaries_project ON project_beneficiaries (project_id);
CREATE INDEX project_beneficiaries_household ON project_beneficiaries (household_id);

-- Theme-specific indicators (domain::project::Indicator): one summable integer per project and year.
CREATE TABLE project_indicators (
    project_id BIGINT NOT NULL REFERENCES projects (id),
    year BIGINT NOT NULL,
    indicator TEXT NOT NULL,
    value BIGINT NOT NULL,
    PRIMARY KEY (project_id, year, indicator)
);
CREATE INDEX project_indicators_indicator ON project_indicators (indicator, year);

-- Microloans of finance projects (金融扶贫).
CREATE TABLE project_loans (
    id INTEGER PRIMARY KEY,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    household_id BIGINT,
    borrower TEXT NOT NULL DEFAULT '',
    amount BIGINT NOT NULL,
    term_months BIGINT NOT NULL,
    issued_on TEXT NOT NULL,
    outstanding BIGINT NOT NULL,
    overdue BIGINT NOT NULL
);
CREATE INDEX project_loans_project ON project_loans (project_id);

-- The fund ledger. Append-only (triggers below); ids are assigned gapless in chain order by the
-- appender, which holds the ledger's write lock; prev_hash is unique, so the chain cannot fork.
-- hash = SHA-256(prev_hash, canonical form of every other column): see domain::ledger::Entry.
CREATE TABLE ledger_entries (
    id BIGINT PRIMARY KEY,
    tx_type TEXT NOT NULL,
    amount BIGINT NOT NULL,
    value_date TEXT NOT NULL,
    provider_id BIGINT NOT NULL REFERENCES organisations (id),
    receiver_id BIGINT NOT NULL REFERENCES organisations (id),
    provider_shenzhen BOOLEAN NOT NULL,
    receiver_shenzhen BOOLEAN NOT NULL,
    fund_source TEXT NOT NULL,
    project_id BIGINT NOT NULL REFERENCES projects (id),
    voucher_no TEXT NOT NULL,
    memo TEXT NOT NULL,
    passes_on BIGINT REFERENCES ledger_entries (id),
    reverses BIGINT UNIQUE REFERENCES ledger_entries (id),
    over_commitment_reason TEXT,
    invested BOOLEAN NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    prev_hash TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX ledger_entries_project ON ledger_entries (project_id, tx_type);
CREATE INDEX ledger_entries_provider ON ledger_entries (provider_id);
CREATE INDEX ledger_entries_receiver ON ledger_entries (receiver_id);
CREATE INDEX ledger_entries_passes_on ON ledger_entries (passes_on);
CREATE INDEX ledger_entries_value_date ON ledger_entries (value_date);
-- Imports name entries by voucher number (转拨凭证号, 冲销凭证号, duplicate rows).
CREATE INDEX ledger_entries_voucher ON ledger_entries (voucher_no);

CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only: post a reversing entry instead');
END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN
    SELECT RAISE(ABORT, 'ledger_entries is append-only: post a reversing entry instead');
END;
