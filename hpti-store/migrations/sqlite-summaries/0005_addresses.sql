-- One address's detail (`hpti query attacker`, the API's `/attackers/{ip}`, the
-- dashboard's attacker page) and its events (`/events?src_ip=`) without scanning every
-- event of its first-to-last-seen span: the events table has no (src_ip) index on
-- purpose (it costs the event writer ~40% of its rate), so the fold keeps what an
-- address's detail reads, keyed by address, off the event write path.
--
-- * The per-(key, address) pairs carry their counts: an address's credentials and
--   commands are its rows of `credential_sources` / `command_sources`.
-- * `address_events`: every event's (hour, address, time, seq): an address's events of
--   an hour are one index seek, and its events in time order one seek per hour of its
--   first-to-last-seen span. The hour leads the key so that a fold step writes the
--   pages of an hour or two, not a page per address it saw. About 40 bytes an event,
--   against ~500 for the event itself.
-- * `address_captures`: the seq of each captured file's event, per address.
-- * `address_command_labels`: the classifier's labels of each address's HTTP requests.
-- * `address_enrichments`: each distinct enrichment an address's events carried, with
--   when it was last seen (`legacy_doc` for events stored before the enrichments table,
--   whose enrichment is inside their `doc`).
ALTER TABLE credential_sources ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE credential_sources ADD COLUMN successes INTEGER NOT NULL DEFAULT 0;
CREATE INDEX credential_sources_address ON credential_sources (src_ip);

ALTER TABLE command_sources ADD COLUMN count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX command_sources_address ON command_sources (src_ip);

CREATE TABLE address_events (
    hour    INTEGER NOT NULL,
    src_ip  TEXT    NOT NULL,
    ts      INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (hour, src_ip, ts, seq)
) WITHOUT ROWID;

CREATE TABLE address_captures (
    src_ip  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (src_ip, seq)
) WITHOUT ROWID;

CREATE TABLE address_command_labels (
    src_ip     TEXT    NOT NULL,
    command    TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (src_ip, command, label)
) WITHOUT ROWID;

CREATE TABLE address_enrichments (
    src_ip         TEXT    NOT NULL,
    enrichment_id  INTEGER NOT NULL,   -- 0 with `legacy_doc`
    legacy_doc     TEXT    NOT NULL,   -- '' with an `enrichment_id`
    last_seen      INTEGER NOT NULL,
    PRIMARY KEY (src_ip, enrichment_id, legacy_doc)
) WITHOUT ROWID;

-- The overview's spread of a window's attackers (`EventQueries::overview`): the addresses
-- active at or after a time are those last seen at or after it; client versions
-- announced per hour.
CREATE INDEX attackers_seen ON attackers (last_seen);
CREATE TABLE client_versions_hourly (
    hour      INTEGER NOT NULL,
    version   TEXT    NOT NULL,
    sessions  INTEGER NOT NULL,
    PRIMARY KEY (hour, version)
) WITHOUT ROWID;

-- Fold everything again (derived data); the files' facts stay.
DELETE FROM sessions;
DELETE FROM attackers;
DELETE FROM attackers_hourly;
DELETE FROM credentials_hourly;
DELETE FROM credentials_total;
DELETE FROM credential_sources;
DELETE FROM commands_hourly;
DELETE FROM commands_total;
DELETE FROM command_sources;
DELETE FROM command_labels;
DELETE FROM downloads_hourly;
DELETE FROM downloads_total;
DELETE FROM download_sources;
DELETE FROM download_urls;
DELETE FROM upload_names;
DELETE FROM kinds_hourly;
UPDATE fold_cursor SET folded_seq = 0;
