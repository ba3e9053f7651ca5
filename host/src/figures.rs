//! Measured figures (times, fuel, memory) as people read them, on the terminal and in the
//! console alike.

/// Microseconds as people read them: `850 µs`, `12.3 ms`, `4.1 s`.
pub fn duration_us(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.1} s", us as f64 / 1e6),
    }
}

/// Bytes as people read them: `900 B`, `64 KiB`, `1.1 MiB`.
pub fn bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        1024..1_048_576 => format!("{} KiB", n / 1024),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}

/// A count of fuel as people read it: `950`, `12.3k`, `4.5M`.
pub fn fuel(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// One hook call's cost on one line: `1.2 ms, 35.0k fuel, 1.1 MiB`.
pub fn call_cost(cost: &crate::store::usage::CallCost) -> String {
    format!(
        "{}, {} fuel, {}",
        duration_us(cost.wall_us),
        fuel(cost.fuel),
        bytes(cost.peak_memory)
    )
}
