//! What hook calls cost, per plugin: a running total and a histogram of wall time kept as
//! each call is recorded, so `plugin list` reads a few rows per plugin however many calls
//! there were.

use std::collections::BTreeMap;

use crate::sql::{Conn, OptionalExtension, params};
use serde::Serialize;

/// What one hook call cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCost {
    /// Wall-clock time, instantiation included, in microseconds.
    pub wall_us: u64,
    /// Fuel (wasm instructions, roughly) the call burnt.
    pub fuel: u64,
    /// The largest the plugin's linear memory grew to, in bytes.
    pub peak_memory: u64,
}

/// A plugin's calls so far.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PluginUsage {
    pub calls: u64,
    pub failures: u64,
    pub total_wall_us: u64,
    pub total_fuel: u64,
    pub max_memory: u64,
    /// Half the calls took at most this long (to within the histogram's 19 % steps).
    pub p50_wall_us: u64,
    /// 99 in 100 calls took at most this long.
    pub p99_wall_us: u64,
}

/// Buckets per doubling of wall time: a percentile is read to within 2^(1/4), 19 %.
const STEPS_PER_DOUBLING: f64 = 4.0;

fn bucket(wall_us: u64) -> u32 {
    ((wall_us.max(1) as f64).log2() * STEPS_PER_DOUBLING).floor() as u32
}

/// The longest time a bucket holds.
fn bucket_ceiling(bucket: u32) -> u64 {
    2f64.powf(f64::from(bucket + 1) / STEPS_PER_DOUBLING).ceil() as u64
}

/// Adds one call to the plugin's totals: two upserts, nothing read back.
pub fn record(conn: &Conn<'_>, plugin: &str, cost: &CallCost, failed: bool) -> anyhow::Result<()> {
    conn.prepare_cached(
        "INSERT INTO plugin_usage (plugin, calls, failures, wall_us, fuel, max_memory)
         VALUES (?1, 1, ?2, ?3, ?4, ?5)
         ON CONFLICT (plugin) DO UPDATE SET calls = plugin_usage.calls + 1,
           failures = plugin_usage.failures + ?2, wall_us = plugin_usage.wall_us + ?3,
           fuel = plugin_usage.fuel + ?4,
           max_memory = CASE WHEN plugin_usage.max_memory > ?5 THEN plugin_usage.max_memory ELSE ?5 END",
    )?
    .run(params![
        plugin,
        i64::from(failed),
        cost.wall_us as i64,
        cost.fuel as i64,
        cost.peak_memory as i64,
    ])?;
    conn.prepare_cached(
        "INSERT INTO plugin_usage_buckets (plugin, bucket, calls) VALUES (?1, ?2, 1)
         ON CONFLICT (plugin, bucket) DO UPDATE SET calls = plugin_usage_buckets.calls + 1",
    )?
    .run(params![plugin, bucket(cost.wall_us)])?;
    Ok(())
}

/// The plugin's calls so far, if it made any.
pub fn get(conn: &Conn<'_>, plugin: &str) -> anyhow::Result<Option<PluginUsage>> {
    let row = conn
        .prepare_cached(
            "SELECT calls, failures, wall_us, fuel, max_memory FROM plugin_usage
             WHERE plugin = ?1",
        )?
        .query_row([plugin], |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
            ))
        })
        .optional()?;
    let Some((calls, failures, total_wall_us, total_fuel, max_memory)) = row else {
        return Ok(None);
    };
    let histogram: BTreeMap<u32, u64> = conn
        .prepare_cached("SELECT bucket, calls FROM plugin_usage_buckets WHERE plugin = ?1")?
        .query_map([plugin], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
        .collect::<Result<_, _>>()?;
    Ok(Some(PluginUsage {
        calls,
        failures,
        total_wall_us,
        total_fuel,
        max_memory,
        p50_wall_us: percentile(&histogram, 0.50),
        p99_wall_us: percentile(&histogram, 0.99),
    }))
}

/// Forgets a removed plugin's totals.
pub fn remove(conn: &Conn<'_>, plugin: &str) -> anyhow::Result<()> {
    for table in ["plugin_usage", "plugin_usage_buckets"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE plugin = ?1"))?
            .execute([plugin])?;
    }
    Ok(())
}

/// The ceiling of the bucket holding the call at `fraction` of all calls, fastest first.
fn percentile(histogram: &BTreeMap<u32, u64>, fraction: f64) -> u64 {
    let total: u64 = histogram.values().sum();
    let wanted = ((total as f64) * fraction).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (&bucket, &calls) in histogram {
        seen += calls;
        if seen >= wanted {
            return bucket_ceiling(bucket);
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    fn cost(wall_us: u64, peak_memory: u64) -> CallCost {
        CallCost {
            wall_us,
            fuel: 1_000,
            peak_memory,
        }
    }

    #[test]
    fn totals_maximum_and_percentiles_follow_the_calls() {
        let db = Db::open_in_memory().unwrap();
        assert_eq!(db.read(|c| get(c, "p")).unwrap(), None);
        db.write(|tx| {
            for _ in 0..98 {
                record(tx, "p", &cost(400, 1 << 20), false)?;
            }
            record(tx, "p", &cost(50_000, 3 << 20), true)?;
            record(tx, "p", &cost(60_000, 2 << 20), true)
        })
        .unwrap();
        let usage = db.read(|c| get(c, "p")).unwrap().unwrap();
        assert_eq!((usage.calls, usage.failures), (100, 2));
        assert_eq!(usage.total_wall_us, 98 * 400 + 110_000);
        assert_eq!(usage.total_fuel, 100_000);
        assert_eq!(usage.max_memory, 3 << 20);
        // Read to within a 19 % step, never below the true value.
        assert!((400..=476).contains(&usage.p50_wall_us), "{usage:?}");
        assert!((50_000..=59_500).contains(&usage.p99_wall_us), "{usage:?}");
        db.write(|tx| remove(tx, "p")).unwrap();
        assert_eq!(db.read(|c| get(c, "p")).unwrap(), None);
    }

    #[test]
    fn a_bucket_ceiling_is_never_below_what_it_holds() {
        for wall_us in [0, 1, 2, 3, 7, 100, 999, 1_000_000, u32::MAX as u64] {
            assert!(bucket_ceiling(bucket(wall_us)) >= wall_us, "{wall_us}");
        }
    }
}
