-- What is known about each captured file, whatever downloaded it: the latest analysis of
-- its bytes (type, category, architecture, YARA matches: `Enrichment.file`, or
-- `hpti analysis rescan`) and the latest VirusTotal file report. Folded from the events'
-- enrichments; `analysed` and `vt_checked` (microseconds) keep an older report from
-- replacing a newer one.
CREATE TABLE files (
    sha256          TEXT    NOT NULL PRIMARY KEY,
    analysed        INTEGER,
    file_type       TEXT,
    mime            TEXT,
    file_category   TEXT,
    arch            TEXT,
    is_previewable  INTEGER,
    yara_matches    TEXT,      -- JSON array of rule names
    vt_checked      INTEGER,
    vt_detections   INTEGER,
    vt_total        INTEGER,
    vt_threat_label TEXT
) WITHOUT ROWID;

-- The latest download of each file: the downloads page shows its session, address and URL.
ALTER TABLE downloads_total ADD COLUMN last_session TEXT;
ALTER TABLE downloads_total ADD COLUMN last_src_ip TEXT;
ALTER TABLE downloads_total ADD COLUMN last_url TEXT;
-- Events per hour and kind, for the timeseries (`/api/v1/stats/timeseries`): a chart of
-- a day reads 24 rows a kind instead of the day's events.
CREATE TABLE kinds_hourly (
    hour   INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (hour, kind)
) WITHOUT ROWID;

-- The new columns and tables start empty: fold everything again (the summaries are
-- derived data; queries answer from the events until the fold has caught up).
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
UPDATE fold_cursor SET folded_seq = 0;
