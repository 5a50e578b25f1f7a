-- Consumption aid (消费扶贫 / 消费帮扶, issue 14): suppliers and their benefit links to registry
-- households, products and their certificates, buyers, orders with their lines, states and
-- payments, the attribution of received orders to households, idempotency keys of order
-- placement, and the versioned consumption rules (公示 days, the 832 quota). Money in fen.

-- The newest version is the rule set in force; version 1 is seeded from the built-in defaults
-- (domain::consumption::ConsumptionRules) on first use.
CREATE TABLE consumption_rule_versions (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    rules_json TEXT NOT NULL
);

-- Registered market entities only (the credit code's registration category is checked by
-- domain::consumption::check_supplier_registration).
CREATE TABLE suppliers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    supplier_type TEXT NOT NULL,
    credit_code TEXT NOT NULL UNIQUE,
    county_key BIGINT NOT NULL REFERENCES regions (key),
    contact_name TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX suppliers_county ON suppliers (county_key);

-- 利益联结: exactly one of an agreed amount (fen, for the period) and a share (basis points).
-- Verified by the county: dated and attributed.
CREATE TABLE benefit_links (
    id INTEGER PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    household_id BIGINT NOT NULL REFERENCES households (id),
    kind TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to TEXT,
    amount BIGINT,
    share_bp BIGINT,
    evidence TEXT NOT NULL,
    verified_on TEXT,
    verified_by TEXT,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CHECK ((amount IS NULL) <> (share_bp IS NULL))
);
CREATE INDEX benefit_links_supplier ON benefit_links (supplier_id);
CREATE INDEX benefit_links_household ON benefit_links (household_id);

CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    specification TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL,
    unit_price BIGINT NOT NULL,
    annual_supply_value BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX products_supplier ON products (supplier_id);
CREATE INDEX products_category ON products (category);

-- A certificate from its application on (domain::consumption::Certificate); the number is
-- given by the county's decision.
CREATE TABLE certificates (
    id INTEGER PRIMARY KEY,
    product_id BIGINT NOT NULL REFERENCES products (id),
    state TEXT NOT NULL,
    applied_on TEXT NOT NULL,
    last_step_on TEXT NOT NULL,
    number TEXT UNIQUE,
    batch TEXT,
    valid_from TEXT,
    valid_to TEXT,
    publicity_ends TEXT,
    listed_on TEXT,
    revoked_on TEXT,
    revoke_reason TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX certificates_product ON certificates (product_id);

-- Every step of the procedure, dated and attributed; append-only (triggers below).
CREATE TABLE certificate_steps (
    id INTEGER PRIMARY KEY,
    certificate_id BIGINT NOT NULL REFERENCES certificates (id),
    step TEXT NOT NULL,
    on_date TEXT NOT NULL,
    state_after TEXT NOT NULL,
    detail_json TEXT NOT NULL,
    by_user TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX certificate_steps_certificate ON certificate_steps (certificate_id);

-- unit_id: the budget unit a trade union or a staff member (individual) buys for, whose 832
-- quota their purchases count toward.
CREATE TABLE buyers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    buyer_type TEXT NOT NULL,
    region_key BIGINT NOT NULL REFERENCES regions (key),
    organisation_id BIGINT REFERENCES organisations (id),
    unit_id BIGINT REFERENCES buyers (id),
    credit_code TEXT,
    phone TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX buyers_unit ON buyers (unit_id);
CREATE INDEX buyers_organisation ON buyers (organisation_id);

-- A budget unit's canteen food purchasing total of a year (the base of the 832 quota).
CREATE TABLE buyer_canteens (
    buyer_id BIGINT NOT NULL REFERENCES buyers (id),
    year BIGINT NOT NULL,
    has_canteen BOOLEAN NOT NULL,
    canteen_total BIGINT NOT NULL,
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (buyer_id, year)
);

-- channel_org_id: the organisation whose users post the channel's orders.
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    buyer_id BIGINT NOT NULL REFERENCES buyers (id),
    channel TEXT NOT NULL,
    channel_org_id BIGINT REFERENCES organisations (id),
    channel_order_no TEXT,
    order_date TEXT NOT NULL,
    year BIGINT NOT NULL,
    state TEXT NOT NULL,
    state_on TEXT NOT NULL,
    total BIGINT NOT NULL,
    placed_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX orders_channel_no ON orders (channel_org_id, channel_order_no);
CREATE INDEX orders_buyer ON orders (buyer_id);
CREATE INDEX orders_year_state ON orders (year, state);

CREATE TABLE order_lines (
    id INTEGER PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    line_no BIGINT NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    certificate_id BIGINT NOT NULL REFERENCES certificates (id),
    quantity BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    UNIQUE (order_id, line_no)
);
CREATE INDEX order_lines_product ON order_lines (product_id);

-- Every state of every order, dated and attributed; append-only (triggers below).
CREATE TABLE order_states (
    id INTEGER PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    state TEXT NOT NULL,
    on_date TEXT NOT NULL,
    by_user TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_at TEXT NOT NULL
);
CREATE INDEX order_states_order ON order_states (order_id);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    amount BIGINT NOT NULL,
    paid_on TEXT NOT NULL,
    method TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX payments_order ON payments (order_id);

-- The one record of each purchase (order line) with everything the figures group by: buyer
-- region, seller county, channel, certificate, year. Whether it counts is the order's state:
-- store::consumption::counted_purchases_sql is the one definition every figure reads.
CREATE TABLE purchase_facts (
    order_line_id BIGINT PRIMARY KEY REFERENCES order_lines (id),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    year BIGINT NOT NULL,
    order_date TEXT NOT NULL,
    buyer_id BIGINT NOT NULL REFERENCES buyers (id),
    buyer_type TEXT NOT NULL,
    buyer_region_key BIGINT NOT NULL,
    quota_unit_id BIGINT,
    seller_county_key BIGINT NOT NULL,
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    product_id BIGINT NOT NULL REFERENCES products (id),
    certificate_id BIGINT NOT NULL REFERENCES certificates (id),
    channel TEXT NOT NULL,
    amount BIGINT NOT NULL
);
CREATE INDEX purchase_facts_county_year ON purchase_facts (seller_county_key, year);
CREATE INDEX purchase_facts_buyer_region_year ON purchase_facts (buyer_region_key, year);
CREATE INDEX purchase_facts_year_channel ON purchase_facts (year, channel);
CREATE INDEX purchase_facts_quota_unit ON purchase_facts (quota_unit_id, year);
CREATE INDEX purchase_facts_order ON purchase_facts (order_id);
CREATE INDEX purchase_facts_product ON purchase_facts (product_id);

-- 帮扶带动收入: a received order line's value split over the households of its supplier's
-- benefit links; a refund appends the negation of the same rows. Append-only (triggers below).
CREATE TABLE attributions (
    id INTEGER PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    order_line_id BIGINT NOT NULL REFERENCES order_lines (id),
    household_id BIGINT NOT NULL REFERENCES households (id),
    benefit_link_id BIGINT NOT NULL REFERENCES benefit_links (id),
    supplier_id BIGINT NOT NULL REFERENCES suppliers (id),
    year BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    reversal BOOLEAN NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX attributions_household_year ON attributions (household_id, year);
CREATE INDEX attributions_order ON attributions (order_id);

-- A retried placement with the same key answers with the stored first response; the same key
-- with another body is refused. Keys belong to the caller (its username).
CREATE TABLE idempotency_keys (
    caller TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    order_id BIGINT REFERENCES orders (id),
    response_json TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (caller, idem_key)
);

CREATE TRIGGER certificate_steps_no_update BEFORE UPDATE ON certificate_steps
BEGIN
    SELECT RAISE(ABORT, 'certificate_steps is append-only');
END;
CREATE TRIGGER certificate_steps_no_delete BEFORE DELETE ON certificate_steps
BEGIN
    SELECT RAISE(ABORT, 'certificate_steps is append-only');
END;
CREATE TRIGGER order_states_no_update BEFORE UPDATE ON order_states
BEGIN
    SELECT RAISE(ABORT, 'order_states is append-only');
END;
CREATE TRIGGER order_states_no_delete BEFORE DELETE ON order_states
BEGIN
    SELECT RAISE(ABORT, 'order_states is append-only');
END;
CREATE TRIGGER attributions_no_update BEFORE UPDATE ON attributions
BEGIN
    SELECT RAISE(ABORT, 'attributions is append-only: a refund appends the reversal');
END;
CREATE TRIGGER attributions_no_delete BEFORE DELETE ON attributions
BEGIN
    SELECT RAISE(ABORT, 'attributions is append-only: a refund appends the reversal');
END;
