-- The alert manager's state: the alerts, the last notification of each group to each
-- notifier, and silences. Each row's `doc` is the record's JSON (text: attacker-chosen
-- strings may hold what jsonb refuses); the other columns are what queries use.
CREATE TABLE alerts (
    fingerprint text COLLATE "C" PRIMARY KEY,
    rule        text        NOT NULL,
    firing      boolean     NOT NULL,
    updated_at  timestamptz NOT NULL,
    doc         text        NOT NULL
);
CREATE INDEX alerts_updated ON alerts (updated_at);
CREATE INDEX alerts_firing_updated ON alerts (firing, updated_at);

-- `group_digest` is the SHA-256 (hex) of the group key, which holds attacker-chosen
-- label values (text PostgreSQL cannot store, such as NUL, is kept in `doc` only).
CREATE TABLE notifications (
    group_digest  text        NOT NULL,
    receiver    text        NOT NULL,
    sent_at     timestamptz NOT NULL,
    doc         text        NOT NULL,
    PRIMARY KEY (group_digest, receiver)
);

CREATE TABLE silences (
    id          text COLLATE "C" PRIMARY KEY,
    ends_at     timestamptz NOT NULL,
    doc         text        NOT NULL
);
