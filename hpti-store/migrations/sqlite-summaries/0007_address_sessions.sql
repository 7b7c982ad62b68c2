-- Each address's sessions by the UTC day of their last event, so that a window's session
-- count per address (the attackers list) reads one row per address and whole day, and
-- only the sessions last seen before the window's first whole day from `sessions`: a
-- 30-day list of 5,000 addresses read 1.3 M index entries of `sessions (src_ip,
-- last_seen)` for it. A session is in a window from `since` on exactly when it was last
-- seen at or after `since`, so the count is exact. The fold moves a session to its new
-- day when its last event moves past midnight.
CREATE TABLE address_sessions_daily (
    src_ip    TEXT    NOT NULL,
    day       INTEGER NOT NULL,
    sessions  INTEGER NOT NULL,
    PRIMARY KEY (src_ip, day)
) WITHOUT ROWID;

INSERT INTO address_sessions_daily
SELECT src_ip, last_seen - ((last_seen % 86400000000) + 86400000000) % 86400000000, COUNT(*)
FROM sessions
GROUP BY 1, 2;
