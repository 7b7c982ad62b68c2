-- The overview's addresses active at or after a time (`EventQueries::overview`): those
-- last seen at or after it.
CREATE INDEX attackers_seen ON attackers (last_seen);
