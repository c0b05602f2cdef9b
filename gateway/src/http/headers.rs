//! Security headers and CORS.
//!
//! - Every response: `X-Content-Type-Options: nosniff`.
//! - `/v1/auth/*`: `Cache-Control: no-store` (tokens, and who is logged in, are never cached).
//! - `/docs` (the Swagger UI page): a Content-Security-Policy allowing only the page's own inline
//!   scripts (by hash) and styles, images from `data:` URLs (the stylesheet's icons), requests to
//!   this origin (the spec is inline; "Try it out" calls the API), and no framing
//!   (`frame-ancestors 'none'`); `Referrer-Policy: no-referrer`.
//! - CORS only for the exact origins of `[server] cors_origins` (none by default). A request from
//!   another origin is served as if CORS did not exist: no `Access-Control-*` headers, so a
//!   browser does not let that origin read the answer. Credentials mode is not allowed: the API
//!   authenticates by the `Authorization` header, never by cookies.

use std::sync::Arc;

use base64::Engine;
use poem::http::{HeaderMap, HeaderValue, Method, header};
use poem::middleware::{Cors, CorsEndpoint};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};
use sha2::{Digest, Sha256};

/// Request headers a browser on an allowed origin may send.
const CORS_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
];

/// Response headers such a browser may read (besides the always-readable ones).
const CORS_EXPOSED_HEADERS: &[&str] = &[
    "x-request-id",
    "location",
    "retry-after",
    "idempotent-replayed",
    "content-range",
    "accept-ranges",
];

/// How long a browser may cache a preflight answer, in seconds.
const CORS_MAX_AGE: i32 = 600;

/// Sets the headers every response carries, and `path`'s own.
pub fn secure(path: &str, headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if path.starts_with("/v1/auth/") {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The Content-Security-Policy of the docs page `html`: its inline scripts allowed by hash.
pub fn docs_policy(html: &str) -> String {
    let hashes: Vec<String> = inline_scripts(html)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect();
    format!(
        "default-src 'none'; script-src {}; style-src 'unsafe-inline'; img-src data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        hashes.join(" ")
    )
}

/// The docs page's headers (see the module's documentation).
pub fn docs_headers(html: &str, headers: &mut HeaderMap) {
    if let Ok(policy) = HeaderValue::from_str(&docs_policy(html)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// The text of each `<script ...>...</script>` element of `html`, read as a browser does: a
/// script ends at the first `</script>` after its start tag.
pub fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    let mut rest = html;
    std::iter::from_fn(move || {
        let tag = rest.find("<script")?;
        let after_tag = &rest[tag..];
        let body = &after_tag[after_tag.find('>')? + 1..];
        let end = body.find("</script>")?;
        rest = &body[end..];
        Some(&body[..end])
    })
}

/// Routes requests from the allowed origins through poem's CORS middleware, every other request
/// straight to the routes.
pub struct CorsGate<E> {
    routes: Arc<E>,
    cors: Option<CorsEndpoint<Arc<E>>>,
    origins: Vec<HeaderValue>,
}

impl<E: Endpoint> CorsGate<E> {
    /// `origins` are validated exact origins (`scheme://host[:port]`); none turns CORS off.
    pub fn new(routes: E, origins: &[String]) -> Self {
        let routes = Arc::new(routes);
        let origins: Vec<HeaderValue> = origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        let cors = (!origins.is_empty()).then(|| {
            Cors::new()
                .allow_origins(origins.iter().cloned())
                .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
                .allow_headers(CORS_REQUEST_HEADERS.iter().copied())
                .expose_headers(CORS_EXPOSED_HEADERS.iter().copied())
                .allow_credentials(false)
                .max_age(CORS_MAX_AGE)
                .transform(Arc::clone(&routes))
        });
        Self {
            routes,
            cors,
            origins,
        }
    }
}

impl<E: Endpoint> Endpoint for CorsGate<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        let allowed = req
            .headers()
            .get(header::ORIGIN)
            .is_some_and(|origin| self.origins.contains(origin));
        match &self.cors {
            Some(cors) if allowed => cors.call(req).await,
            _ => self.routes.call(req).await.map(IntoResponse::into_response),
        }
    }
}

/// Why a `[server] cors_origins` entry is refused, if it is.
pub fn origin_problem(origin: &str) -> Option<String> {
    if origin == "*" || origin.contains('*') {
        return Some("must be an exact origin, not a wildcard".to_owned());
    }
    let exact = origin.split_once("://").is_some_and(|(scheme, authority)| {
        matches!(scheme, "http" | "https")
            && !authority.is_empty()
            && !authority.contains(['/', '?', '#', '@'])
            && !authority.chars().any(|c| c.is_ascii_uppercase())
            && authority.parse::<poem::http::uri::Authority>().is_ok()
    });
    if !exact {
        return Some(format!(
            "must be an exact origin (scheme://host[:port], lower case, no path or trailing slash): {origin:?}"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_hashed() {
        let html = "<head><script charset=\"UTF-8\">one()</script></head>\
                    <body><script>\n  two()\n</script></body>";
        let scripts: Vec<&str> = inline_scripts(html).collect();
        assert_eq!(scripts, ["one()", "\n  two()\n"]);
        let policy = docs_policy(html);
        assert_eq!(policy.matches("'sha256-").count(), 2, "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(!policy.contains("unsafe-eval"), "{policy}");
    }

    #[test]
    fn only_exact_origins_are_accepted() {
        assert_eq!(origin_problem("https://app.example.com"), None);
        assert_eq!(origin_problem("http://localhost:3000"), None);
        for refused in [
            "*",
            "https://*.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "app.example.com",
            "ftp://app.example.com",
            "HTTPS://APP.example.com",
        ] {
            assert!(origin_problem(refused).is_some(), "{refused}");
        }
    }
}
