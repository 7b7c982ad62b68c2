-- Uploads (`file.upload`) are captured files as downloads are: the downloads views count
-- them (`uploads` of `count`) and list the names they were given. HTTP attack requests
-- are commands, with the classifier's labels.
ALTER TABLE downloads_hourly ADD COLUMN uploads INTEGER NOT NULL DEFAULT 0;
ALTER TABLE downloads_total ADD COLUMN uploads INTEGER NOT NULL DEFAULT 0;

CREATE TABLE upload_names (
    sha256     TEXT    NOT NULL,
    filename   TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (sha256, filename)
) WITHOUT ROWID;
CREATE INDEX upload_names_seen ON upload_names (sha256, last_seen);

CREATE TABLE command_labels (
    command    TEXT    NOT NULL,
    label      TEXT    NOT NULL,
    last_seen  INTEGER NOT NULL,
    PRIMARY KEY (command, label)
) WITHOUT ROWID;
CREATE INDEX command_labels_seen ON command_labels (command, last_seen);

-- Fold everything again (derived data; queries answer from the events meanwhile). The
-- files' facts stay: `hpti analysis rescan` writes them too.
DELETE FROM sessions;
DELETE FROM attackers;
DELETE FROM attackers_hourly;
DELETE FROM credentials_hourly;
DELETE FROM credentials_total;
DELETE FROM credential_sources;
DELETE FROM commands_hourly;
DELETE FROM commands_total;
DELETE FROM command_sources;
DELETE FROM downloads_hourly;
DELETE FROM downloads_total;
DELETE FROM download_sources;
DELETE FROM download_urls;
DELETE FROM kinds_hourly;
UPDATE fold_cursor SET folded_seq = 0;
