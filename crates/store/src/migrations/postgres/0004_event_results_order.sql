-- The order plugins' results were first written in, which SQLite reads from the rowid
-- (`Conn::insertion_order`). Not part of the shared schema: tests/postgres_schema.rs
-- leaves it out of the comparison.
ALTER TABLE event_results ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
