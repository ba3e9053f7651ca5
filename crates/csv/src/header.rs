//! The header row: which column feeds which field, under the names people give them.

use std::collections::HashMap;

use csv::StringRecord;

use super::ImportError;

/// What a column of the file feeds.
#[derive(PartialEq, Eq, Hash)]
pub(super) enum Column {
    Handle,
    Name,
    Email,
    Phone,
    Tags,
    Notes,
    Custom(String),
}

impl Column {
    fn label(&self) -> &str {
        match self {
            Column::Handle => "handle",
            Column::Name => "name",
            Column::Email => "email",
            Column::Phone => "phone",
            Column::Tags => "tags",
            Column::Notes => "notes",
            Column::Custom(key) => key,
        }
    }
}

/// One entry per header field; `None` for unnamed columns, which are ignored.
pub(super) type Layout = Vec<Option<Column>>;

pub(super) fn layout_from_header(line: u64, header: &StringRecord) -> Result<Layout, ImportError> {
    let layout: Layout = header.iter().map(classify).collect();
    let mut first_index = HashMap::with_capacity(layout.len());
    for (index, column) in layout.iter().enumerate() {
        let Some(column) = column else { continue };
        if let Some(&earlier) = first_index.get(column) {
            return Err(ImportError::DuplicateColumn {
                line,
                field: column.label().to_owned(),
                first: header[earlier].trim().to_owned(),
                first_column: earlier + 1,
                second: header[index].trim().to_owned(),
                second_column: index + 1,
            });
        }
        first_index.insert(column, index);
    }
    if !layout.contains(&Some(Column::Handle)) {
        let headers = header
            .iter()
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect();
        return Err(ImportError::NoHandleColumn { line, headers });
    }
    Ok(layout)
}

fn classify(header: &str) -> Option<Column> {
    let written = header.trim();
    if written.is_empty() {
        return None;
    }
    let key: String = written
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect();
    Some(match key.as_str() {
        "handle" | "username" | "instagram" | "ig" => Column::Handle,
        "name" | "fullname" => Column::Name,
        "email" => Column::Email,
        "phone" => Column::Phone,
        "tags" => Column::Tags,
        "notes" => Column::Notes,
        _ => Column::Custom(written.to_owned()),
    })
}

pub(super) fn quoted_list(names: &[String]) -> String {
    if names.is_empty() {
        return "no named columns".to_owned();
    }
    names
        .iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
