-- The alert manager's state (hpti-alerts.db, beside the events): the alerts, the last
-- notification of each group to each notifier, and silences. Each row's `doc` is the
-- record's JSON; the other columns are what the queries select and order by.
-- Times are microseconds since the Unix epoch.
CREATE TABLE alerts (
    fingerprint TEXT    PRIMARY KEY,
    rule        TEXT    NOT NULL,
    firing      INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    doc         TEXT    NOT NULL
);
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE INDEX alerts_firing_updated ON alerts (firing, updated_at);

-- `group_digest` is the SHA-256 (hex) of the group key, which holds attacker-chosen
-- label values (text PostgreSQL cannot store, such as NUL, is kept in `doc` only).
CREATE TABLE notifications (
    group_digest  TEXT    NOT NULL,
    receiver    TEXT    NOT NULL,
    sent_at     INTEGER NOT NULL,
    doc         TEXT    NOT NULL,
    PRIMARY KEY (group_digest, receiver)
);

CREATE TABLE silences (
    id          TEXT    PRIMARY KEY,
    ends_at     INTEGER NOT NULL,
    doc         TEXT    NOT NULL
);
