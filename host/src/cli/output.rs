//! Printing for people and for programs: `--json` output and aligned text tables.
//!
//! Stored text came from plugins, leads, CSV files and webhooks, so everything printed for
//! people goes through [`safe`]: a control character or bidi override shows as an escape
//! (`\u{1b}`) instead of acting on the terminal. `--json` needs nothing more, as JSON
//! escapes control characters itself.

use std::borrow::Cow;

use serde::Serialize;

pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `text` with every control character and bidi override escaped, for one terminal line.
pub fn safe(text: &str) -> Cow<'_, str> {
    crate::text::terminal_safe(text)
}

/// Prints rows as columns padded to their widest cell, every cell escaped with [`safe`].
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let header: Vec<Cow<'_, str>> = header.iter().map(|h| safe(h)).collect();
    let rows: Vec<Vec<Cow<'_, str>>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| safe(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[Cow<'_, str>]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(&header);
    for row in &rows {
        line(row);
    }
}

/// The value, escaped with [`safe`], or `-` when there is none.
pub fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".into(), |v| safe(&v.to_string()).into_owned())
}

pub use crate::figures::{bytes, call_cost, duration_us, fuel};
