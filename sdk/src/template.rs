//! Message templates filled from a lead: `{var}` and `{var|fallback}`.

use crate::Lead;

/// Renders `template` for `lead`.
///
/// `{var}` is replaced by the variable `var`: `first_name`, `name`, `handle`, or else the
/// lead's custom field of that key. `{var|fallback}` uses `fallback` when the variable is
/// missing or blank; without a fallback such a variable renders as nothing. `{{` is a
/// literal `{`, and a `{` that is never closed is kept as it is.
pub fn render(template: &str, lead: &Lead) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        if let Some(escaped) = after.strip_prefix('{') {
            out.push('{');
            rest = escaped;
            continue;
        }
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let (name, fallback) = after[..close]
            .split_once('|')
            .unwrap_or((&after[..close], ""));
        let value = variable(lead, name.trim())
            .map(str::trim)
            .filter(|v| !v.is_empty());
        out.push_str(value.unwrap_or(fallback));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn variable<'a>(lead: &'a Lead, name: &str) -> Option<&'a str> {
    match name {
        "first_name" => lead.first_name(),
        "name" => lead.name.as_deref(),
        "handle" => Some(&lead.handle),
        key => lead.field(key),
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::render;
    use crate::testing::lead;

    #[test]
    fn fills_variables_and_fallbacks() {
        let mut ana = lead(1, "ana.fit");
        assert_eq!(
            render("Hi {first_name|there}, {name}!", &ana),
            "Hi there, !"
        );
        ana.name = Some("  Ana Lima ".into());
        ana.custom_fields = vec![("City".into(), "Porto".into()), ("bio".into(), " ".into())];
        assert_eq!(
            render(
                "Hi {first_name|there} ({ name }, @{handle}) from {city}{bio|!}",
                &ana
            ),
            "Hi Ana (Ana Lima, @ana.fit) from Porto!"
        );
    }

    #[test]
    fn escapes_and_unclosed_braces_stay_literal() {
        let ana = lead(1, "ana.fit");
        assert_eq!(render("{{handle} {{{handle}}", &ana), "{handle} {ana.fit}");
        assert_eq!(render("50% off {handle", &ana), "50% off {handle");
        assert_eq!(render("{unknown|a|b}", &ana), "a|b");
    }
}
