//! The sync connections one PostgreSQL database holds, for `tether status
//! --all-connections`: every `tether_<name>` schema that tether's migrations have created.
//!
//! Owns that one catalogue query. Must never read or write a connection's own tables (the
//! caller opens each connection read-only for that), and never create anything.

use super::open_sqlite::install_drivers;
use super::{QueryContext, StoreError};
use crate::config::{ConnectionName, StoreUrl, redact_password};
use sqlx::{AnyConnection, Connection};

/// The connection names with a migrated schema in the database `url` points at, in name
/// order. Refused with [`StoreError::BadUrl`] for a SQLite URL: a SQLite file holds exactly
/// one connection.
pub async fn connections_in(url: &StoreUrl) -> Result<Vec<ConnectionName>, StoreError> {
    let StoreUrl::Postgres { url, .. } = url else {
        return Err(StoreError::BadUrl {
            url: url.redacted(),
            reason: "a SQLite store holds one connection per file; only a PostgreSQL database \
                     holds several"
                .into(),
        });
    };
    install_drivers();
    let mut conn = AnyConnection::connect(url)
        .await
        .map_err(|source| StoreError::Open {
            url: redact_password(url),
            source,
        })?;
    // `\_` keeps LIKE's `_` literal; a schema counts once tether's migrations ran in it.
    let names: Result<Vec<(String,)>, _> = sqlx::query_as(
        "SELECT CAST(n.nspname AS TEXT) FROM pg_namespace n \
         WHERE n.nspname LIKE 'tether\\_%' AND EXISTS ( \
           SELECT 1 FROM pg_tables t \
           WHERE t.schemaname = n.nspname AND t.tablename = '_sqlx_migrations') \
         ORDER BY n.nspname",
    )
    .fetch_all(&mut conn)
    .await
    .ctx("list the database's tether schemas");
    let _ = conn.close().await;
    Ok(names?
        .into_iter()
        .filter_map(|(schema,)| {
            let name = schema.strip_prefix("tether_")?;
            ConnectionName::new(name).ok()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Mode;
    use crate::store::test_support::{fresh_connection, pg_connection, pg_url};

    #[tokio::test]
    async fn a_sqlite_url_is_refused_with_the_reason() {
        let url: StoreUrl = "sqlite://t.db".parse().unwrap();
        let err = connections_in(&url).await.unwrap_err();
        assert!(err.to_string().contains("one connection per file"), "{err}");
    }

    #[tokio::test]
    async fn every_migrated_connection_is_listed() {
        let Some(url) = pg_url("every_migrated_connection_is_listed") else {
            return;
        };
        let (a, b) = (fresh_connection(), fresh_connection());
        let sa = pg_connection(&url, &a, Mode::Writer).await;
        let sb = pg_connection(&url, &b, Mode::Writer).await;
        let listed = connections_in(&StoreUrl::Postgres {
            url: url.clone(),
            connection: ConnectionName::default(),
        })
        .await
        .unwrap();
        assert!(listed.contains(&a) && listed.contains(&b), "{listed:?}");
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(listed, sorted);
        sa.close().await;
        sb.close().await;
    }
}
