//! GeoIP, ASN and anonymity flags from MaxMind-format databases (`.mmdb`: GeoLite2,
//! GeoIP2, DB-IP's free databases).
//!
//! Each database is optional. A database that cannot be read is an error when the
//! enricher is built, never a crash later; a database file replaced on disk (by
//! `geoipupdate`, say) is picked up without a restart: its modification time is checked
//! at most every [`GeoIpConfig::reload_check`].
//!
//! Checking (a `stat`) and reloading (reading and probing a file of tens of megabytes)
//! run on tokio's blocking pool, never on a runtime thread: the one event whose lookup
//! found a check due waits for it, every other lookup goes on with the current reader.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use hpti_core::enricher::{EnrichError, Enricher};
use hpti_core::event::{Asn, Event, Geo};
use maxminddb::Reader;
use serde::Deserialize;

/// Which databases to read.
#[derive(Debug, Clone, Default)]
pub struct GeoIpConfig {
    /// A City or Country database (country, city, coordinates).
    pub city: Option<PathBuf>,
    /// An ASN (or ISP) database (AS number and organisation).
    pub asn: Option<PathBuf>,
    /// An Anonymous-IP database (VPN, hosting, public proxy, Tor exit flags as tags).
    pub anonymous: Option<PathBuf>,
    /// How often to check whether a database file changed on disk.
    pub reload_check: Duration,
}

/// A database that could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("GeoIP database {path}: {reason}")]
pub struct GeoIpError {
    path: PathBuf,
    reason: String,
}

impl GeoIpError {
    fn new(path: &Path, reason: impl std::fmt::Display) -> Self {
        Self {
            path: path.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// One database file, reloaded when it changes.
struct Database {
    path: PathBuf,
    reader: RwLock<Arc<Reader<Vec<u8>>>>,
    modified: Mutex<(Option<SystemTime>, Instant)>,
    /// Bumped on every reload, so cached answers of the old file are not used.
    generation: AtomicU64,
}

/// Addresses a probe looks up when a database is opened: a corrupt search tree or data
/// section shows itself there rather than on the first attacker.
const PROBES: [IpAddr; 3] = [
    IpAddr::V4(std::net::Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(std::net::Ipv4Addr::new(81, 2, 69, 160)),
    IpAddr::V6(std::net::Ipv6Addr::new(0x2001, 0x218, 0, 0, 0, 0, 0, 1)),
];

impl Database {
    fn open(path: &Path) -> Result<Self, GeoIpError> {
        let reader = open_checked(path)?;
        Ok(Self {
            path: path.to_owned(),
            reader: RwLock::new(Arc::new(reader)),
            modified: Mutex::new((modified(path), Instant::now())),
            generation: AtomicU64::new(0),
        })
    }

    /// The reader in use.
    fn current(&self) -> Arc<Reader<Vec<u8>>> {
        match self.reader.read() {
            Ok(reader) => reader.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Whether a check is due (at most every `every`); marks it as done.
    fn check_due(&self, every: Duration) -> bool {
        match self.modified.try_lock() {
            Ok(mut state) if state.1.elapsed() >= every => {
                state.1 = Instant::now();
                true
            }
            _ => false,
        }
    }

    /// Reloads the file if its modification time changed. Blocking.
    fn reload_if_changed_blocking(&self) {
        if let Ok(mut state) = self.modified.lock() {
            self.reload_if_changed(&mut state);
        }
    }

    /// A replacement that cannot be read is logged and the old one kept.
    fn reload_if_changed(&self, state: &mut (Option<SystemTime>, Instant)) {
        {
            let now = modified(&self.path);
            if now.is_some() && now != state.0 {
                match open_checked(&self.path) {
                    Ok(fresh) => {
                        if let Ok(mut slot) = self.reader.write() {
                            *slot = Arc::new(fresh);
                        }
                        self.generation.fetch_add(1, Ordering::Relaxed);
                        state.0 = now;
                        tracing::info!(path = %self.path.display(), "GeoIP database reloaded");
                    }
                    Err(err) => {
                        // Not tried again until the file changes again.
                        state.0 = now;
                        tracing::warn!(error = %err, "changed GeoIP database not loaded; keeping the old one")
                    }
                }
            }
        }
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn open_checked(path: &Path) -> Result<Reader<Vec<u8>>, GeoIpError> {
    let reader = Reader::open_readfile(path).map_err(|e| GeoIpError::new(path, e))?;
    for probe in PROBES {
        let result = reader.lookup(probe).map_err(|e| GeoIpError::new(path, e))?;
        result
            .decode::<serde::de::IgnoredAny>()
            .map_err(|e| GeoIpError::new(path, format!("corrupt data section: {e}")))?;
    }
    Ok(reader)
}

#[derive(Deserialize, Default)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize, Default)]
struct Named {
    #[serde(default)]
    names: Names,
    iso_code: Option<String>,
}

#[derive(Deserialize, Default)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize, Default)]
struct CityRecord {
    #[serde(default)]
    country: Named,
    #[serde(default)]
    city: Named,
    #[serde(default)]
    location: Location,
}

#[derive(Deserialize)]
struct AsnRecord {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

#[derive(Deserialize, Default)]
struct AnonymousRecord {
    #[serde(default)]
    is_anonymous_vpn: bool,
    #[serde(default)]
    is_hosting_provider: bool,
    #[serde(default)]
    is_public_proxy: bool,
    #[serde(default)]
    is_residential_proxy: bool,
    #[serde(default)]
    is_tor_exit_node: bool,
}

/// Fills `enrichment.geo`, `enrichment.asn` and anonymity tags from MaxMind databases.
///
/// ```no_run
/// use hpti_enrich::geoip::{GeoIpConfig, GeoIpEnricher};
/// let enricher = GeoIpEnricher::open(&GeoIpConfig {
///     city: Some("/var/lib/GeoIP/GeoLite2-City.mmdb".into()),
///     asn: Some("/var/lib/GeoIP/GeoLite2-ASN.mmdb".into()),
///     ..GeoIpConfig::default()
/// })?;
/// # Ok::<(), hpti_enrich::geoip::GeoIpError>(())
/// ```
pub struct GeoIpEnricher {
    city: Option<Arc<Database>>,
    asn: Option<Arc<Database>>,
    anonymous: Option<Arc<Database>>,
    reload_check: Duration,
    recent: RecentAnswers,
}

/// What the databases say about one address.
#[derive(Debug, Default)]
struct Located {
    geo: Option<Geo>,
    asn: Option<Asn>,
    tags: Vec<&'static str>,
}

/// Slots of [`RecentAnswers`] (a power of two).
const RECENT_SLOTS: usize = 65_536;

/// The last answer per address hash slot. Attackers come back again and again (a
/// session is a dozen events from one address), and decoding a City record — names in
/// eight languages walked past to reach English — costs more than the tree walk; one
/// slot lock and a compare cost far less than both. A slot that is busy is skipped.
struct RecentAnswers {
    slots: Box<[Slot]>,
}

/// An address, the database generation and what they said.
type Slot = Mutex<Option<(IpAddr, u64, Arc<Located>)>>;

impl RecentAnswers {
    fn new() -> Self {
        Self {
            slots: (0..RECENT_SLOTS).map(|_| Mutex::new(None)).collect(),
        }
    }

    fn slot(&self, ip: IpAddr) -> Option<&Slot> {
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut hasher =
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
                .build_hasher();
        std::hash::Hash::hash(&ip, &mut hasher);
        self.slots
            .get(hasher.finish() as usize & (RECENT_SLOTS - 1))
    }

    fn get(&self, ip: IpAddr, generation: u64) -> Option<Arc<Located>> {
        let slot = self.slot(ip)?.try_lock().ok()?;
        match &*slot {
            Some((cached, cached_generation, answer))
                if *cached == ip && *cached_generation == generation =>
            {
                Some(answer.clone())
            }
            _ => None,
        }
    }

    fn put(&self, ip: IpAddr, generation: u64, answer: Arc<Located>) {
        if let Some(slot) = self.slot(ip)
            && let Ok(mut slot) = slot.try_lock()
        {
            *slot = Some((ip, generation, answer));
        }
    }
}

impl GeoIpEnricher {
    /// Opens the configured databases; any that cannot be read is an error naming it.
    pub fn open(config: &GeoIpConfig) -> Result<Self, GeoIpError> {
        let open = |path: &Option<PathBuf>| {
            path.as_deref()
                .map(|p| Database::open(p).map(Arc::new))
                .transpose()
        };
        Ok(Self {
            city: open(&config.city)?,
            asn: open(&config.asn)?,
            anonymous: open(&config.anonymous)?,
            reload_check: config.reload_check,
            recent: RecentAnswers::new(),
        })
    }

    /// Sum of the databases' reload counters: changes whenever one is reloaded.
    fn generation(&self) -> u64 {
        [&self.city, &self.asn, &self.anonymous]
            .into_iter()
            .flatten()
            .map(|db| db.generation.load(Ordering::Relaxed))
            .sum()
    }

    fn lookup<T: for<'de> Deserialize<'de>>(
        &self,
        database: &Database,
        ip: IpAddr,
    ) -> Result<Option<T>, EnrichError> {
        let reader = database.current();
        let result = reader.lookup(ip).map_err(|e| {
            EnrichError::msg(format!("{}: lookup failed: {e}", database.path.display()))
        })?;
        result.decode::<T>().map_err(|e| {
            EnrichError::msg(format!("{}: corrupt record: {e}", database.path.display()))
        })
    }
}

/// Addresses no public database knows (private, loopback, link-local, documentation
/// ranges are kept: the test databases use some of them).
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback() || v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unique_local(),
    }
}

#[async_trait]
impl Enricher for GeoIpEnricher {
    fn name(&self) -> &str {
        "geoip"
    }

    async fn enrich(&self, event: &mut Event) -> Result<(), EnrichError> {
        let ip = event.src_ip;
        if is_local(ip) {
            return Ok(());
        }
        // Checking for a changed file first: a reload bumps the generation.
        for db in [&self.city, &self.asn, &self.anonymous]
            .into_iter()
            .flatten()
        {
            if db.check_due(self.reload_check) {
                let db = db.clone();
                if let Err(err) =
                    tokio::task::spawn_blocking(move || db.reload_if_changed_blocking()).await
                {
                    tracing::warn!(error = %err, "GeoIP reload check failed");
                }
            }
        }
        let generation = self.generation();
        let located = match self.recent.get(ip, generation) {
            Some(located) => located,
            None => {
                let located = Arc::new(self.locate(ip)?);
                self.recent.put(ip, generation, located.clone());
                located
            }
        };
        if let Some(geo) = &located.geo {
            event.enrichment.geo = Some(geo.clone());
        }
        if let Some(asn) = &located.asn {
            event.enrichment.asn = Some(asn.clone());
        }
        let tags = &mut event.enrichment.tags;
        for tag in &located.tags {
            if !tags.iter().any(|t| t == tag) {
                tags.push((*tag).to_owned());
            }
        }
        Ok(())
    }
}

impl GeoIpEnricher {
    /// Asks every database about `ip`.
    fn locate(&self, ip: IpAddr) -> Result<Located, EnrichError> {
        let mut located = Located::default();
        if let Some(db) = &self.city
            && let Some(record) = self.lookup::<CityRecord>(db, ip)?
        {
            let geo = Geo {
                country_code: record.country.iso_code,
                country: record.country.names.en,
                city: record.city.names.en,
                latitude: record.location.latitude,
                longitude: record.location.longitude,
            };
            if geo != Geo::default() {
                located.geo = Some(geo);
            }
        }
        if let Some(db) = &self.asn
            && let Some(AsnRecord {
                autonomous_system_number: Some(number),
                autonomous_system_organization,
            }) = self.lookup::<AsnRecord>(db, ip)?
        {
            located.asn = Some(Asn {
                number,
                organization: autonomous_system_organization,
            });
        }
        if let Some(db) = &self.anonymous
            && let Some(record) = self.lookup::<AnonymousRecord>(db, ip)?
        {
            for (flag, tag) in [
                (record.is_anonymous_vpn, "vpn"),
                (record.is_hosting_provider, "hosting"),
                (record.is_public_proxy, "public-proxy"),
                (record.is_residential_proxy, "residential-proxy"),
                (record.is_tor_exit_node, "tor"),
            ] {
                if flag {
                    located.tags.push(tag);
                }
            }
        }
        Ok(located)
    }
}
