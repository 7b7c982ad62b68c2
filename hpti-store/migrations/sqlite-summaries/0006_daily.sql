-- Daily rollups of the three rankings whose hourly rows are many per hour (one per
-- address, per credential, per command line), so that a window of days reads one row
-- per key and day instead of one per key and hour: a 30-day window of 5,000 recurring
-- addresses reads 150,000 rows instead of 3,600,000. A window reads its whole days
-- (`day` = the UTC day's first microsecond) here, the hours before its first whole day
-- from the hourly rows and its partial first hour from the events.
--
-- Folded in the same transaction as the hourly rows, so both always hold the same
-- events; filled here from the hourly rows, which are exact at the fold cursor.

CREATE TABLE attackers_daily (
    day             INTEGER NOT NULL,
    src_ip          TEXT    NOT NULL,
    events          INTEGER NOT NULL,
    login_attempts  INTEGER NOT NULL,
    commands        INTEGER NOT NULL,
    first_seen      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL,
    country         TEXT,
    asn             INTEGER,
    PRIMARY KEY (day, src_ip)
) WITHOUT ROWID;

CREATE TABLE credentials_daily (
    day          INTEGER NOT NULL,
    username     TEXT    NOT NULL,
    password     TEXT    NOT NULL,
    no_password  INTEGER NOT NULL,
    attempts     INTEGER NOT NULL,
    successes    INTEGER NOT NULL,
    PRIMARY KEY (day, username, password, no_password)
) WITHOUT ROWID;

CREATE TABLE commands_daily (
    day      INTEGER NOT NULL,
    command  TEXT    NOT NULL,
    count    INTEGER NOT NULL,
    PRIMARY KEY (day, command)
) WITHOUT ROWID;

INSERT INTO attackers_daily
SELECT hour - ((hour % 86400000000) + 86400000000) % 86400000000, src_ip,
       SUM(events), SUM(login_attempts), SUM(commands), MIN(first_seen), MAX(last_seen),
       MAX(country), MAX(asn)
FROM attackers_hourly
GROUP BY 1, 2;

INSERT INTO credentials_daily
SELECT hour - ((hour % 86400000000) + 86400000000) % 86400000000, username, password,
       no_password, SUM(attempts), SUM(successes)
FROM credentials_hourly
GROUP BY 1, 2, 3, 4;

INSERT INTO commands_daily
SELECT hour - ((hour % 86400000000) + 86400000000) % 86400000000, command, SUM(count)
FROM commands_hourly
GROUP BY 1, 2;
