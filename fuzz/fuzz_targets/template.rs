//! A message template (a plugin's setting, a team's saved reply) filled in for a lead whose
//! name and imported columns anyone may have written: rendering never panics, a template
//! without `{` is sent as written, and a template cannot grow past its own length plus one
//! variable's value per `{`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outreach_domain::template::{Variables, render};

struct Lead {
    name: Option<String>,
    handle: String,
    fields: Vec<(String, String)>,
}

impl Variables for Lead {
    fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    fn handle(&self) -> &str {
        &self.handle
    }
    fn field(&self, key: &str) -> Option<&str> {
        let found = self
            .fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key));
        found.map(|(_, v)| v.as_str())
    }
}

fuzz_target!(
    |input: (String, Option<String>, String, Vec<(String, String)>)| {
        let (template, name, handle, fields) = input;
        let lead = Lead {
            name,
            handle,
            fields,
        };
        let shown = render(&template, &lead);
        if !template.contains('{') {
            assert_eq!(shown, template);
        }
        let longest = lead
            .fields
            .iter()
            .map(|(_, v)| v.len())
            .chain([lead.handle.len(), lead.name.as_ref().map_or(0, String::len)])
            .max()
            .unwrap_or(0);
        let opened = template.matches('{').count();
        assert!(
            shown.len() <= template.len() + opened * longest,
            "{template:?} -> {shown:?}"
        );
    }
);
