-- Retention keeps an event while a queued message names it; this finds those messages
-- without reading the outbox.
CREATE INDEX outbox_queued_by_event ON outbox (event_id) WHERE status = 'queued';
-- Databases older than this version deleted rows without secure_delete: their free pages
-- may still hold erased values. Opening one VACUUMs it once after this migration
-- (store::Db::open), which rewrites the file without them.
