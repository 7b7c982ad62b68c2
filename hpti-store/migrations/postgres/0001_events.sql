-- The PostgreSQL store. Text columns compare byte by byte (COLLATE "C"), as SQLite's do,
-- so that every query orders its ties exactly as the SQLite store does.

-- Enrichment documents, stored once and referenced by id from each event (as in SQLite).
-- `digest` is the SHA-256 of `doc`: a unique index on the document itself would not fit
-- a B-tree page once RDAP answers grow. `json`, not `jsonb`: jsonb refuses the \u0000 an
-- attacker-influenced string may carry. Rows are never updated or deleted.
CREATE TABLE enrichments (
    id      bigserial PRIMARY KEY,
    digest  bytea     NOT NULL UNIQUE,
    doc     json      NOT NULL
);

-- One row per event, in daily (or monthly) partitions that hpti creates ahead of time and
-- on demand; retention drops whole partitions. `doc` keeps what the typed columns do not
-- (the event's data, raw record, cut fields) as JSON, so nothing an event carries is lost.
--
-- The primary key is (ts, id) because a partitioned table's unique keys must hold its
-- partition key; an event id always comes with the same time, so it is still the
-- idempotency key (`ON CONFLICT DO NOTHING`).
CREATE TABLE events (
    id              uuid        NOT NULL,
    ts              timestamptz NOT NULL,
    observed        timestamptz,
    sensor          text COLLATE "C" NOT NULL,
    protocol        text COLLATE "C" NOT NULL,
    session         text COLLATE "C",
    src_ip          inet        NOT NULL,
    src_port        integer,
    dst_ip          inet,
    dst_port        integer,
    kind            text COLLATE "C" NOT NULL,
    username        text COLLATE "C",
    password        text COLLATE "C",
    success         boolean,
    command         text COLLATE "C",
    url             text COLLATE "C",
    filename        text COLLATE "C",
    sha256          text COLLATE "C",
    size            bigint,
    country         text COLLATE "C",
    asn             bigint,
    -- From session.closed and client.version events, typed here so that folding the
    -- summaries never parses JSON.
    duration_ms     bigint,
    client_version  text COLLATE "C",
    enrichment_id   bigint,
    doc             json        NOT NULL,
    PRIMARY KEY (ts, id)
) PARTITION BY RANGE (ts);

-- An event by id (ids from log records are not time-ordered, so the key cannot help).
CREATE INDEX events_id ON events (id);
-- An address's events in a window.
CREATE INDEX events_src_ip_ts ON events (src_ip, ts);
-- Per-kind questions in a window (credentials, commands).
CREATE INDEX events_kind_ts ON events (kind, ts);
-- Captured files (a few percent of events).
CREATE INDEX events_sha256_ts ON events (sha256, ts) WHERE sha256 IS NOT NULL;
-- A session's timeline.
CREATE INDEX events_session_ts ON events (session, ts) WHERE session IS NOT NULL;

-- Summaries, folded from each batch's new rows in the batch's own transaction: every
-- event is counted exactly once, whatever crashes. `seq` is the order sessions arrived in.
CREATE TABLE sessions (
    seq             bigserial PRIMARY KEY,
    session         text COLLATE "C" NOT NULL UNIQUE,
    sensor          text COLLATE "C" NOT NULL,
    protocol        text COLLATE "C" NOT NULL,
    src_ip          inet        NOT NULL,
    src_port        integer,
    dst_ip          inet,
    dst_port        integer,
    started         timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    duration_ms     bigint,
    client_version  text COLLATE "C",
    events          bigint      NOT NULL,
    login_attempts  bigint      NOT NULL,
    logins_ok       bigint      NOT NULL,
    commands        bigint      NOT NULL,
    downloads       bigint      NOT NULL
);
CREATE INDEX sessions_src_ip ON sessions (src_ip);

CREATE TABLE attackers (
    src_ip          inet        PRIMARY KEY,
    events          bigint      NOT NULL,
    login_attempts  bigint      NOT NULL,
    commands        bigint      NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    country         text COLLATE "C",
    asn             bigint
);

-- Each event with its enrichment, for ad-hoc SQL.
CREATE VIEW events_enriched AS
    SELECT events.*, enrichments.doc AS enrichment
    FROM events LEFT JOIN enrichments ON enrichments.id = events.enrichment_id;
