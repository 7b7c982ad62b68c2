-- The enrichment of an event is the same for every event of an address (until a database
-- or a reputation changes): stored once here and referenced from each event, instead of
-- ~150-300 bytes of JSON repeated in every event's `doc`. Rows are never updated or
-- deleted, so an id always means the same enrichment.
CREATE TABLE enrichments (
    id  INTEGER PRIMARY KEY,
    doc TEXT    NOT NULL UNIQUE
);

-- Events stored before this migration keep their enrichment inside `doc`.
ALTER TABLE events ADD COLUMN enrichment_id INTEGER;

-- Each event with its enrichment as JSON, for ad-hoc SQL.
CREATE VIEW events_enriched AS
    SELECT events.*, enrichments.doc AS enrichment
    FROM events LEFT JOIN enrichments ON enrichments.id = events.enrichment_id;
