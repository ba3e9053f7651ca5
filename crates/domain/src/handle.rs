//! An Instagram handle as the host stores it: bare, lower-case, and only what Instagram
//! allows in one. Every door a handle comes in by (CSV import, the bridge, profile lookups)
//! goes through [`normalize_handle`].

/// Instagram's longest username.
const MAX_HANDLE_LEN: usize = 30;

/// Normalises an Instagram handle, a `@handle` or a profile URL to the bare
/// lower-case handle. `Err` holds a reason fit to show the user.
pub fn normalize_handle(raw: &str) -> Result<String, String> {
    let written = raw.trim();
    let candidate = profile_url_segment(written).unwrap_or(written);
    let candidate = candidate.strip_prefix('@').unwrap_or(candidate);
    let handle = candidate.to_ascii_lowercase();
    if handle.is_empty() {
        return Err("handle is empty".to_owned());
    }
    if !handle
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
    {
        return Err(format!(
            "handle {written:?} has a character other than letters, digits, '.' and '_'"
        ));
    }
    // Only ASCII is left, so bytes and characters agree.
    if handle.len() > MAX_HANDLE_LEN {
        return Err(format!(
            "handle is {} characters, the limit is {MAX_HANDLE_LEN}",
            handle.len()
        ));
    }
    if handle.starts_with('.') {
        return Err(format!("handle {written:?} starts with '.'"));
    }
    if handle.ends_with('.') {
        return Err(format!("handle {written:?} ends with '.'"));
    }
    if handle.contains("..") {
        return Err(format!("handle {written:?} contains \"..\""));
    }
    Ok(handle)
}

/// The first path segment of an `instagram.com` profile link, if `written`
/// is one.
fn profile_url_segment(written: &str) -> Option<&str> {
    let rest = strip_prefix_ignore_case(written, "https://")
        .or_else(|| strip_prefix_ignore_case(written, "http://"))
        .unwrap_or(written);
    let rest = strip_prefix_ignore_case(rest, "www.").unwrap_or(rest);
    let path = strip_prefix_ignore_case(rest, "instagram.com/")?;
    let end = path.find(['/', '?', '#']).unwrap_or(path.len());
    Some(&path[..end])
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}
