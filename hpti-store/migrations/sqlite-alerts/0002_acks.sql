-- An alert's acknowledgement (JSON) has a column of its own: the alert manager writes
-- alerts from memory without reading them, and must not undo an `hpti alert ack` made in
-- the meantime. Rows written before keep theirs in `doc` until their next save.
ALTER TABLE alerts ADD COLUMN acked TEXT;
