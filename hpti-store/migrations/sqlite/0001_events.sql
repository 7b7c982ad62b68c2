-- One row per event. Typed columns serve the queries; `doc` keeps the rest of the event
-- (kind and data, enrichment, raw record) as JSON, so nothing an event carries is lost.
--
-- Only append-mostly indexes live on this table (time-ordered ids and timestamps, a
-- handful of kinds): an index keyed by attacker address or session id takes a random
-- page write per event, which halves insert throughput and gets worse as the table
-- grows. Per-session and per-address questions are answered by the summary tables
-- below, which each write updates once per session and address it touches.
CREATE TABLE events (
    seq       INTEGER PRIMARY KEY,
    id        BLOB    NOT NULL UNIQUE,   -- UUIDv7, the idempotency key
    ts        INTEGER NOT NULL,          -- microseconds since the Unix epoch (time.source)
    observed  INTEGER,                   -- microseconds (time.observation)
    sensor    TEXT    NOT NULL,
    protocol  TEXT    NOT NULL,
    session   TEXT,
    src_ip    TEXT    NOT NULL,
    src_port  INTEGER,
    dst_ip    TEXT,
    dst_port  INTEGER,
    kind      TEXT    NOT NULL,
    username  TEXT,
    password  TEXT,
    success   INTEGER,
    command   TEXT,
    url       TEXT,
    sha256    TEXT,
    size      INTEGER,
    country   TEXT,
    asn       INTEGER,
    doc       TEXT    NOT NULL
);

-- Time windows.
CREATE INDEX events_ts ON events (ts);
-- Per-kind questions in a window (credentials, commands).
CREATE INDEX events_kind_ts ON events (kind, ts);
-- Captured files (a few percent of events).
CREATE INDEX events_sha256 ON events (sha256, ts) WHERE sha256 IS NOT NULL;

-- One row per session, kept up to date by every write. Its keys (session id, address)
-- never change after the row is created, so the updates every write makes rewrite only
-- the row: the order of rows (`seq`) is the order sessions arrived in.
CREATE TABLE sessions (
    seq             INTEGER PRIMARY KEY,
    session         TEXT    NOT NULL UNIQUE,
    sensor          TEXT    NOT NULL,
    protocol        TEXT    NOT NULL,
    src_ip          TEXT    NOT NULL,
    src_port        INTEGER,
    dst_ip          TEXT,
    dst_port        INTEGER,
    started         INTEGER NOT NULL,    -- first event, microseconds
    last_seen       INTEGER NOT NULL,    -- last event, microseconds
    duration_ms     INTEGER,             -- from the session-closed event
    client_version  TEXT,
    events          INTEGER NOT NULL,
    login_attempts  INTEGER NOT NULL,
    logins_ok       INTEGER NOT NULL,
    commands        INTEGER NOT NULL,
    downloads       INTEGER NOT NULL
);

-- An address's sessions (and through them its history).
CREATE INDEX sessions_src_ip ON sessions (src_ip);

-- One row per source address, kept up to date by every write.
CREATE TABLE attackers (
    src_ip          TEXT    PRIMARY KEY,
    events          INTEGER NOT NULL,
    login_attempts  INTEGER NOT NULL,
    commands        INTEGER NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    country         TEXT,
    asn             INTEGER
) WITHOUT ROWID;
