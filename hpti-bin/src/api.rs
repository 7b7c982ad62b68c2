//! `[api]` in `hpti run`, and `hpti api token create|list|revoke`.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use hpti_api::{ApiState, Role, TokenStore};
use hpti_core::health::Health;

use crate::config::Config;

#[derive(Debug, clap::Subcommand)]
pub enum ApiCommand {
    /// The API's bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints it: the only time it is shown (only its hash is kept).
    Create {
        /// `viewer` reads everything but captured files; `admin` may download those too.
        #[arg(long, value_parser = ["viewer", "admin"])]
        role: String,
        /// What the token is for (unique; by default `<role>-<n>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Lists the tokens: names, roles, creation times (never the tokens).
    List,
    /// Revokes the token named NAME (a running `hpti run` refuses it within a second).
    Revoke {
        /// The token's name.
        name: String,
    },
}

pub fn tokens(config: &Config) -> TokenStore {
    TokenStore::open(&config.data.dir)
}

pub fn api(config: &Config, command: ApiCommand) -> anyhow::Result<()> {
    let ApiCommand::Token(command) = command;
    let store = tokens(config);
    match command {
        TokenCommand::Create { role, name } => {
            let role: Role = role.parse()?;
            let name = match name {
                Some(name) => name,
                None => {
                    let taken = store.list()?;
                    (1..)
                        .map(|n| format!("{}-{n}", role.as_str()))
                        .find(|candidate| !taken.iter().any(|t| t.name == *candidate))
                        .context("no free token name")?
                }
            };
            let token = store.create(&name, role)?;
            if std::io::stderr().is_terminal() {
                eprintln!(
                    "token {name:?} ({}) created; it is shown once, keep it:",
                    role.as_str()
                );
            }
            println!("{token}");
        }
        TokenCommand::List => {
            for token in store.list()? {
                println!("{}\t{}\t{}", token.name, token.role.as_str(), token.created);
            }
        }
        TokenCommand::Revoke { name } => {
            let gone = store.revoke(&name)?;
            eprintln!("token {:?} ({}) revoked", gone.name, gone.role.as_str());
        }
    }
    Ok(())
}

/// Starts the API of `[api]`, if configured: its address and task.
pub async fn serve(
    config: &Config,
    health: Health,
    metrics: hpti_api::ApiMetrics,
) -> anyhow::Result<Option<(String, tokio::task::JoinHandle<()>)>> {
    let Some(api) = &config.api else {
        return Ok(None);
    };
    let queries = config
        .open_queries()
        .await
        .context("[api] reads the query store")?;
    let federation = hpti_api::federation::Federation::new(&api.name, &api.sources)?;
    if federation.is_some() {
        tracing::info!(sources = ?api.sources.keys().collect::<Vec<_>>(), "the API merges other instances' lists");
    }
    let mut state = ApiState::new(queries, tokens(config), api)
        .with_health(health)
        .with_data_dir(&config.data.dir)
        .with_intel(config.intel.clone())
        .with_federation(federation)
        .with_metrics(metrics);
    // Alerts are kept beside the query store when that store can keep them.
    let components = config.components()?;
    match config.open_alert_store(&components).await {
        Ok(alerts) => state = state.with_alerts(alerts),
        Err(err) => tracing::info!(error = %format!("{err:#}"), "the API has no /alerts"),
    }
    let mut router = hpti_api::router(state.clone());
    if api.dashboard {
        router = router.merge(hpti_dashboard::router(state));
    }
    let cannot_listen = || format!("[api] listen = \"{}\": cannot listen", api.listen);
    let served = match tls_files(config) {
        Some(files) => {
            let tls = hpti_api::tls::server_config(&files)?;
            let (addr, task) = hpti_api::serve_tls(api.listen, router, tls)
                .await
                .with_context(cannot_listen)?;
            (format!("https://{addr}"), task)
        }
        None => {
            let (addr, task) = hpti_api::serve(api.listen, router)
                .await
                .with_context(cannot_listen)?;
            (format!("http://{addr}"), task)
        }
    };
    Ok(Some(served))
}

/// `[api] tls` with its files resolved against the config file's directory.
pub fn tls_files(config: &Config) -> Option<hpti_api::tls::TlsFiles> {
    let tls = config.api.as_ref()?.tls.as_ref()?;
    let dir = config.config_dir();
    Some(hpti_api::tls::TlsFiles {
        cert: dir.join(&tls.cert),
        key: dir.join(&tls.key),
    })
}
