-- Rollups, so that the rankings read a few rows per hour (or one per key for all time)
-- instead of every event of the window: folded from each batch's new rows in the batch's
-- own statement, as the sessions and attackers are, so every event counts exactly once.
-- The same tables as the SQLite store's (see its 0002_rollups.sql for the reasoning):
-- `*_hourly` per hour (`date_bin` to whole UTC hours), `*_total` all time, and the
-- (key, address) pairs with when each was last seen, for exact distinct counts.
-- Key-based attempts have `no_password` set and an empty `password`.

CREATE TABLE credentials_hourly (
    hour         timestamptz NOT NULL,
    username     text COLLATE "C" NOT NULL,
    password     text COLLATE "C" NOT NULL,
    no_password  boolean     NOT NULL,
    attempts     bigint      NOT NULL,
    successes    bigint      NOT NULL,
    PRIMARY KEY (hour, username, password, no_password)
);

CREATE TABLE credentials_total (
    username     text COLLATE "C" NOT NULL,
    password     text COLLATE "C" NOT NULL,
    no_password  boolean     NOT NULL,
    attempts     bigint      NOT NULL,
    successes    bigint      NOT NULL,
    sources      bigint      NOT NULL,
    PRIMARY KEY (username, password, no_password)
);
CREATE INDEX credentials_total_rank
    ON credentials_total (attempts DESC, username, no_password DESC, password);

CREATE TABLE credential_sources (
    username     text COLLATE "C" NOT NULL,
    password     text COLLATE "C" NOT NULL,
    no_password  boolean     NOT NULL,
    src_ip       inet        NOT NULL,
    last_seen    timestamptz NOT NULL,
    PRIMARY KEY (username, password, no_password, src_ip)
);
CREATE INDEX credential_sources_seen
    ON credential_sources (username, password, no_password, last_seen);

CREATE TABLE commands_hourly (
    hour     timestamptz NOT NULL,
    command  text COLLATE "C" NOT NULL,
    count    bigint      NOT NULL,
    PRIMARY KEY (hour, command)
);

CREATE TABLE commands_total (
    command  text COLLATE "C" PRIMARY KEY,
    count    bigint NOT NULL,
    sources  bigint NOT NULL
);
CREATE INDEX commands_total_rank ON commands_total (count DESC, command);

CREATE TABLE command_sources (
    command    text COLLATE "C" NOT NULL,
    src_ip     inet        NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (command, src_ip)
);
CREATE INDEX command_sources_seen ON command_sources (command, last_seen);

CREATE TABLE downloads_hourly (
    hour        timestamptz NOT NULL,
    sha256      text COLLATE "C" NOT NULL,
    count       bigint      NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    size        bigint,
    PRIMARY KEY (hour, sha256)
);

CREATE TABLE downloads_total (
    sha256      text COLLATE "C" PRIMARY KEY,
    count       bigint      NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL,
    size        bigint
);
CREATE INDEX downloads_total_rank ON downloads_total (count DESC, last_seen DESC, sha256);

CREATE TABLE download_sources (
    sha256     text COLLATE "C" NOT NULL,
    src_ip     inet        NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (sha256, src_ip)
);
CREATE INDEX download_sources_seen ON download_sources (sha256, last_seen);

CREATE TABLE download_urls (
    sha256     text COLLATE "C" NOT NULL,
    url        text COLLATE "C" NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (sha256, url)
);
CREATE INDEX download_urls_seen ON download_urls (sha256, last_seen);

CREATE TABLE attackers_hourly (
    hour            timestamptz NOT NULL,
    src_ip          inet        NOT NULL,
    events          bigint      NOT NULL,
    login_attempts  bigint      NOT NULL,
    commands        bigint      NOT NULL,
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    country         text COLLATE "C",
    asn             bigint,
    PRIMARY KEY (hour, src_ip)
);

-- The all-time top attackers without sorting every address (addresses order as text).
CREATE INDEX attackers_rank ON attackers (events DESC, (host(src_ip)) COLLATE "C");

-- An address's sessions with activity at or after a time.
CREATE INDEX sessions_src_ip_seen ON sessions (src_ip, last_seen);
DROP INDEX sessions_src_ip;

-- Events stored but not yet folded into the summaries and rollups. A batch's transaction
-- appends its new rows here (a narrow insert, no index); a folder deletes up to a step of
-- them and folds exactly those in one statement, so each event is folded exactly once
-- whatever crashes, and folding costs the writers nothing but this append.
CREATE TABLE fold_queue (
    ts              timestamptz NOT NULL,
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
    sha256          text COLLATE "C",
    size            bigint,
    country         text COLLATE "C",
    asn             bigint,
    duration_ms     bigint,
    client_version  text COLLATE "C"
);

-- Fill the rollups from the events already stored.
INSERT INTO credentials_hourly
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), username,
           COALESCE(password, ''), password IS NULL, COUNT(*), COUNT(*) FILTER (WHERE success)
    FROM events WHERE kind = 'login.attempt' AND username IS NOT NULL
    GROUP BY 1, 2, 3, 4;
INSERT INTO credential_sources
    SELECT username, COALESCE(password, ''), password IS NULL, src_ip, MAX(ts)
    FROM events WHERE kind = 'login.attempt' AND username IS NOT NULL
    GROUP BY 1, 2, 3, 4;
INSERT INTO credentials_total
    SELECT h.username, h.password, h.no_password, SUM(h.attempts), SUM(h.successes),
           (SELECT COUNT(*) FROM credential_sources s
            WHERE s.username = h.username AND s.password = h.password
              AND s.no_password = h.no_password)
    FROM credentials_hourly h GROUP BY 1, 2, 3;
INSERT INTO commands_hourly
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), command, COUNT(*)
    FROM events WHERE kind = 'command.input' AND command IS NOT NULL
    GROUP BY 1, 2;
INSERT INTO command_sources
    SELECT command, src_ip, MAX(ts) FROM events
    WHERE kind = 'command.input' AND command IS NOT NULL
    GROUP BY 1, 2;
INSERT INTO commands_total
    SELECT h.command, SUM(h.count),
           (SELECT COUNT(*) FROM command_sources s WHERE s.command = h.command)
    FROM commands_hourly h GROUP BY 1;
INSERT INTO downloads_hourly
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), sha256, COUNT(*),
           MIN(ts), MAX(ts), MAX(size)
    FROM events WHERE kind = 'file.download' AND sha256 IS NOT NULL
    GROUP BY 1, 2;
INSERT INTO downloads_total
    SELECT sha256, SUM(count), MIN(first_seen), MAX(last_seen), MAX(size)
    FROM downloads_hourly GROUP BY 1;
INSERT INTO download_sources
    SELECT sha256, src_ip, MAX(ts) FROM events
    WHERE kind = 'file.download' AND sha256 IS NOT NULL
    GROUP BY 1, 2;
INSERT INTO download_urls
    SELECT sha256, url, MAX(ts) FROM events
    WHERE kind = 'file.download' AND sha256 IS NOT NULL AND url IS NOT NULL
    GROUP BY 1, 2;
INSERT INTO attackers_hourly
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), src_ip, COUNT(*),
           COUNT(*) FILTER (WHERE kind = 'login.attempt'),
           COUNT(*) FILTER (WHERE kind = 'command.input'),
           MIN(ts), MAX(ts), MAX(country), MAX(asn)
    FROM events GROUP BY 1, 2;
