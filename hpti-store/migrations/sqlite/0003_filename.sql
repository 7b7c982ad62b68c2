-- `file.upload` events stored their file name in `url` before this migration; an upload
-- has no URL, so the name gets its own column and `url` stays NULL for uploads. Rows
-- written before are moved over, so `url` means a URL in every row.
ALTER TABLE events ADD COLUMN filename TEXT;
UPDATE events SET filename = url, url = NULL WHERE kind = 'file.upload';
