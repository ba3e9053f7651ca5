-- The account leads belong to until the user adds their own, as SQLite's 0003 makes it.
-- Its id is given, so the identity that numbers the next account starts after it.
INSERT INTO accounts (id, name, channel, created_at) VALUES (1, 'default', 'sandbox', 0)
    ON CONFLICT DO NOTHING;
SELECT setval(pg_get_serial_sequence('accounts', 'id'), (SELECT max(id) FROM accounts));
