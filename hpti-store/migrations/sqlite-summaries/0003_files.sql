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
-- Stores folded before this migration: the address and URL last seen (the session is not
-- kept in the summaries, so it stays unknown until the file is downloaded again).
UPDATE downloads_total SET
    last_src_ip = (SELECT src_ip FROM download_sources p
                   WHERE p.sha256 = downloads_total.sha256
                   ORDER BY p.last_seen DESC, p.src_ip LIMIT 1),
    last_url = (SELECT url FROM download_urls p
                WHERE p.sha256 = downloads_total.sha256
                ORDER BY p.last_seen DESC, p.url LIMIT 1);
