//! Credential checks: HTTP Basic `email:api_key` or an optional Bearer token. Owns the
//! decision only; must never log or echo a presented credential.

use super::SandboxConfig;
use axum::http::HeaderMap;
use base64::Engine;

/// How a request authenticated, which picks its rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Basic,
    Bearer,
}

/// Checks the `Authorization` header against the configured credentials.
pub fn check(cfg: &SandboxConfig, headers: &HeaderMap) -> Option<AuthKind> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, key) = text.split_once(':')?;
        let user_ok = user.eq_ignore_ascii_case(&cfg.username);
        let key_ok = !cfg.api_key.is_empty() && cfg.api_key.matches(key);
        (user_ok && key_ok).then_some(AuthKind::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let token = cfg.bearer_token.as_ref()?;
        (!token.is_empty() && token.matches(rest.trim())).then_some(AuthKind::Bearer)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, v.parse().unwrap());
        h
    }

    #[test]
    fn basic_and_bearer() {
        let cfg = SandboxConfig {
            username: "api@shop.test".into(),
            api_key: Secret::new("k1"),
            bearer_token: Some(Secret::new("tok")),
            ..SandboxConfig::default()
        };
        let good = base64::engine::general_purpose::STANDARD.encode("api@shop.test:k1");
        let bad = base64::engine::general_purpose::STANDARD.encode("api@shop.test:k2");
        assert_eq!(
            check(&cfg, &headers(&format!("Basic {good}"))),
            Some(AuthKind::Basic)
        );
        assert_eq!(check(&cfg, &headers(&format!("Basic {bad}"))), None);
        assert_eq!(check(&cfg, &headers("Bearer tok")), Some(AuthKind::Bearer));
        assert_eq!(check(&cfg, &headers("Bearer nope")), None);
        assert_eq!(check(&cfg, &HeaderMap::new()), None);
    }
}
