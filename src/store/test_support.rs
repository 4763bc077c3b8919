//! Helpers for the store's tests: in-memory and PostgreSQL stores, fixed times and ids,
//! nasty text, and the `conformance!` macro that runs a test body on both engines.
//! Must never be compiled outside tests.

use super::*;
use crate::config::ConnectionName;
use crate::domain::{GorgiasId, HubspotId};
use chrono::TimeZone;

pub async fn mem() -> Store {
    Store::open_in_memory().await.unwrap()
}

/// The PostgreSQL server the conformance suite runs on, from `TETHER_TEST_PG_URL`.
/// Without it the PostgreSQL half is skipped with a notice, except under `CI=true`,
/// where a missing server is a failure (CI starts one: `scripts/pg-test-server`).
pub fn pg_url(test: &str) -> Option<String> {
    match std::env::var("TETHER_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: CI=true but TETHER_TEST_PG_URL is not set; the store's PostgreSQL \
                 conformance tests must run in CI (start a server with scripts/pg-test-server)"
            );
            eprintln!(
                "skipped: {test} on PostgreSQL (set TETHER_TEST_PG_URL=postgres://... to run it)"
            );
            None
        }
    }
}

/// A fresh connection name, so that every test has a schema of its own.
pub fn fresh_connection() -> ConnectionName {
    ConnectionName::new(&format!("t_{}", uuid::Uuid::new_v4().simple())).unwrap()
}

/// A writer store in a fresh schema of the test server, or `None` when there is none.
pub async fn pg(test: &str) -> Option<Store> {
    let url = pg_url(test)?;
    Some(pg_connection(&url, &fresh_connection(), Mode::Writer).await)
}

/// Opens `connection` of the PostgreSQL database at `url`.
pub async fn pg_connection(url: &str, connection: &ConnectionName, mode: Mode) -> Store {
    let url = StoreUrl::Postgres {
        url: url.to_owned(),
        connection: connection.clone(),
    };
    Store::open_store_url(&url, 5_000, mode).await.unwrap()
}

/// Drops a test store's schema (PostgreSQL) and closes it.
pub async fn drop_store(s: Store) {
    if let Some(schema) = s.schema() {
        let drop = format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE");
        let mut tx = s.write_tx().await.unwrap();
        sqlx::query(&drop).execute(&mut *tx).await.unwrap();
        tx.commit().await.unwrap();
    }
    s.close().await;
}

/// Runs each named `async fn NAME(s: Store)` as a conformance test on both backends:
/// `NAME::sqlite` on an in-memory SQLite store, `NAME::postgres` on a fresh schema of
/// the `TETHER_TEST_PG_URL` server (skipped with a notice without one, except in CI).
macro_rules! conformance {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                use crate::store::test_support::{drop_store, mem, pg};

                #[tokio::test]
                async fn sqlite() {
                    super::$name(mem().await).await;
                }

                #[tokio::test]
                async fn postgres() {
                    let Some(s) = pg(concat!(module_path!(), "::", stringify!($name))).await
                    else {
                        return;
                    };
                    super::$name(s.clone()).await;
                    drop_store(s).await;
                }
            }
        )+
    };
}
pub(crate) use conformance;

pub fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
}

pub fn hs(id: &str) -> HubspotId {
    HubspotId::new(id).unwrap()
}

pub fn gg(id: i64) -> GorgiasId {
    GorgiasId::new(id).unwrap()
}

/// A string with quotes, HTML, control characters and non-ASCII: must round-trip.
pub const NASTY: &str =
    "O'Brien \"the\" <b>bold</b> & co; DROP TABLE links; --\u{0}\t\r\n\u{7} é 日本 🙂";

/// [`NASTY`] without its U+0000, which PostgreSQL text cannot hold (inside JSON it is
/// the escape `\u0000` and round-trips on both).
pub const NASTY_WITHOUT_NUL: &str =
    "O'Brien \"the\" <b>bold</b> & co; DROP TABLE links; --\t\r\n\u{7} é 日本 🙂";

/// The nastiest text `s` can store in a text column: [`NASTY`] on SQLite,
/// [`NASTY_WITHOUT_NUL`] on PostgreSQL (whose refusal of U+0000 has its own test).
pub fn nasty(s: &Store) -> &'static str {
    match s.engine() {
        Engine::Sqlite => NASTY,
        Engine::Postgres => NASTY_WITHOUT_NUL,
    }
}
