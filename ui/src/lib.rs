//! fluoro's web UI: the files Vite built from `web/` (see `build.rs`), embedded in the binary.
//! The UI is a single page with hash routes (`/#/logs/...`), so the server only ever serves
//! `/index.html` for `/` and the content-hashed files under `/assets/`.

mod assets {
    include!(concat!(env!("OUT_DIR"), "/assets.rs"));
}

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    pub bytes: &'static [u8],
    pub content_type: &'static str,
    /// Content-hashed names never change their bytes: cache them for good.
    pub immutable: bool,
}

/// The file for a request path: `/` is `/index.html`.
pub fn asset(path: &str) -> Option<Asset> {
    let path = if path == "/" { "/index.html" } else { path };
    let (_, bytes) = assets::ASSETS.iter().find(|(name, _)| *name == path)?;
    Some(Asset { bytes, content_type: content_type(path), immutable: path.starts_with("/assets/") })
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_its_scripts_are_embedded() {
        let index = asset("/").expect("index.html is embedded");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(!index.immutable);
        let html = std::str::from_utf8(index.bytes).expect("UTF-8");
        // Every file the page links is embedded, so the page needs nothing from elsewhere.
        for link in html.split('"').filter(|s| s.starts_with("/assets/")) {
            let file = asset(link).unwrap_or_else(|| panic!("{link} is linked but not embedded"));
            assert!(file.immutable);
        }
        for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!html.contains(attribute), "no external resources: {attribute}");
        }
        assert!(asset("/nope.js").is_none());
    }
}
