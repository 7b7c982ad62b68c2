-- Summaries folded from the events database (attached as `ev`) in `seq` order. They live
-- in a database of their own so that their writer runs beside the events' writer instead
-- of after it; everything here can be rebuilt from the events (delete the file).

-- How far the events have been folded in: every event with seq <= folded_seq, exactly once.
CREATE TABLE fold_cursor (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    folded_seq  INTEGER NOT NULL
);
INSERT INTO fold_cursor (id, folded_seq) VALUES (1, 0);

-- One row per session. Its keys (session id, address) never change after the row is
-- created, so folding rewrites only the row; `seq` is the order sessions arrived in.
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

-- One row per source address.
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
