//! Who may use the review page: the `server.review_token`, presented as
//! `Authorization: Bearer TOKEN` or through the login form, which sets an HttpOnly,
//! SameSite=Strict session cookie derived from the token (HMAC-SHA256, so the cookie never
//! holds the token itself). Form posts made with the cookie must also carry the CSRF value
//! (another HMAC of the token) that only pages served to a signed-in browser contain.
//! Every comparison is constant-time ([`Secret::matches`]). With no token configured,
//! everything is refused. Must never log or echo a token.

use crate::secret::Secret;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The session cookie's name.
pub const COOKIE_NAME: &str = "tether_review";

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer` with the token: not sent by browsers on their own, so no
    /// CSRF check is needed.
    Bearer,
    /// The session cookie: form posts must carry the CSRF value too.
    Cookie,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `server.review_token` is configured: the page is off.
    Disabled,
    /// No valid token or session.
    Unauthenticated,
    /// Too many wrong tokens lately (see `throttle`): try again after this many seconds.
    Throttled { retry_after_secs: u64 },
}

/// `hex(HMAC-SHA256(token, purpose))`.
fn derive(token: &Secret, purpose: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(token.expose().as_bytes()) {
        Ok(mut m) => {
            m.update(purpose.as_bytes());
            hex::encode(m.finalize().into_bytes())
        }
        // HMAC accepts keys of any length; unreachable, but never a usable value.
        Err(_) => String::new(),
    }
}

/// The session cookie value for `token`.
pub fn session_value(token: &Secret) -> String {
    derive(token, "tether review session v1")
}

/// The CSRF form value for `token`.
pub fn csrf_value(token: &Secret) -> String {
    derive(token, "tether review csrf v1")
}

fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Checks a request's credentials against `token`.
pub fn authenticate(token: &Secret, headers: &HeaderMap) -> Result<Auth, Refusal> {
    if token.is_empty() {
        return Err(Refusal::Disabled);
    }
    if let Some(v) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok())
        && let Some(t) = v.strip_prefix("Bearer ")
    {
        return if token.matches(t.trim()) {
            Ok(Auth::Bearer)
        } else {
            Err(Refusal::Unauthenticated)
        };
    }
    match cookie(headers, COOKIE_NAME) {
        Some(v) if Secret::new(session_value(token)).matches(v) => Ok(Auth::Cookie),
        _ => Err(Refusal::Unauthenticated),
    }
}

/// Whether a state-changing request may proceed: Bearer always, a cookie session only with
/// the right CSRF value.
pub fn csrf_ok(token: &Secret, auth: Auth, presented: Option<&str>) -> bool {
    match auth {
        Auth::Bearer => true,
        Auth::Cookie => presented.is_some_and(|p| Secret::new(csrf_value(token)).matches(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: axum::http::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn no_token_refuses_everything() {
        let none = Secret::new("");
        assert_eq!(
            authenticate(&none, &with(AUTHORIZATION, "Bearer ")),
            Err(Refusal::Disabled)
        );
        assert_eq!(
            authenticate(&none, &HeaderMap::new()),
            Err(Refusal::Disabled)
        );
    }

    #[test]
    fn bearer_and_cookie_sessions() {
        let t = Secret::new("s3cret");
        assert_eq!(
            authenticate(&t, &with(AUTHORIZATION, "Bearer s3cret")),
            Ok(Auth::Bearer)
        );
        assert_eq!(
            authenticate(&t, &with(AUTHORIZATION, "Bearer wrong")),
            Err(Refusal::Unauthenticated)
        );
        let c = format!("a=b; {COOKIE_NAME}={}", session_value(&t));
        assert_eq!(authenticate(&t, &with(COOKIE, &c)), Ok(Auth::Cookie));
        // The token itself is not a session; another token's session is not either.
        let raw = format!("{COOKIE_NAME}=s3cret");
        assert!(authenticate(&t, &with(COOKIE, &raw)).is_err());
        let other = format!("{COOKIE_NAME}={}", session_value(&Secret::new("x")));
        assert!(authenticate(&t, &with(COOKIE, &other)).is_err());
        assert!(!session_value(&t).contains("s3cret"));
        assert!(csrf_ok(&t, Auth::Bearer, None));
        assert!(!csrf_ok(&t, Auth::Cookie, None));
        assert!(!csrf_ok(&t, Auth::Cookie, Some(&session_value(&t))));
        assert!(csrf_ok(&t, Auth::Cookie, Some(&csrf_value(&t))));
    }
}
