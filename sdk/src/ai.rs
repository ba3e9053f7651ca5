//! AI replies through the provider the user configured (`ai:generate`).

use crate::host::with_host;
use crate::{GenerateRequest, Generated, Result};

/// Generates a reply. Fails with [`Error::Unavailable`](crate::Error::Unavailable) when
/// the provider does.
pub fn generate(request: &GenerateRequest) -> Result<Generated> {
    with_host(|h| h.ai_generate(request))
}
