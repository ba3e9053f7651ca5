//! Message templates filled from a lead: `{var}` and `{var|fallback}`.
//!
//! One source file for plugins and the host: the SDK renders a plugin's templates with it,
//! and the host's domain crate compiles it too (for the console's saved replies), so a
//! template reads the same wherever it is written.

/// What a template can name about a lead.
pub trait Variables {
    /// The lead's display name, if any.
    fn name(&self) -> Option<&str>;
    /// The lead's handle, without `@`.
    fn handle(&self) -> &str;
    /// An imported column (custom field) by key, matched ignoring ASCII case.
    fn field(&self, key: &str) -> Option<&str>;

    /// The first word of the lead's name, if they have a name.
    fn first_name(&self) -> Option<&str> {
        self.name()?.split_whitespace().next()
    }
}

/// Renders `template` for `lead`.
///
/// `{var}` is replaced by the variable `var`: `first_name`, `name`, `handle`, or else the
/// lead's custom field of that key. `{var|fallback}` uses `fallback` when the variable is
/// missing or blank; without a fallback such a variable renders as nothing. `{{` is a
/// literal `{`, and a `{` that is never closed is kept as it is.
pub fn render(template: &str, lead: &impl Variables) -> String {
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

fn variable<'a>(lead: &'a impl Variables, name: &str) -> Option<&'a str> {
    match name {
        "first_name" => lead.first_name(),
        "name" => lead.name(),
        "handle" => Some(lead.handle()),
        key => lead.field(key),
    }
}

#[cfg(test)]
mod tests {
    use super::{Variables, render};

    struct Someone {
        name: Option<&'static str>,
        fields: Vec<(&'static str, &'static str)>,
    }

    impl Variables for Someone {
        fn name(&self) -> Option<&str> {
            self.name
        }
        fn handle(&self) -> &str {
            "ana.fit"
        }
        fn field(&self, key: &str) -> Option<&str> {
            let found = self
                .fields
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key));
            found.map(|(_, v)| *v)
        }
    }

    #[test]
    fn fills_variables_and_fallbacks() {
        let mut ana = Someone {
            name: None,
            fields: Vec::new(),
        };
        assert_eq!(
            render("Hi {first_name|there}, {name}!", &ana),
            "Hi there, !"
        );
        ana.name = Some("  Ana Lima ");
        ana.fields = vec![("City", "Porto"), ("bio", " ")];
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
        let ana = Someone {
            name: None,
            fields: Vec::new(),
        };
        assert_eq!(render("{{handle} {{{handle}}", &ana), "{handle} {ana.fit}");
        assert_eq!(render("50% off {handle", &ana), "50% off {handle");
        assert_eq!(render("{unknown|a|b}", &ana), "a|b");
    }
}
