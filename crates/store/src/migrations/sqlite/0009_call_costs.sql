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
    max_memory  INTEGER NOT NULL
);

-- Calls per wall-time bucket (see store/usage.rs), for percentiles.
CREATE TABLE plugin_usage_buckets (
    plugin  TEXT NOT NULL,
    bucket  INTEGER NOT NULL,
    calls   INTEGER NOT NULL,
    PRIMARY KEY (plugin, bucket)
) WITHOUT ROWID;
