//! `[api]`.

use std::net::SocketAddr;

use serde::Deserialize;

/// `[api]`: where the API listens and how it treats callers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Where to listen (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Requests per second each token may make, with bursts of twice that (0: no limit).
    pub rate_limit: u32,
    /// How long the aggregates (downloads, attackers, ...) are kept server-side; new
    /// events make them computed again within a second. `0s`: no cache.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: std::time::Duration,
    /// This instance's name in federated answers (`local`).
    pub name: String,
    /// Serve HTTPS with this certificate and key (PEM files).
    pub tls: Option<crate::tls::TlsFiles>,
    /// Web origins allowed to call the API from a browser (CORS); none by default, so
    /// no other site's page can read it.
    pub cors_origins: Vec<String>,
    /// Other instances whose lists this API merges with its own (multi-source mode).
    pub sources: std::collections::BTreeMap<String, crate::federation::SourceConfig>,
    /// Serve the web dashboard at `/` beside the API (on by default).
    pub dashboard: bool,
    /// Serve a TAXII 2.1 server at `/taxii2/` (collections `hpti-indicators` and
    /// `hpti-sightings`), behind the same tokens.
    pub taxii: bool,
    /// How far back the TAXII collections reach.
    #[serde(with = "humantime_serde")]
    pub taxii_window: std::time::Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            rate_limit: 100,
            cache_ttl: std::time::Duration::from_secs(60),
            name: "local".into(),
            tls: None,
            cors_origins: Vec::new(),
            sources: std::collections::BTreeMap::new(),
            dashboard: true,
            taxii: false,
            taxii_window: std::time::Duration::from_secs(30 * 86_400),
        }
    }
}
