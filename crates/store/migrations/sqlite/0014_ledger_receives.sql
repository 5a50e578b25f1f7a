-- A county's 资金到账 entry may name the Shenzhen side's disbursement it receives (issue 13
-- item 11): one transfer seen from both sides. The receipt is kept for the county's books but
-- not added again to the project's received amount. NULL on every entry recorded before, so
-- their hashes (which include the column only when it is set) stay valid.
ALTER TABLE ledger_entries ADD COLUMN receives BIGINT REFERENCES ledger_entries (id);
CREATE INDEX ledger_entries_receives ON ledger_entries (receives);
