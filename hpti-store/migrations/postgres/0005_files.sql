-- What is known about each captured file (as in SQLite's summaries): the latest analysis
-- of its bytes and the latest VirusTotal file report, folded from the events'
-- enrichments (or written by `hpti analysis rescan`).
CREATE TABLE files (
    sha256          text COLLATE "C" PRIMARY KEY,
    analysed        timestamptz,
    file_type       text COLLATE "C",
    mime            text COLLATE "C",
    file_category   text COLLATE "C",
    arch            text COLLATE "C",
    is_previewable  boolean,
    yara_matches    text COLLATE "C",      -- JSON array of rule names
    vt_checked      timestamptz,
    vt_detections   bigint,
    vt_total        bigint,
    vt_threat_label text COLLATE "C"
);

-- The latest download of each file.
ALTER TABLE downloads_total ADD COLUMN last_session text COLLATE "C";
ALTER TABLE downloads_total ADD COLUMN last_src_ip inet;
ALTER TABLE downloads_total ADD COLUMN last_url text COLLATE "C";
-- Filled from the events (a file's downloads are found by the sha256 index).
UPDATE downloads_total t SET (last_session, last_src_ip, last_url) = (
    SELECT e.session, e.src_ip, e.url FROM events e
    WHERE e.sha256 = t.sha256 AND e.kind = 'file.download'
    ORDER BY e.ts DESC, e.id DESC LIMIT 1);

-- The fold reads a file event's enrichment (its analysis and VirusTotal report).
ALTER TABLE fold_queue ADD COLUMN enrichment_id bigint;

-- The store's position for the API's cache: advanced once per stored batch (a sequence:
-- no row lock for concurrent writers to queue on), read with `last_value`.
CREATE SEQUENCE hpti_position;

-- Events per hour and kind, for the timeseries: a chart of a day reads 24 rows a kind.
-- Filled from the events stored so far, less those still queued for the fold (which will
-- add them).
CREATE TABLE kinds_hourly (
    hour   timestamptz      NOT NULL,
    kind   text COLLATE "C" NOT NULL,
    count  bigint           NOT NULL,
    PRIMARY KEY (hour, kind)
);
INSERT INTO kinds_hourly (hour, kind, count)
SELECT hour, kind, SUM(n) FROM (
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS hour, kind,
           COUNT(*) AS n
    FROM events GROUP BY 1, 2
    UNION ALL
    SELECT date_bin('1 hour', ts, TIMESTAMPTZ '2000-01-01 00:00:00+00'), kind, -COUNT(*)
    FROM fold_queue GROUP BY 1, 2) AS counted
GROUP BY 1, 2
HAVING SUM(n) > 0;
