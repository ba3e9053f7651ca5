//! Comments on the account's posts, reels and live videos: answering one publicly
//! (`comments:reply`). A plugin granted `comments:read` has its reply hook called for
//! comments (kind `comment` or `live-comment`); returning `Send` answers privately.

use crate::Result;
use crate::host::with_host;

/// Answers the comment the current event is about publicly, under it, as the account.
/// Needs `comments:reply`; [`Error::Invalid`](crate::Error::Invalid) when the event is not
/// a comment or was answered publicly already in this call. Posted only if the hook returns
/// `Ok`, once per comment whatever retries or other plugins do.
pub fn reply_publicly(text: &str) -> Result<()> {
    with_host(|h| h.comments_reply_publicly(text))
}
