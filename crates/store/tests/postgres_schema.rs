//! The PostgreSQL schema (`src/migrations/postgres/`) describes the same database as SQLite's
//! migrations (`src/migrations/sqlite/`, as `Db` applies them): the same tables; columns with
//! their kind, NOT NULL and default; primary, unique and foreign keys; indexes with their
//! columns, uniqueness and whether they are partial; triggers, and what the storage-usage
//! triggers count. CHECK constraints are not compared (PostgreSQL rewrites their text).
//!
//! Run against a real server: `./test.sh` starts one (`outreach_store::testing`).

use std::collections::BTreeSet;

use outreach_store::Db;
use outreach_store::testing::PostgresScratch;

/// SQLite's declared type, PostgreSQL's data type: one of integer, text, blob.
fn kind(declared: &str) -> &'static str {
    match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        "text" => "text",
        "blob" | "bytea" => "blob",
        other => panic!("a column of type {other}: say what it is on the other database"),
    }
}

/// A column default as both databases would write it: PostgreSQL's `'new'::text` is `'new'`.
fn default(value: Option<String>) -> String {
    let value = value.unwrap_or_default();
    match value.split_once("::") {
        Some((literal, _cast)) => literal.to_owned(),
        None => value,
    }
}

fn on_delete(action: &str) -> &'static str {
    match action {
        "CASCADE" | "c" => "cascade",
        "NO ACTION" | "a" => "no action",
        other => panic!("ON DELETE {other}: say what it is on the other database"),
    }
}

fn sqlite_schema() -> BTreeSet<String> {
    let db = Db::open_in_memory().expect("SQLite's migrations apply");
    db.read(|conn| {
        let conn = conn.as_sqlite().expect("a SQLite store");
        let mut facts = BTreeSet::new();
        let strings = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> rusqlite::Result<Vec<Vec<Option<String>>>> {
            let mut statement = conn.prepare(sql)?;
            let width = statement.column_count();
            let rows = statement.query_map(params, |row| {
                (0..width)
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Null => None,
                            rusqlite::types::ValueRef::Integer(n) => Some(n.to_string()),
                            rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                            other => Some(format!("{other:?}")),
                        })
                    })
                    .collect()
            })?;
            rows.collect()
        };
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        let tables = strings(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            &[],
        )?;
        for table in tables.iter().map(|row| text(&row[0])) {
            let mut primary = Vec::new();
            for column in strings("SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1)", &[&table])? {
                let (name, declared, not_null, dflt, pk) =
                    (text(&column[0]), text(&column[1]), text(&column[2]), column[3].clone(), text(&column[4]));
                let not_null = not_null == "1" || pk != "0";
                facts.insert(format!("column {table}.{name} {} not-null={not_null} default={}", kind(&declared), default(dflt)));
                if pk != "0" {
                    primary.push((pk.parse::<u32>().unwrap(), name));
                }
            }
            primary.sort();
            let primary: Vec<_> = primary.into_iter().map(|(_, name)| name).collect();
            facts.insert(format!("primary key {table} ({})", primary.join(", ")));
            for index in strings("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1)", &[&table])? {
                let (name, unique, origin, partial) = (text(&index[0]), text(&index[1]), text(&index[2]), text(&index[3]));
                let columns: Vec<String> = strings("SELECT name FROM pragma_index_info(?1) ORDER BY seqno", &[&name])?
                    .iter()
                    .map(|row| row[0].clone().unwrap_or_else(|| "<expression>".into()))
                    .collect();
                match origin.as_str() {
                    "pk" => {}
                    "u" => {
                        facts.insert(format!("unique {table} ({})", columns.join(", ")));
                    }
                    _ => {
                        facts.insert(format!(
                            "index {name} on {table} ({}) unique={} partial={}",
                            columns.join(", "),
                            unique == "1",
                            partial == "1"
                        ));
                    }
                }
            }
            let mut keys: std::collections::BTreeMap<String, (Vec<String>, String, Vec<String>, String)> = Default::default();
            for key in strings("SELECT id, \"table\", \"from\", \"to\", on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq", &[&table])? {
                let entry = keys.entry(text(&key[0])).or_insert_with(|| (Vec::new(), text(&key[1]), Vec::new(), text(&key[4])));
                entry.0.push(text(&key[2]));
                entry.2.push(text(&key[3]));
            }
            for (from, to_table, to, action) in keys.into_values() {
                facts.insert(format!(
                    "foreign key {table} ({}) references {to_table} ({}) on delete {}",
                    from.join(", "),
                    to.join(", "),
                    on_delete(&action)
                ));
            }
        }
        for trigger in strings("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'", &[])? {
            facts.insert(format!("trigger {} on {}", text(&trigger[0]), text(&trigger[1])));
        }
        Ok(facts)
    })
    .unwrap()
}

fn postgres_schema(scratch: &PostgresScratch) -> BTreeSet<String> {
    let mut facts = BTreeSet::new();
    for row in scratch.run(
        "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '')
         FROM information_schema.columns WHERE table_schema = 'public'",
    ) {
        if (row[0].as_str(), row[1].as_str()) == ("event_results", "seq") {
            // PostgreSQL's stand-in for SQLite's rowid (`Conn::insertion_order`).
            continue;
        }
        let not_null = row[3] == "NO";
        let dflt = (!row[4].is_empty()).then(|| row[4].clone());
        facts.insert(format!(
            "column {}.{} {} not-null={not_null} default={}",
            row[0],
            row[1],
            kind(&row[2]),
            default(dflt)
        ));
    }
    // Columns of a key or an index, in order; an expression is `<expression>`.
    let columns = |relation: &str, numbers: &str| {
        format!(
            "(SELECT string_agg(CASE WHEN k.n = 0 THEN '<expression>' ELSE a.attname END, ', ' ORDER BY k.i)
              FROM unnest({numbers}) WITH ORDINALITY AS k(n, i)
              LEFT JOIN pg_attribute a ON a.attrelid = {relation} AND a.attnum = k.n)"
        )
    };
    let constraints = format!(
        "SELECT c.contype, c.conrelid::regclass::text, {}, coalesce(c.confrelid::regclass::text, ''), coalesce({}, ''), c.confdeltype
         FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace AND c.contype IN ('p', 'u', 'f')",
        columns("c.conrelid", "c.conkey"),
        columns("c.confrelid", "c.confkey")
    );
    for row in scratch.run(&constraints) {
        let (table, from) = (&row[1], &row[2]);
        facts.insert(match row[0].as_str() {
            "p" => format!("primary key {table} ({from})"),
            "u" => format!("unique {table} ({from})"),
            _ => format!(
                "foreign key {table} ({from}) references {} ({}) on delete {}",
                row[3],
                row[4],
                on_delete(&row[5])
            ),
        });
    }
    let indexes = format!(
        "SELECT i.relname, t.relname, {}, ix.indisunique, ix.indpred IS NOT NULL
         FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid
         WHERE t.relnamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = ix.indexrelid)",
        columns("ix.indrelid", "ix.indkey::int2[]")
    );
    for row in scratch.run(&indexes) {
        facts.insert(format!(
            "index {} on {} ({}) unique={} partial={}",
            row[0],
            row[1],
            row[2],
            row[3] == "t",
            row[4] == "t"
        ));
    }
    for row in
        scratch.run("SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal")
    {
        facts.insert(format!("trigger {} on {}", row[0], row[1]));
    }
    facts
}

#[test]
fn postgres_and_sqlite_migrations_describe_the_same_schema() {
    let scratch = PostgresScratch::create("schema");
    let sqlite = sqlite_schema();
    let postgres = postgres_schema(&scratch);
    assert!(
        sqlite.len() > 150,
        "the SQLite schema was read: {} facts",
        sqlite.len()
    );
    let only_sqlite: Vec<_> = sqlite.difference(&postgres).collect();
    let only_postgres: Vec<_> = postgres.difference(&sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "the two schemas differ.\nonly on SQLite:\n  {}\nonly on PostgreSQL:\n  {}",
        only_sqlite
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n  "),
        only_postgres
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The storage quota is enforced from `plugin_kv_usage`, which triggers keep on both
/// databases: the same writes leave the same total.
#[test]
fn storage_usage_is_counted_alike_on_both_databases() {
    let scratch = PostgresScratch::create("usage");
    // The same statements but for a blob literal, which the two spell differently.
    let steps = |blob: fn(&str) -> String| {
        vec![
            "INSERT INTO plugins (name, version, description, manifest, wasm, sha256, position, installed_at) \
             VALUES ('p', '1', '', '', ".to_owned() + &blob("w") + ", '', 1, 0)",
            format!("INSERT INTO plugin_kv (plugin, key, value) VALUES ('p', 'k1', {})", blob("hello")),
            format!("UPDATE plugin_kv SET value = {} WHERE key = 'k1'", blob("hi!")),
            format!("INSERT INTO plugin_kv (plugin, key, value) VALUES ('p', 'kë', {})", blob("x")),
            "DELETE FROM plugin_kv WHERE key = 'k1'".to_owned(),
        ]
    };
    let usage = "SELECT bytes FROM plugin_kv_usage WHERE plugin = 'p'";
    let db = Db::open_in_memory().unwrap();
    let mut sqlite_totals = Vec::new();
    let mut postgres_totals = Vec::new();
    let sqlite_steps = steps(|text| format!("CAST('{text}' AS BLOB)"));
    let postgres_steps = steps(|text| format!("convert_to('{text}', 'UTF8')"));
    for (sqlite_sql, postgres_sql) in sqlite_steps.iter().zip(&postgres_steps) {
        sqlite_totals.push(
            db.write(|conn| {
                conn.execute_batch(sqlite_sql)?;
                Ok(conn
                    .query_row(usage, [], |row| row.get::<_, Option<i64>>(0))
                    .unwrap_or(None))
            })
            .unwrap(),
        );
        scratch.run(postgres_sql);
        postgres_totals.push(
            scratch
                .run(usage)
                .first()
                .map(|row| row[0].parse::<i64>().unwrap()),
        );
    }
    // 'k1' + "hello" = 7; "hi!" = 5 in all; 'kë' (3 bytes) + "x" = 4 more; without 'k1', 4.
    assert_eq!(sqlite_totals, [None, Some(7), Some(5), Some(9), Some(4)]);
    assert_eq!(postgres_totals, sqlite_totals);
}
