//! Reading a file upload (`multipart/form-data`) behind the session's CSRF token: the
//! token comes first in the form, and no file is read without it.

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};

use super::{Session, pages};

/// The longest a form field other than the file may be.
const MAX_FIELD_BYTES: usize = 4096;

/// A form's fields and its one file (name and bytes), once its token was checked.
pub(super) struct Upload {
    pub fields: HashMap<String, String>,
    pub file: Option<(String, Vec<u8>)>,
}

/// The upload in `multipart`, whose file field is `file`; on a refusal, the page that says
/// why (with a way back to `back`), or a 403 for a missing token. `max_bytes` is the body
/// limit the route was given, named when it is exceeded, with `too_large` saying what to do.
pub(super) async fn read(
    mut multipart: Multipart,
    session: &Session,
    headers: &HeaderMap,
    back: &str,
    too_large: &str,
) -> Result<Upload, Response> {
    // What went wrong reading the upload, as a page that says so (the page's script shows
    // its message; without script the browser shows the page).
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        let why = match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => too_large.to_owned(),
            _ => format!("the upload could not be read: {e}"),
        };
        (e.status(), pages::refused(session, &why, back)).into_response()
    };
    let mut upload = Upload {
        fields: HashMap::new(),
        file: None,
    };
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(unreadable(e)),
        };
        let name = field.name().unwrap_or_default().to_string();
        let file_name = field.file_name().map(str::to_string);
        let token = upload.fields.get("csrf").map_or("", String::as_str);
        if name == "file" && !session.allows(headers, token) {
            return Err(super::auth::forbidden());
        }
        if name == "file" {
            let bytes = field.bytes().await.map_err(unreadable)?;
            upload.file = Some((file_name.unwrap_or_default(), bytes.to_vec()));
            continue;
        }
        // Any other field is short (a token, an account's name): read no more of it than
        // that before the token is checked.
        let mut value = Vec::new();
        let mut field = field;
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            value.extend_from_slice(&chunk);
            if value.len() > MAX_FIELD_BYTES {
                let why = format!("the form's field {name:?} is too long");
                return Err(
                    (StatusCode::BAD_REQUEST, pages::refused(session, &why, back)).into_response(),
                );
            }
        }
        upload
            .fields
            .insert(name, String::from_utf8_lossy(&value).into_owned());
    }
    let token = upload.fields.get("csrf").map_or("", String::as_str);
    if !session.allows(headers, token) {
        return Err(super::auth::forbidden());
    }
    Ok(upload)
}
