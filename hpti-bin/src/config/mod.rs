//! The configuration: its schema (`schema.rs`), the registry of component types
//! (`registry.rs`), and the wiring of built components into a pipeline.

pub(crate) mod registry;
mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use std::collections::BTreeMap;

use hpti_alert::manager::{AlertManager, ManagerConfig, RetryPolicy as NotifyRetry, Route};
use hpti_alert::rules::{ClockMode, RuleOptions, RuleSet, RuleSpec, YamlRule, load_rules};
use hpti_core::alert_store::AlertStore;
use hpti_core::buffer::{BufferConfig, DiskBufferConfig, WhenFull};
use hpti_core::component::{BuildContext, ComponentId};
use hpti_core::metrics::PipelineMetrics;
use hpti_core::pipeline::{BatchConfig, PipelineBuilder, PipelineConfig, RetryPolicy};
use hpti_core::source::Source;
use hpti_store::EventQueries;

pub use registry::Components;
pub use schema::*;

/// A built pipeline's parts that the commands still need.
pub struct Built {
    /// The pipeline, ready to start.
    pub builder: PipelineBuilder,
    /// The sink ids, in config order.
    pub sinks: Vec<ComponentId>,
    /// The alert manager and its input, when there are rules: started beside the
    /// pipeline, finished after it.
    pub alerts: Option<(
        AlertManager,
        tokio::sync::mpsc::Receiver<hpti_core::alert::Alert>,
    )>,
}

impl Built {
    /// Starts the alert manager (if there are rules); call once, after the pipeline
    /// started.
    pub fn start_alerts(&mut self) -> Option<hpti_alert::manager::ManagerHandle> {
        self.alerts
            .take()
            .map(|(manager, input)| manager.start(input))
    }
}

/// Finishes the alert manager after the pipeline stopped: what is pending is sent or
/// dead-lettered; logs what it did.
pub async fn finish_alerts(
    handle: Option<hpti_alert::manager::ManagerHandle>,
) -> Option<hpti_alert::manager::ManagerStats> {
    let stats = handle?.finish().await;
    tracing::info!(
        alerts = stats.received,
        delivered = stats.delivered,
        failed = stats.failed,
        silenced = stats.silenced,
        inhibited = stats.inhibited,
        escalated = stats.escalated,
        "alert manager finished"
    );
    Some(stats)
}

/// Alerts raised and not yet taken by the manager; beyond it the rules wait (and their
/// own queue, not the sinks, sheds events, counted).
const ALERT_QUEUE: usize = 4096;

/// How long `hpti run` waits for notifications in flight when it stops (well within
/// systemd's 90 s stop timeout); what is left is dead-lettered and sent at the next start.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl Config {
    /// What `hpti config check` checks beyond the types, so that it refuses what `run`
    /// would: the honeypot's credential rules and allow list, the query store, each
    /// enricher built (its databases and lists opened and read, its keys present), and
    /// the `[privileges]` user. Nothing is bound, written or started.
    pub async fn check(&self) -> anyhow::Result<()> {
        let components = self.components()?;
        let (text, file) = (&self.source.0, &self.source.1);
        let error = |key: &str, message: String| ConfigError {
            file: file.clone(),
            line: line_of_key(text, key),
            key: Some(key.to_owned()),
            message,
        };
        if let Some(store) = self.query.store.as_deref() {
            components
                .query_store(Some(store))
                .map_err(|message| error("query.store", message))?;
        }
        if !components.sensors.is_empty() {
            self.honeypot
                .check()
                .map_err(|(key, message)| error(key, message))?;
        }
        let metrics = PipelineMetrics::default();
        for (kind, list) in [
            ("sensors", &components.sensors),
            ("sources", &components.sources),
        ] {
            for (id, source) in list {
                source
                    .check(&self.build_context(id, &metrics))
                    .map_err(|e| {
                        let (key, message) = component_error(kind, id, e);
                        error(&key, message)
                    })?;
            }
        }
        for (id, sink) in &components.sinks {
            sink.config()
                .check(&self.build_context(id, &metrics))
                .map_err(|e| {
                    let (key, message) = component_error("sinks", id, e);
                    error(&key, message)
                })?;
        }
        for (id, enricher) in &components.enrichers {
            enricher
                .build(&self.build_context(id, &metrics))
                .await
                .map_err(|e| {
                    let key = match e.key.as_deref() {
                        Some(k) => format!("enrichers.{id}.{k}"),
                        None => format!("enrichers.{id}"),
                    };
                    let shown = format!("{:#}", anyhow::Error::from(e));
                    let message = shown
                        .split_once("`: ")
                        .filter(|(head, _)| head.starts_with("key `"))
                        .map_or(shown.clone(), |(_, rest)| rest.to_owned());
                    error(&key, message)
                })?;
        }
        let rules = self
            .alert_rules()
            .map_err(|e| error("alerting.rules", e.to_string()))?;
        for spec in &rules {
            for (field, ids) in [("notify", &spec.notify), ("escalate_to", &spec.escalate_to)] {
                if let Some(id) = ids.iter().find(|id| {
                    !components
                        .notifiers
                        .iter()
                        .any(|(n, _)| n.as_str() == id.as_str())
                }) {
                    let line = hpti_alert::rules::spec::line_of_field(&spec.file, field);
                    return Err(error(
                        "alerting.rules",
                        format!(
                            "{}{}: {field}: no notifier `{id}` (add [notifiers.{id}])",
                            spec.file.display(),
                            line.map(|l| format!(":{l}")).unwrap_or_default()
                        ),
                    )
                    .into());
                }
            }
        }
        for (id, report) in &self.reports {
            if !matches!(report.period.as_str(), "daily" | "weekly") {
                return Err(error(
                    &format!("reports.{id}.period"),
                    format!("{:?}: use daily or weekly", report.period),
                )
                .into());
            }
            report
                .time_of_day()
                .map_err(|m| error(&format!("reports.{id}.at"), m))?;
            report
                .weekday_index()
                .map_err(|m| error(&format!("reports.{id}.weekday"), m))?;
            if report.notify.is_empty() {
                return Err(error(
                    &format!("reports.{id}.notify"),
                    "name at least one notifier".into(),
                )
                .into());
            }
            if let Some(missing) = report.notify.iter().find(|n| {
                !components
                    .notifiers
                    .iter()
                    .any(|(c, _)| c.as_str() == n.as_str())
            }) {
                return Err(error(
                    &format!("reports.{id}.notify"),
                    format!("no notifier `{missing}` (add [notifiers.{missing}])"),
                )
                .into());
            }
        }
        if let Some(user) = self.privileges.user.as_deref() {
            nix::unistd::User::from_name(user)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    error("privileges.user", format!("no user {user:?} on this host"))
                })?;
        }
        if let Some(group) = self.privileges.group.as_deref() {
            nix::unistd::Group::from_name(group)
                .ok()
                .flatten()
                .ok_or_else(|| {
                    error(
                        "privileges.group",
                        format!("no group {group:?} on this host"),
                    )
                })?;
        }
        Ok(())
    }

    /// The directory relative rule paths start from: the config file's, or the current
    /// one for the embedded default.
    pub fn config_dir(&self) -> PathBuf {
        let file = Path::new(&self.source.1);
        match file.parent() {
            Some(dir) if file.is_file() && !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// Reads and checks the rule files of `[alerting] rules`.
    pub fn alert_rules(&self) -> Result<Vec<RuleSpec>, hpti_alert::rules::RuleError> {
        if self.alerting.rules.is_empty() {
            return Ok(Vec::new());
        }
        load_rules(&self.alerting.rules, &self.config_dir())
    }

    /// How rules keep state across restarts and tell time (`Live` for `hpti run`).
    pub fn rule_options(&self, clock: ClockMode) -> RuleOptions {
        RuleOptions {
            clock,
            state_dir: Some(self.data.dir.join("alerting")),
        }
    }

    /// The analyzer of captured files that `[analysis]` describes: the artifact store of
    /// the data directory, and the YARA rules of `yara_rules` (relative to the config
    /// file's directory; unset: `rules/yara` if it exists, else none).
    pub fn file_analyzer(&self) -> anyhow::Result<hpti_enrich::file::FileAnalyzer> {
        use hpti_enrich::file::{FileAnalyzer, YaraRules};
        let analysis = &self.analysis;
        let rules_dir = self.yara_rules_dir()?;
        let yara = match rules_dir {
            Some(dir) => {
                let rules = YaraRules::load_dir(&dir, analysis.scan_timeout)
                    .with_context(|| "analysis.yara_rules".to_owned())?;
                tracing::info!(
                    dir = %dir.display(), files = rules.files().len(),
                    "YARA rules loaded for captured files"
                );
                Some(Arc::new(rules))
            }
            None => None,
        };
        Ok(FileAnalyzer::new(
            &self.data.dir.join("artifacts"),
            yara,
            analysis.max_file_size,
        ))
    }

    /// The YARA rule directory of `[analysis] yara_rules` (relative to the config file's
    /// directory; unset: `rules/yara` if it exists, else none).
    pub fn yara_rules_dir(&self) -> anyhow::Result<Option<PathBuf>> {
        match &self.analysis.yara_rules {
            Some(dir) => {
                let dir = self.config_dir().join(dir);
                anyhow::ensure!(
                    dir.is_dir(),
                    "analysis.yara_rules{}: {} is not a directory",
                    self.line_of("yara_rules")
                        .map(|l| format!(" (line {l})"))
                        .unwrap_or_default(),
                    dir.display()
                );
                Ok(Some(dir))
            }
            None => Ok(Some(
                self.config_dir()
                    .join(hpti_enrich::file::DEFAULT_YARA_RULES),
            )
            .filter(|d| d.is_dir())),
        }
    }

    /// The line of the config file where `key` is first set, if it is.
    fn line_of(&self, key: &str) -> Option<usize> {
        self.source
            .0
            .lines()
            .position(|line| {
                line.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|index| index + 1)
    }

    /// Types every component table (the registry).
    pub fn components(&self) -> Result<Components, ConfigError> {
        Components::read(self, &self.source.0, &self.source.1)
    }

    /// The build context of component `id`.
    pub fn build_context(&self, id: &ComponentId, metrics: &PipelineMetrics) -> BuildContext {
        BuildContext::new(id.clone(), self.data.dir.clone(), metrics.clone())
            .with_enrich_timeout(self.pipeline.enrich_timeout)
    }

    /// The pipeline with every configured enricher and sink built.
    pub async fn pipeline(
        &self,
        components: &Components,
        metrics: PipelineMetrics,
        clock: ClockMode,
    ) -> anyhow::Result<Built> {
        self.pipeline_with_linger(components, metrics, None, clock)
            .await
    }

    /// [`Config::pipeline`], with no sink's batch waiting longer than `max_linger` to
    /// fill: a one-shot ingest waits for every event's acknowledgement before it ends,
    /// and an archive's five-minute linger would hold it that long.
    pub async fn pipeline_with_linger(
        &self,
        components: &Components,
        metrics: PipelineMetrics,
        max_linger: Option<std::time::Duration>,
        clock: ClockMode,
    ) -> anyhow::Result<Built> {
        let mut builder = self.enriched(components, metrics.clone()).await?;
        let mut sinks = Vec::new();
        for (id, sink) in &components.sinks {
            let built = sink
                .config()
                .build(&self.build_context(id, &metrics))
                .await
                .with_context(|| format!("sinks.{id}"))?;
            let mut batch = built.batch.unwrap_or(self.pipeline_config().batch);
            if let Some(max) = max_linger {
                batch.linger = batch.linger.min(max);
            }
            builder = builder.sink_with_batching(id.clone(), built.sink, batch);
            sinks.push(id.clone());
        }
        if let Ok((id, _)) = components.query_store(self.query.store.as_deref()) {
            builder = builder.rules_after(id.clone());
        }
        let options = self.rule_options(clock);
        let specs = self
            .alert_rules()
            .map_err(|e| anyhow::anyhow!("alerting.rules: {e}"))?;
        let mut alerts = None;
        if specs.iter().any(|s| s.enabled) {
            let manager = self
                .alert_manager(components, &metrics, &specs, clock)
                .await?;
            let (sender, receiver) = tokio::sync::mpsc::channel(ALERT_QUEUE);
            builder = builder.alerts_to(sender);
            alerts = Some((manager, receiver));
        }
        // One rule set: each event is viewed once for all rules.
        let rules: Vec<YamlRule> = specs
            .into_iter()
            .filter(|s| s.enabled)
            .map(|spec| YamlRule::new(spec, &options))
            .collect();
        if !rules.is_empty() {
            builder = builder.rule(Box::new(RuleSet::new(rules)));
        }
        Ok(Built {
            builder,
            sinks,
            alerts,
        })
    }

    /// The alert manager: the rules' routes, the notifiers built, state in the query
    /// store. A service (live clock) gives its deliveries in flight a grace period when
    /// it stops; a one-shot ingest (event time) waits for each.
    pub async fn alert_manager(
        &self,
        components: &Components,
        metrics: &PipelineMetrics,
        specs: &[RuleSpec],
        clock: ClockMode,
    ) -> anyhow::Result<AlertManager> {
        let mut notifiers = BTreeMap::new();
        for (id, notifier) in &components.notifiers {
            let built = notifier
                .build(&self.build_context(id, metrics))
                .await
                .with_context(|| format!("notifiers.{id}"))?;
            notifiers.insert(id.as_str().to_owned(), built);
        }
        let store = self.open_alert_store(components).await?;
        let routes = specs
            .iter()
            .filter(|s| s.enabled)
            .map(|s| (s.name.clone(), Route::of(s)))
            .collect();
        let config = ManagerConfig {
            group_wait: self.alerting.group_wait,
            group_interval: self.alerting.group_interval,
            repeat_interval: self.alerting.repeat_interval,
            routes,
            inhibit_equal: self.alerting.inhibit_equal.clone(),
            dead_letter_path: Some(
                self.data
                    .dir
                    .join("alerting")
                    .join("notifications.dead.jsonl"),
            ),
            shutdown_grace: (clock == ClockMode::Live).then_some(SHUTDOWN_GRACE),
            retry: NotifyRetry {
                retry_for: self.alerting.retry_for,
                ..NotifyRetry::default()
            },
            metrics: metrics.clone(),
            ..ManagerConfig::default()
        };
        Ok(AlertManager::new(config, notifiers, store))
    }

    /// Where alerts, silences and the notification log are kept: beside the query store.
    pub async fn open_alert_store(
        &self,
        components: &Components,
    ) -> anyhow::Result<Arc<dyn AlertStore>> {
        let (id, store) = components
            .query_store(self.query.store.as_deref())
            .map_err(anyhow::Error::msg)?;
        let metrics = PipelineMetrics::default();
        store
            .open_alert_store(&self.build_context(id, &metrics))
            .await
            .with_context(|| format!("sinks.{id}: the alert store"))
    }

    /// A pipeline builder with the configured settings and enrichers, and no sink yet
    /// (benchmarks add their own).
    pub async fn enriched(
        &self,
        components: &Components,
        metrics: PipelineMetrics,
    ) -> anyhow::Result<PipelineBuilder> {
        let mut builder = PipelineBuilder::new(self.pipeline_config()).metrics(metrics.clone());
        // First, so that every other enricher (and every sink) sees the file's analysis.
        let analyzer = self.file_analyzer()?;
        builder = builder.enricher(
            ComponentId::new("analysis").context("the analysis enricher's id")?,
            Arc::new(analyzer),
        );
        for (id, enricher) in &components.enrichers {
            let built = enricher
                .build(&self.build_context(id, &metrics))
                .await
                .with_context(|| format!("enrichers.{id}"))?;
            for enricher in built {
                builder = builder.enricher(id.clone(), enricher);
            }
        }
        Ok(builder)
    }

    /// Builds the sensors and log sources, in config order.
    pub async fn sources(
        &self,
        components: &Components,
        metrics: &PipelineMetrics,
    ) -> anyhow::Result<Vec<(ComponentId, Arc<dyn Source>)>> {
        let mut built = Vec::new();
        for (kind, list) in [
            ("sources", &components.sources),
            ("sensors", &components.sensors),
        ] {
            for (id, config) in list {
                let source = config
                    .build(&self.build_context(id, metrics))
                    .await
                    .with_context(|| format!("{kind}.{id}"))?;
                built.push((id.clone(), Arc::from(source)));
            }
        }
        Ok(built)
    }

    /// Opens the query store read-only (`[query] store`, or the only queryable sink).
    pub async fn open_queries(&self) -> anyhow::Result<Arc<dyn EventQueries>> {
        self.open_query_store(false).await
    }

    /// The query store, open for the writes that are not events (file analyses).
    pub async fn open_writable_queries(&self) -> anyhow::Result<Arc<dyn EventQueries>> {
        self.open_query_store(true).await
    }

    async fn open_query_store(&self, writable: bool) -> anyhow::Result<Arc<dyn EventQueries>> {
        let components = self.components()?;
        let (id, store) = components
            .query_store(self.query.store.as_deref())
            .map_err(anyhow::Error::msg)?;
        let metrics = PipelineMetrics::default();
        let cx = self.build_context(id, &metrics);
        let opened = if writable {
            store.open_writable_queries(&cx).await
        } else {
            store.open_queries(&cx).await
        };
        opened.with_context(|| format!("sinks.{id}"))
    }

    /// A path from the config, resolved against the data directory.
    pub fn data_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.data.dir.join(path)
        }
    }

    pub fn pipeline_config(&self) -> PipelineConfig {
        let p = &self.pipeline;
        let mut config = PipelineConfig::with_dead_letter_path(self.data_path(&p.dead_letter_file));
        config.queue_capacity = p.queue_capacity.get();
        config.processor_batch = p.processor_batch.get();
        config.sink_queue_batches = p.sink_queue_batches.get();
        config.batch = BatchConfig::new(
            p.batch_size.get(),
            p.batch_bytes.get(),
            p.linger,
            p.sink_concurrency.get(),
        );
        config.retry = RetryPolicy {
            max_retries: p.max_retries.0,
            initial_backoff: p.retry_backoff,
            max_backoff: p.max_retry_backoff,
        };
        config.enrich_concurrency = p.enrich_concurrency.get();
        config.enrich_timeout = p.enrich_timeout;
        config.dead_letter_max_bytes = p.dead_letter_max_bytes;
        config.alert_tick = p.alert_tick;
        config.shutdown_grace = p.shutdown_grace;
        config.buffer = match p.buffer.unwrap_or(self.default_buffer()) {
            schema::BufferKind::Memory => BufferConfig::Memory,
            schema::BufferKind::Disk => BufferConfig::Disk(
                DiskBufferConfig::new(self.data.dir.join("buffer"), p.buffer_max_bytes).when_full(
                    match p.buffer_when_full {
                        schema::BufferWhenFull::Block => WhenFull::Block,
                        schema::BufferWhenFull::DropNewest => WhenFull::DropNewest,
                    },
                ),
            ),
        };
        config
    }

    /// An edge that sends its events to NATS keeps them on disk until JetStream has
    /// them (its outbox); any other config queues in memory unless told otherwise.
    fn default_buffer(&self) -> schema::BufferKind {
        let edge = self
            .components
            .iter()
            .any(|c| c.kind == "sinks" && c.type_name == "nats");
        if edge {
            schema::BufferKind::Disk
        } else {
            schema::BufferKind::Memory
        }
    }

    pub fn dead_letter_path(&self) -> PathBuf {
        self.data_path(&self.pipeline.dead_letter_file)
    }

    pub fn checkpoint_path(&self) -> PathBuf {
        self.data.dir.join("checkpoints.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_defaults_are_the_runtime_defaults() {
        let from_config = Config::default().pipeline_config();
        let mut core = PipelineConfig::default();
        core.dead_letter_path = from_config.dead_letter_path.clone();
        assert_eq!(format!("{from_config:?}"), format!("{core:?}"));
    }
}

#[cfg(test)]
mod component_tests {
    use super::*;

    fn components(text: &str) -> Result<Components, ConfigError> {
        Config::parse(text, "f")?.components()
    }

    #[test]
    fn the_embedded_default_is_the_built_in_default() {
        let embedded = Config::parse(DEFAULT_TOML, "default").unwrap();
        let empty = Config::parse("", "empty").unwrap();
        assert_eq!(
            format!("{:?}", embedded.components().unwrap()),
            format!("{:?}", empty.components().unwrap())
        );
        assert_eq!(
            format!("{:?}", embedded.pipeline_config()),
            format!("{:?}", empty.pipeline_config())
        );
        assert_eq!(
            format!("{:?}", embedded.honeypot),
            format!("{:?}", empty.honeypot)
        );
        let c = embedded.components().unwrap();
        let ids = |list: &[(ComponentId, Box<dyn hpti_core::component::SourceConfig>)]| {
            list.iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&c.sensors), vec!["ssh", "telnet", "ftp", "http"]);
        assert_eq!(c.sinks.len(), 1);
        assert_eq!(c.sinks[0].0.as_str(), "main");
    }

    #[test]
    fn a_named_kind_replaces_its_defaults_and_others_keep_theirs() {
        let c =
            components("[enrichers.tor]\ntype = \"iplist\"\ntag = \"tor\"\nfile = \"tor.txt\"\n")
                .unwrap();
        assert_eq!(c.enrichers.len(), 1);
        assert_eq!(
            c.sinks.len(),
            1,
            "no sink named: the default SQLite sink stays"
        );
        assert_eq!(
            c.sensors.len(),
            4,
            "no sensor named: the default sensors stay"
        );
        let c = components("[sensors]\n").unwrap();
        assert!(c.sensors.is_empty(), "an empty [sensors] means no sensors");
        let c = components(
            "[sensors.a]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\n[sensors.b]\ntype = \"ssh\"\nlisten = \"127.0.0.1:0\"\nbanner = \"SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3\"\n",
        )
        .unwrap();
        assert_eq!(c.sensors.len(), 2);
    }

    #[test]
    fn an_unknown_type_names_the_key_the_line_and_the_known_types() {
        let err =
            components("[data]\ndir = \"x\"\n\n[sinks.main]\ntype = \"sqlit\"\n").unwrap_err();
        assert_eq!(err.line, Some(5), "{err}");
        assert_eq!(err.key.as_deref(), Some("sinks.main.type"), "{err}");
        assert!(err.message.contains("known types: sqlite"), "{err}");
        let err = components("[notifiers.teams]\ntype = \"teams\"\n").unwrap_err();
        assert!(
            err.message
                .contains("known types: webhook, slack, discord, pagerduty, email"),
            "{err}"
        );
    }

    #[test]
    fn a_component_s_own_errors_name_its_key_and_line() {
        let err =
            components("[sinks.main]\ntype = \"sqlite\"\npath = \"a.db\"\nsynchronous = \"off\"\n")
                .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sinks.main.synchronous"), "{err}");
        assert_eq!(err.line, Some(4), "{err}");
        let err =
            components("[sensors.ssh]\ntype = \"ssh\"\n\nlisten = \"localhost\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sensors.ssh.listen"), "{err}");
        assert_eq!(err.line, Some(4), "{err}");
        let err = components(
            "[sources.x]\ntype = \"file\"\nformat = \"hpti\"\npaths = [\"a\"]\nfollw = true\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sources.x.follw"), "{err}");
        assert_eq!(err.line, Some(5), "{err}");
        // A nested table where a value belongs: its own header's key and line.
        let err = components(
            "[sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:1\"\n\n[sensors.ssh.persona]\nfoo = 1\n",
        )
        .unwrap_err();
        assert_eq!(err.key.as_deref(), Some("sensors.ssh.persona"), "{err}");
        assert_eq!(err.line, Some(5), "{err}");
        let err = components("[sinks.\"a b\"]\ntype = \"sqlite\"\n").unwrap_err();
        assert!(err.message.contains("letters, digits"), "{err}");
    }

    #[test]
    fn the_query_store_is_the_only_queryable_sink_or_the_named_one() {
        let two = "[sinks.a]\ntype = \"sqlite\"\npath = \"a.db\"\n[sinks.b]\ntype = \"sqlite\"\npath = \"b.db\"\n";
        let c = components(two).unwrap();
        assert!(c.query_store(None).unwrap_err().contains("several sinks"));
        assert_eq!(c.query_store(Some("b")).unwrap().0.as_str(), "b");
        assert!(c.query_store(Some("z")).is_err());
        let c = components("").unwrap();
        assert_eq!(c.query_store(None).unwrap().0.as_str(), "main");
    }
}

/// A component's check error as the file's key (`sinks.up.subject`) and a message
/// without the component's own "key `subject`: " prefix, which the file's error replaces
/// with the full key and its line.
fn component_error(
    kind: &str,
    id: &ComponentId,
    e: hpti_core::component::BuildError,
) -> (String, String) {
    let key = match e.key.as_deref() {
        Some(k) => format!("{kind}.{id}.{k}"),
        None => format!("{kind}.{id}"),
    };
    let shown = format!("{:#}", anyhow::Error::from(e));
    let message = shown
        .split_once("`: ")
        .filter(|(head, _)| head.starts_with("key `"))
        .map_or(shown.clone(), |(_, rest)| rest.to_owned());
    (key, message)
}
