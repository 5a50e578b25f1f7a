-- Overview figures (数据概览) and their published snapshots. The summaries below are kept by
-- triggers in the same transaction as the rows they summarise, so the overview sums a few
-- hundred rows instead of scanning millions, and is never stale.

-- Active members of registry households (not 清退) by county, poverty status and exit year
-- (0 when the household has none). households.member_count already counts active members.
CREATE TABLE stats_household_members (
    county_key BIGINT NOT NULL,
    status TEXT NOT NULL,
    exit_year BIGINT NOT NULL,
    households BIGINT NOT NULL,
    members BIGINT NOT NULL,
    PRIMARY KEY (county_key, status, exit_year)
);

INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
SELECT county_key, status, COALESCE(exit_year, 0), COUNT(*), COALESCE(SUM(member_count), 0)
FROM households WHERE removed_year IS NULL
GROUP BY county_key, status, COALESCE(exit_year, 0);

CREATE TRIGGER stats_households_insert AFTER INSERT ON households
WHEN NEW.removed_year IS NULL
BEGIN
    INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
    VALUES (NEW.county_key, NEW.status, COALESCE(NEW.exit_year, 0), 1, NEW.member_count)
    ON CONFLICT (county_key, status, exit_year) DO UPDATE
    SET households = stats_household_members.households + excluded.households,
        members = stats_household_members.members + excluded.members;
END;

CREATE TRIGGER stats_households_update AFTER UPDATE OF county_key, status, exit_year, member_count, removed_year ON households
BEGIN
    UPDATE stats_household_members
    SET households = households - 1, members = members - OLD.member_count
    WHERE OLD.removed_year IS NULL AND county_key = OLD.county_key AND status = OLD.status
      AND exit_year = COALESCE(OLD.exit_year, 0);
    INSERT INTO stats_household_members (county_key, status, exit_year, households, members)
    SELECT NEW.county_key, NEW.status, COALESCE(NEW.exit_year, 0), 1, NEW.member_count
    WHERE NEW.removed_year IS NULL
    ON CONFLICT (county_key, status, exit_year) DO UPDATE
    SET households = stats_household_members.households + excluded.households,
        members = stats_household_members.members + excluded.members;
END;

CREATE TRIGGER stats_households_delete AFTER DELETE ON households
WHEN OLD.removed_year IS NULL
BEGIN
    UPDATE stats_household_members
    SET households = households - 1, members = members - OLD.member_count
    WHERE county_key = OLD.county_key AND status = OLD.status AND exit_year = COALESCE(OLD.exit_year, 0);
END;

-- Funds invested (投入, ledger_entries.invested) by the grouping the invested-funds report
-- splits over project locations: project, value-date year, fund source, provider, receiver.
-- The ledger is append-only, so an insert trigger is all it takes.
CREATE TABLE stats_invested (
    project_id BIGINT NOT NULL,
    year BIGINT NOT NULL,
    fund_source TEXT NOT NULL,
    provider_id BIGINT NOT NULL,
    receiver_id BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    PRIMARY KEY (project_id, year, fund_source, provider_id, receiver_id)
);

INSERT INTO stats_invested (project_id, year, fund_source, provider_id, receiver_id, amount)
SELECT project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT), fund_source, provider_id, receiver_id, SUM(amount)
FROM ledger_entries WHERE invested
GROUP BY project_id, CAST(SUBSTR(value_date, 1, 4) AS BIGINT), fund_source, provider_id, receiver_id;

CREATE TRIGGER stats_ledger_insert AFTER INSERT ON ledger_entries
WHEN NEW.invested
BEGIN
    INSERT INTO stats_invested (project_id, year, fund_source, provider_id, receiver_id, amount)
    VALUES (NEW.project_id, CAST(SUBSTR(NEW.value_date, 1, 4) AS BIGINT), NEW.fund_source, NEW.provider_id,
            NEW.receiver_id, NEW.amount)
    ON CONFLICT (project_id, year, fund_source, provider_id, receiver_id) DO UPDATE
    SET amount = stats_invested.amount + excluded.amount;
END;

-- Published figure sets (`bangfu stats publish --as-of DATE`): frozen JSON, never changed.
CREATE TABLE published_figures (
    id INTEGER PRIMARY KEY,
    as_of TEXT NOT NULL,
    region_key BIGINT,
    since_year BIGINT,
    published_at TEXT NOT NULL,
    published_by TEXT NOT NULL,
    figures_json TEXT NOT NULL
);

CREATE TRIGGER published_figures_no_update BEFORE UPDATE ON published_figures
BEGIN
    SELECT RAISE(ABORT, 'published_figures is append-only: publish a new figure set instead');
END;
CREATE TRIGGER published_figures_no_delete BEFORE DELETE ON published_figures
BEGIN
    SELECT RAISE(ABORT, 'published_figures is append-only: publish a new figure set instead');
END;
