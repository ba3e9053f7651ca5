-- What each plugin stores, kept as a running total so the storage quota is checked with one
-- lookup instead of a sum over every key the plugin owns (which let a plugin with many keys
-- make every storage.set slow). Triggers keep it exact whoever writes plugin_kv: host calls,
-- `leads forget`, removing a plugin.
CREATE TABLE plugin_kv_usage (
    plugin TEXT PRIMARY KEY REFERENCES plugins(name) ON DELETE CASCADE,
    bytes  INTEGER NOT NULL
);

INSERT INTO plugin_kv_usage (plugin, bytes)
    SELECT plugin, sum(length(CAST(key AS BLOB)) + length(value)) FROM plugin_kv GROUP BY plugin;

CREATE TRIGGER plugin_kv_usage_insert AFTER INSERT ON plugin_kv BEGIN
    INSERT INTO plugin_kv_usage (plugin, bytes)
        VALUES (new.plugin, length(CAST(new.key AS BLOB)) + length(new.value))
        ON CONFLICT (plugin) DO UPDATE SET bytes = bytes + excluded.bytes;
END;

CREATE TRIGGER plugin_kv_usage_update AFTER UPDATE OF value ON plugin_kv BEGIN
    UPDATE plugin_kv_usage SET bytes = bytes + length(new.value) - length(old.value)
        WHERE plugin = new.plugin;
END;

CREATE TRIGGER plugin_kv_usage_delete AFTER DELETE ON plugin_kv BEGIN
    UPDATE plugin_kv_usage SET bytes = bytes - length(CAST(old.key AS BLOB)) - length(old.value)
        WHERE plugin = old.plugin;
END;
