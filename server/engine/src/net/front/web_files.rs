//! Static files of the web client: embedded in the binary by default, or read from a
//! directory (`--web-root`, for editing the client without rebuilding), or none (`--no-web`).

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_files.rs"));
}

/// Where static files come from.
#[derive(Debug, Clone)]
pub enum WebRoot {
    /// The copy of `web-client/` built into the binary.
    Embedded,
    /// A directory on disk.
    Dir(PathBuf),
    /// No web client; only `/ws` is served.
    Disabled,
}

/// A file found for a request.
pub struct WebFile {
    /// Contents.
    pub body: Cow<'static, [u8]>,
    /// `Content-Type` header value.
    pub content_type: &'static str,
}

impl WebRoot {
    /// Looks up a request path (`/` means `/index.html`). Paths with `..`, backslashes or other
    /// tricks are refused, and files outside the directory are never read.
    pub async fn lookup(&self, path: &str) -> Option<WebFile> {
        let rel = sanitize(path)?;
        let content_type = content_type(&rel);
        let body = match self {
            WebRoot::Disabled => return None,
            WebRoot::Embedded => {
                let (_, bytes) = embedded::FILES.iter().find(|(name, _)| *name == rel)?;
                Cow::Borrowed(*bytes)
            }
            WebRoot::Dir(root) => {
                let root = tokio::fs::canonicalize(root).await.ok()?;
                let file = tokio::fs::canonicalize(root.join(&rel)).await.ok()?;
                if !file.starts_with(&root) || !tokio::fs::metadata(&file).await.ok()?.is_file() {
                    return None;
                }
                Cow::Owned(tokio::fs::read(&file).await.ok()?)
            }
        };
        Some(WebFile { body, content_type })
    }

    /// Whether any files are served.
    pub fn is_enabled(&self) -> bool {
        !matches!(self, WebRoot::Disabled)
    }
}

/// The relative file path for a request path, or `None` if it is not a plain relative path.
fn sanitize(path: &str) -> Option<String> {
    let trimmed = path.strip_prefix('/')?;
    let rel = if trimmed.is_empty() { "index.html" } else { trimmed };
    if rel.contains('\\') || rel.contains('\0') || rel.ends_with('/') {
        return None;
    }
    let all_normal = Path::new(rel).components().all(|c| matches!(c, Component::Normal(_)));
    all_normal.then(|| rel.to_owned())
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "webmanifest" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizes_request_paths() {
        assert_eq!(sanitize("/").as_deref(), Some("index.html"));
        assert_eq!(sanitize("/src/main.js").as_deref(), Some("src/main.js"));
        for bad in ["/../etc/passwd", "/src/../../x", "/a\\b", "//etc/passwd", "/src/", "/./x", "x"] {
            assert_eq!(sanitize(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn embedded_index_is_served() {
        let file = WebRoot::Embedded.lookup("/").await.expect("index.html is embedded");
        assert_eq!(file.content_type, "text/html; charset=utf-8");
        assert!(file.body.len() > 100);
        assert!(WebRoot::Disabled.lookup("/").await.is_none());
    }
}
