-- The journal schema at version 2, as batch_refunds wrote it before input_rows existed.
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    input_path TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    rows INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    exit_code INTEGER,
    summary_json TEXT,
    report_dir TEXT
);
CREATE TABLE IF NOT EXISTS intents (
    key TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    generation INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    order_id TEXT,
    payment_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    reference TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'refused')),
    refund_id TEXT,
    refund_created_at INTEGER,
    resolved_run_id TEXT,
    resolved_row INTEGER,
    credited_run_id TEXT,
    error_code TEXT,
    message TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS intents_by_identity ON intents (identity);
CREATE INDEX IF NOT EXISTS intents_by_payment ON intents (payment_id);
CREATE TABLE IF NOT EXISTS completions (
    identity TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    refunded_amount INTEGER NOT NULL,
    refund_ids TEXT NOT NULL,
    completed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE TABLE IF NOT EXISTS outcomes (
    run_id TEXT NOT NULL,
    row INTEGER NOT NULL,
    status TEXT NOT NULL,
    order_id TEXT,
    payment_ids TEXT NOT NULL,
    currency TEXT NOT NULL,
    requested_amount INTEGER,
    refundable_before INTEGER,
    refunded_amount INTEGER NOT NULL,
    refund_ids TEXT NOT NULL,
    error_code TEXT,
    message TEXT,
    reference TEXT,
    attempts INTEGER NOT NULL,
    already_refunded INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, row)
);
CREATE INDEX IF NOT EXISTS intents_by_credit ON intents (credited_run_id);
