-- Uploads (`file.upload`) are captured files as downloads are: the downloads views count
-- them (`uploads` of `count`) and list the names they were given. An HTTP request the
-- classifier labelled as an attack is a command (`METHOD target`) with its labels, as
-- `EventKind::attempted_command` says (a label of only the client, `scanner:` or
-- `tool:`, attempts nothing). As in SQLite.

-- Requests stored before get the column new ones are written with.
UPDATE events
SET command = (doc->'data'->>'method') || ' ' || url
WHERE kind = 'http.request' AND command IS NULL AND url IS NOT NULL
  AND EXISTS (SELECT 1 FROM json_array_elements_text(
                  CASE WHEN json_typeof(doc->'data'->'labels') = 'array'
                       THEN doc->'data'->'labels' END) AS l(label)
              WHERE l.label NOT LIKE 'scanner:%' AND l.label NOT LIKE 'tool:%');

ALTER TABLE fold_queue ADD COLUMN filename text COLLATE "C";
ALTER TABLE fold_queue ADD COLUMN labels json;
ALTER TABLE downloads_hourly ADD COLUMN uploads bigint NOT NULL DEFAULT 0;
ALTER TABLE downloads_total ADD COLUMN uploads bigint NOT NULL DEFAULT 0;

CREATE TABLE upload_names (
    sha256     text COLLATE "C" NOT NULL,
    filename   text COLLATE "C" NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (sha256, filename)
);
CREATE INDEX upload_names_seen ON upload_names (sha256, last_seen);

CREATE TABLE command_labels (
    command    text COLLATE "C" NOT NULL,
    label      text COLLATE "C" NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (command, label)
);
CREATE INDEX command_labels_seen ON command_labels (command, last_seen);

-- Fold everything again: the summaries are derived from the events, and the folder
-- works the queue off in bounded steps. The files' facts stay (`hpti analysis rescan`
-- writes them too).
TRUNCATE sessions, attackers, attackers_hourly, credentials_hourly, credentials_total,
         credential_sources, commands_hourly, commands_total, command_sources,
         downloads_hourly, downloads_total, download_sources, download_urls, kinds_hourly,
         fold_queue;
INSERT INTO fold_queue
    SELECT ts, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, kind,
           username, password, success, command, url, sha256, size, country, asn,
           duration_ms, client_version,
           CASE WHEN sha256 IS NOT NULL THEN enrichment_id END, filename,
           CASE WHEN kind = 'http.request' AND command IS NOT NULL
                THEN doc->'data'->'labels' END
    FROM events;
