//! Schema migrations, applied in one transaction under a transaction-scoped advisory lock
//! and sent with the simple query protocol: unlike a session lock and named prepared
//! statements, both work through PgBouncer in transaction mode.

use sqlx::Executor as _;
use sqlx::postgres::PgPool;

use super::database_error;
use crate::error::StoreError;

/// Every migration: version, name, SQL. Append only; never edit one that has shipped.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "events",
        include_str!("../../migrations/postgres/0001_events.sql"),
    ),
    (
        2,
        "rollups",
        include_str!("../../migrations/postgres/0002_rollups.sql"),
    ),
    (
        3,
        "alerts",
        include_str!("../../migrations/postgres/0003_alerts.sql"),
    ),
    (
        4,
        "alert_acks",
        include_str!("../../migrations/postgres/0004_alert_acks.sql"),
    ),
    (
        5,
        "files",
        include_str!("../../migrations/postgres/0005_files.sql"),
    ),
    (
        6,
        "uploads_and_web_commands",
        include_str!("../../migrations/postgres/0006_uploads_and_web_commands.sql"),
    ),
];

/// Applies the migrations the database lacks; returns how many.
pub(super) async fn run(pool: &PgPool) -> Result<usize, StoreError> {
    let migrate_error = |e: sqlx::Error| StoreError::Migrate(e.into());
    let mut tx = pool.begin().await.map_err(database_error)?;
    // A plain string runs as a simple query: several statements, no prepared statement.
    (&mut *tx)
        .execute(
            "SELECT pg_advisory_xact_lock(7305423112006459002);
             CREATE TABLE IF NOT EXISTS hpti_migrations (
                 version  bigint      PRIMARY KEY,
                 name     text        NOT NULL,
                 applied  timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(migrate_error)?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM hpti_migrations")
        .persistent(false)
        .fetch_all(&mut *tx)
        .await
        .map_err(migrate_error)?;
    if let Some(newest) = applied.iter().max()
        && MIGRATIONS.iter().all(|(version, _, _)| version < newest)
    {
        return Err(StoreError::Migrate(
            format!(
                "the database's schema (version {newest}) is newer than this hpti knows: \
                 upgrade hpti"
            )
            .into(),
        ));
    }
    let mut count = 0;
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        (&mut *tx).execute(*sql).await.map_err(migrate_error)?;
        sqlx::query("INSERT INTO hpti_migrations (version, name) VALUES ($1, $2)")
            .persistent(false)
            .bind(version)
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(migrate_error)?;
        count += 1;
    }
    tx.commit().await.map_err(migrate_error)?;
    if count > 0 {
        tracing::info!(migrations = count, "PostgreSQL schema migrated");
    }
    Ok(count)
}
