-- The risk elimination procedure of a monitoring case (DOMAIN.md §7), one row per step:
-- verification (入户核实) → village_review (村级评议公示) → county_approval (县级审批公告).
-- The case is eliminated by the last step, on its date; the steps are never deleted.
CREATE TABLE elimination_steps (
    id INTEGER PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES monitoring_cases (id),
    step TEXT NOT NULL,
    step_date TEXT NOT NULL,
    responsible TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX elimination_steps_case ON elimination_steps (case_id, id);
