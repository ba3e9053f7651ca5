-- What each hook call cost: on its result (the last attempt's), and summed per plugin.
ALTER TABLE event_results ADD COLUMN wall_us INTEGER;
ALTER TABLE event_results ADD COLUMN fuel INTEGER;
ALTER TABLE event_results ADD COLUMN peak_memory INTEGER;

CREATE TABLE plugin_usage (
    plugin      TEXT PRIMARY KEY,
    calls       INTEGER NOT NULL,
    failures    INTEGER NOT NULL,
    wall_us     INTEGER NOT NULL,
    fuel        INTEGER NOT NULL,
    max_memory  INTEGER NOT NULL,
    -- calls per wall-time bucket, {"<bucket>": calls}; see store/usage.rs
    histogram   TEXT NOT NULL
);
