//! A database of the bench's own on a PostgreSQL server, so that every run starts empty.

use anyhow::Context as _;
use sqlx::Connection as _;

/// A database created for one bench run; [`BenchDatabase::remove`] drops it.
pub struct BenchDatabase {
    /// Its URL.
    pub url: String,
    /// Its name.
    pub name: String,
    admin_url: String,
}

impl BenchDatabase {
    /// Creates `hpti_bench_<pid>` on the server of `admin_url` (default
    /// `HPTI_POSTGRES_URL`, else the local server's `postgres` database).
    pub async fn create(admin_url: Option<&str>) -> anyhow::Result<Self> {
        let admin_url = admin_url.map_or_else(
            || {
                std::env::var("HPTI_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
            },
            str::to_owned,
        );
        let name = format!("hpti_bench_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .context("cannot connect to PostgreSQL (--postgres-url)")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        admin.close().await?;
        let base = admin_url
            .split('?')
            .next()
            .and_then(|u| u.rsplit_once('/'))
            .map_or(admin_url.as_str(), |(base, _)| base);
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
            admin_url,
        })
    }

    /// Drops the database.
    pub async fn remove(self) {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&self.admin_url).await {
            let _ = sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin)
            .await;
            let _ = admin.close().await;
        }
    }
}
