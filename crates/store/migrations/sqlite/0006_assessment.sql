-- Exit assessment (贫困退出) and monitoring against relapse (防返贫监测). Rules are versioned
-- data; every decision keeps the rule version and the figures it was computed from. Nothing
-- here is ever deleted: runs, decisions, procedure steps, visits and cases are appended, and a
-- case's elimination is a dated change of its status with the criteria as computed then.

-- The newest version is the rule set in force; version 1 is seeded from the built-in defaults.
CREATE TABLE rule_versions (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    rules_json TEXT NOT NULL
);

-- One batch assessment of a year (optionally of one region's subtree).
CREATE TABLE assessment_runs (
    id INTEGER PRIMARY KEY,
    year BIGINT NOT NULL,
    region_key BIGINT,
    rule_version_id BIGINT NOT NULL REFERENCES rule_versions (id),
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    username TEXT NOT NULL,
    error TEXT,
    summary_json TEXT
);

-- One household's decision in a run: failing criteria keys, and the figures it was computed
-- from (domain::assessment::DecisionRecord, compact JSON) from which the explanation renders.
-- Keyed by run, so that a run appends in key order whatever the history (a key led by the
-- household would rewrite pages all over the table at every run); a household's decisions
-- are found run by run (few runs a year), point lookups on this key.
-- Clustered on its key (WITHOUT ROWID): one B-tree.
CREATE TABLE exit_decisions (
    run_id BIGINT NOT NULL,
    household_id BIGINT NOT NULL,
    year BIGINT NOT NULL,
    rule_version_id BIGINT NOT NULL,
    household_status TEXT NOT NULL,
    may_exit BOOLEAN NOT NULL,
    failing TEXT NOT NULL DEFAULT '',
    explanation_json TEXT NOT NULL,
    PRIMARY KEY (run_id, household_id)
) WITHOUT ROWID;

CREATE TABLE village_results (
    run_id BIGINT NOT NULL REFERENCES assessment_runs (id),
    region_key BIGINT NOT NULL,
    households BIGINT NOT NULL,
    poor_households BIGINT NOT NULL,
    may_exit_households BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    rural_population BIGINT,
    population_year BIGINT,
    incidence_bp BIGINT,
    threshold_bp BIGINT NOT NULL,
    passed BOOLEAN NOT NULL,
    explanation_json TEXT NOT NULL,
    PRIMARY KEY (run_id, region_key)
);

CREATE TABLE county_results (
    run_id BIGINT NOT NULL REFERENCES assessment_runs (id),
    region_key BIGINT NOT NULL,
    households BIGINT NOT NULL,
    poor_households BIGINT NOT NULL,
    may_exit_households BIGINT NOT NULL,
    remaining BIGINT NOT NULL,
    rural_population BIGINT,
    population_year BIGINT,
    incidence_bp BIGINT,
    threshold_bp BIGINT NOT NULL,
    passed BOOLEAN NOT NULL,
    explanation_json TEXT NOT NULL,
    PRIMARY KEY (run_id, region_key)
);

-- Review samples of a county's exit (错退, 漏评, 群众认可度); the newest per county and year counts.
CREATE TABLE county_reviews (
    id INTEGER PRIMARY KEY,
    county_key BIGINT NOT NULL REFERENCES regions (key),
    year BIGINT NOT NULL,
    sampled_exited BIGINT NOT NULL,
    wrongly_exited BIGINT NOT NULL,
    sampled_households BIGINT NOT NULL,
    missed_poor BIGINT NOT NULL,
    surveyed BIGINT NOT NULL,
    approving BIGINT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    entered_by TEXT NOT NULL,
    entered_at TEXT NOT NULL
);
CREATE INDEX county_reviews_county ON county_reviews (county_key, year);

-- The exit procedure of a household, one row per step (拟退出 … 销号, or 异议 with its reason).
CREATE TABLE exit_procedures (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    year BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_date TEXT NOT NULL,
    responsible TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX exit_procedures_household ON exit_procedures (household_id, year);

-- 入户走访: the income estimate is per capita over the 12 months before the visit.
CREATE TABLE visits (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    visit_date TEXT NOT NULL,
    visitor TEXT NOT NULL,
    findings TEXT NOT NULL DEFAULT '',
    income_12m_fen BIGINT,
    risks TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    batch_id BIGINT
);
CREATE INDEX visits_household ON visits (household_id, visit_date);
CREATE INDEX visits_date ON visits (visit_date);

-- 刚性支出 (medical, schooling, disaster) with the amount reimbursed.
CREATE TABLE rigid_expenses (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    expense_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_fen BIGINT NOT NULL,
    reimbursed_fen BIGINT NOT NULL DEFAULT 0,
    resolved BOOLEAN NOT NULL DEFAULT FALSE,
    resolved_date TEXT,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX rigid_expenses_household ON rigid_expenses (household_id);
CREATE INDEX rigid_expenses_date ON rigid_expenses (expense_date);

-- Shocks: illness, disaster, accident, job loss.
CREATE TABLE shocks (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    shock_date TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX shocks_household ON shocks (household_id);
CREATE INDEX shocks_date ON shocks (shock_date);

-- A household under monitoring, from identification to risk elimination (never deleted).
CREATE TABLE monitoring_cases (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    category TEXT NOT NULL,
    channel TEXT NOT NULL,
    identified_at TEXT NOT NULL,
    risk_score BIGINT NOT NULL,
    signals_json TEXT NOT NULL,
    status TEXT NOT NULL,
    eliminated_at TEXT,
    elimination_json TEXT,
    rule_version_id BIGINT NOT NULL,
    run_id BIGINT,
    note TEXT NOT NULL DEFAULT '',
    opened_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX monitoring_cases_household ON monitoring_cases (household_id, status);
CREATE INDEX monitoring_cases_status ON monitoring_cases (status, risk_score);
-- At most one open case per household.
CREATE UNIQUE INDEX monitoring_cases_open ON monitoring_cases (household_id) WHERE status = 'monitoring';

CREATE TABLE monitoring_measures (
    id INTEGER PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES monitoring_cases (id),
    measure_type TEXT NOT NULL,
    responsible TEXT NOT NULL,
    measure_date TEXT NOT NULL,
    amount_fen BIGINT,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX monitoring_measures_case ON monitoring_measures (case_id);
