-- An HTTP request the classifier labelled as an attack is a command (`METHOD target`) in
-- the commands views, as `EventKind::attempted_command` says; requests stored before
-- this migration get the column that new ones are written with. A label of only the
-- client (`scanner:`, `tool:`) attempts nothing.
UPDATE events
SET command = json_extract(doc, '$.data.method') || ' ' || url
WHERE kind = 'http.request' AND command IS NULL AND url IS NOT NULL
  AND EXISTS (SELECT 1 FROM json_each(doc, '$.data.labels') l
              WHERE l.value NOT LIKE 'scanner:%' AND l.value NOT LIKE 'tool:%');
