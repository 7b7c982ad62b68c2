-- One row per event. Typed columns serve the queries; `doc` keeps the rest of the event
-- (kind and data, enrichment, raw record) as JSON, so nothing an event carries is lost.
--
-- Only append-mostly indexes live on this table (time-ordered ids and timestamps, a
-- handful of kinds): an index keyed by attacker address or session id takes a random
-- page write per event, which halves insert throughput and gets worse as the table
-- grows. Per-session and per-address questions are answered by the summary tables of
-- the summaries database, folded from this table in `seq` order by their own writer.
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
