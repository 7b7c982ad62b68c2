-- One row per event. Typed columns serve the queries; `doc` keeps the whole event as
-- JSON so nothing an event carries is lost.
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
-- Per-kind queries in a window (credentials, commands).
CREATE INDEX events_kind_ts ON events (kind, ts);
-- Per-IP history and the attackers ranking.
CREATE INDEX events_src_ip_ts ON events (src_ip, ts);
-- All events of a session.
CREATE INDEX events_session ON events (session) WHERE session IS NOT NULL;
-- Captured files.
CREATE INDEX events_sha256 ON events (sha256, ts) WHERE sha256 IS NOT NULL;
