-- Rollups, so that the rankings of `hpti query` read a few rows per hour (or one per key
-- for all time) instead of every event of the window. Folded with the sessions and
-- attackers, in the same transaction, so every event is counted in each exactly once.
--
-- * `*_hourly`: counts per hour (`hour` = the hour's first microsecond) and key; a window
--   reads whole hours here and only its partial first hour from the events.
-- * `*_total`: all-time counts per key, ranked by an index, so the all-time top N reads N
--   rows whatever the store holds.
-- * `*_sources` / `download_urls`: each distinct (key, address) pair once, with when it
--   was last seen. The addresses that used a key at or after a time are the pairs last
--   seen at or after it: distinct counts stay exact without a set per hour.
--
-- Credentials without a password (key-based attempts) have `no_password = 1` and an
-- empty `password`: a NULL would make every such row distinct from the key's others.

CREATE TABLE credentials_hourly (
    hour         INTEGER NOT NULL,
    username     TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    no_password  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    successes    INTEGER NOT NULL,
    PRIMARY KEY (hour, username, password, no_password)
) WITHOUT ROWID;

CREATE TABLE credentials_total (
    username     TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    no_password  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    successes    INTEGER NOT NULL,
    sources      INTEGER NOT NULL,
    PRIMARY KEY (username, password, no_password)
) WITHOUT ROWID;
CREATE INDEX credentials_total_rank
    ON credentials_total (attempts DESC, username, no_password DESC, password);

CREATE TABLE credential_sources (
    username     TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    no_password  INTEGER NOT NULL,
    src_ip       TEXT    NOT NULL,
    last_seen    INTEGER NOT NULL,
    PRIMARY KEY (username, password, no_password, src_ip)
) WITHOUT ROWID;
CREATE INDEX credential_sources_seen
    ON credential_sources (username, password, no_password, last_seen);

CREATE TABLE commands_hourly (
    hour     INTEGER NOT NULL,
    command  TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (hour, command)
) WITHOUT ROWID;

CREATE TABLE commands_total (
    command  TEXT    NOT NULL PRIMARY KEY,
    count    INTEGER NOT NULL,
    sources  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX commands_total_rank ON commands_total (count DESC, command);

CREATE TABLE command_sources (
    command    TEXT    NOT NULL,
    src_ip     TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (command, src_ip)
) WITHOUT ROWID;
CREATE INDEX command_sources_seen ON command_sources (command, last_seen);

CREATE TABLE downloads_hourly (
    hour        INTEGER NOT NULL,
    sha256      TEXT    NOT NULL,
    count       INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    size        INTEGER,
    PRIMARY KEY (hour, sha256)
) WITHOUT ROWID;

CREATE TABLE downloads_total (
    sha256      TEXT    NOT NULL PRIMARY KEY,
    count       INTEGER NOT NULL,
    first_seen  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    size        INTEGER
) WITHOUT ROWID;
CREATE INDEX downloads_total_rank ON downloads_total (count DESC, last_seen DESC, sha256);

CREATE TABLE download_sources (
    sha256     TEXT    NOT NULL,
    src_ip     TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (sha256, src_ip)
) WITHOUT ROWID;
CREATE INDEX download_sources_seen ON download_sources (sha256, last_seen);

CREATE TABLE download_urls (
    sha256     TEXT    NOT NULL,
    url        TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (sha256, url)
) WITHOUT ROWID;
CREATE INDEX download_urls_seen ON download_urls (sha256, last_seen);

CREATE TABLE attackers_hourly (
    hour            INTEGER NOT NULL,
    src_ip          TEXT    NOT NULL,
    events          INTEGER NOT NULL,
    login_attempts  INTEGER NOT NULL,
    commands        INTEGER NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    country         TEXT,
    asn             INTEGER,
    PRIMARY KEY (hour, src_ip)
) WITHOUT ROWID;

-- The all-time top attackers without sorting every address.
CREATE INDEX attackers_rank ON attackers (events DESC, src_ip);

-- An address's sessions with activity at or after a time.
CREATE INDEX sessions_src_ip_seen ON sessions (src_ip, last_seen);
DROP INDEX sessions_src_ip;

-- The rollups start empty: fold everything again (the summaries are derived data).
DELETE FROM sessions;
DELETE FROM attackers;
UPDATE fold_cursor SET folded_seq = 0;
