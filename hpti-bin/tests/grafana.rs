//! The Grafana assets under `deploy/grafana/` against the real thing: every PromQL query
//! names only metrics (and labels) that `hpti run` exports, and every SQL query runs on
//! hpti's PostgreSQL schema, filled with the Cowrie fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests panic on failure by design

mod common;

use std::collections::BTreeSet;

use common::{
    fixture, hpti, metrics_address, panics_in, run, runtime, spawn_run, stderr, stop_cleanly,
};
use hpti_store::testing::TestDatabase;
use serde_json::Value;

const DASHBOARDS: [&str; 3] = ["pipeline", "sensors", "attacks"];

/// PromQL words that are not metric names.
const PROMQL: &[&str] = &[
    "sum",
    "rate",
    "irate",
    "increase",
    "by",
    "without",
    "avg",
    "max",
    "min",
    "count",
    "histogram_quantile",
    "topk",
    "bottomk",
    "clamp_min",
    "clamp_max",
    "abs",
    "delta",
    "deriv",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "vector",
    "scalar",
    "time",
    "label_replace",
    "sort",
    "sort_desc",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "count_over_time",
    "absent",
    "bool",
    "le",
    "inf",
    "nan",
];

/// Every query target of a dashboard, panels in rows included.
fn targets(dashboard: &Value) -> Vec<(String, Value)> {
    fn walk(panels: &Value, out: &mut Vec<(String, Value)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("").to_owned();
            for target in panel["targets"].as_array().into_iter().flatten() {
                out.push((title.clone(), target.clone()));
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

fn dashboard(name: &str) -> Value {
    let path = fixture(&format!("deploy/grafana/dashboards/{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        json["uid"].as_str().is_some_and(|u| u.starts_with("hpti-")),
        "{name}: uid"
    );
    json
}

/// Metric names and label names a PromQL expression uses.
fn promql_names(expr: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut labels = BTreeSet::new();
    let mut text = String::new();
    // Label matchers `{a="x", b=~"y"}`: their names are labels; drop them with the values.
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        text.push_str(&rest[..open]);
        let close = rest[open..].find('}').map(|c| open + c).unwrap();
        for matcher in rest[open + 1..close].split(',') {
            let name: String = matcher
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                labels.insert(name);
            }
        }
        rest = &rest[close + 1..];
    }
    text.push_str(rest);
    // `by (a, b)` / `without (...)`: label names.
    for keyword in ["by", "without"] {
        let mut search = text.as_str();
        while let Some(at) = search.find(&format!("{keyword} (")) {
            let inner = &search[at + keyword.len() + 2..];
            let close = inner.find(')').unwrap();
            for name in inner[..close].split(',') {
                labels.insert(name.trim().to_owned());
            }
            search = &inner[close..];
        }
    }
    // Ranges `[5m]`, `[$__rate_interval]` and the by-clauses go; what is left of the
    // identifiers are functions, keywords and metric names.
    let mut cleaned = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth > 0 => {}
            c => cleaned.push(c),
        }
    }
    for keyword in ["by", "without"] {
        while let Some(at) = cleaned.find(&format!("{keyword} (")) {
            let close = cleaned[at..].find(')').map(|c| at + c).unwrap();
            cleaned.replace_range(at..=close, " ");
        }
    }
    let metrics = cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| !w.is_empty() && !w.starts_with(|c: char| c.is_ascii_digit()))
        .filter(|w| !PROMQL.contains(&w.to_ascii_lowercase().as_str()))
        .map(str::to_owned)
        .collect();
    (metrics, labels)
}

/// The metric names (`# TYPE` families, with `_total`/`_bucket`/`_sum`/`_count` as
/// exposed) and label names an exposition holds.
fn exported(exposition: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut names = BTreeSet::new();
    let mut labels = BTreeSet::new();
    for line in exposition.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            match kind {
                "counter" => {
                    names.insert(format!("{}_total", name.trim_end_matches("_total")));
                }
                "histogram" => {
                    // Buckets carry `le` once they have a sample.
                    labels.insert("le".to_owned());
                    for suffix in ["_bucket", "_sum", "_count"] {
                        names.insert(format!("{name}{suffix}"));
                    }
                }
                _ => {
                    names.insert(name.to_owned());
                }
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name: String = line
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            names.insert(name);
            if let Some(open) = line.find('{') {
                let close = line.rfind('}').unwrap();
                for pair in line[open + 1..close].split("\",") {
                    if let Some((key, _)) = pair.split_once('=') {
                        labels.insert(key.trim().to_owned());
                    }
                }
            }
        }
    }
    (names, labels)
}

#[test]
fn every_prometheus_query_names_metrics_hpti_exports() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (ssh_port, api_port) = (free(), free());
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nlisten = \"127.0.0.1:0\"\n\n\
             [api]\nlisten = \"127.0.0.1:{api_port}\"\n\n\
             [sensors.ssh]\ntype = \"ssh\"\nlisten = \"127.0.0.1:{ssh_port}\"\n",
            dir.path().join("data")
        ),
    )
    .unwrap();
    let (child, mut log) = spawn_run(&config);
    let metrics = metrics_address(&mut log);
    let panics = panics_in(log);
    // Traffic, so that the families have series (and their labels show): a client that
    // says hello and leaves is a session stored and a sink write.
    {
        use std::io::{Read as _, Write as _};
        let mut ssh = std::net::TcpStream::connect(("127.0.0.1", ssh_port)).unwrap();
        ssh.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        ssh.write_all(b"SSH-2.0-grafana-check\r\n").unwrap();
        let mut banner = [0u8; 64];
        let _ = ssh.read(&mut banner);
    }
    // And an API request (refused without a token, counted by route and status).
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err() {
        assert!(started.elapsed().as_secs() < 20, "the API did not listen");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let refused = common::http_get(&format!("127.0.0.1:{api_port}"), "/api/v1/events");
    assert!(
        refused.starts_with("HTTP/1.0 401") || refused.starts_with("HTTP/1.1 401"),
        "{refused}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut exposition = common::http_get(&metrics, "/metrics");
    while !(exposition.contains("hpti_component_up{")
        && exposition.contains("hpti_sink_write_seconds_bucket{")
        && exposition.contains("hpti_api_requests_total{"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no sink write counted: {exposition}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        exposition = common::http_get(&metrics, "/metrics");
    }
    stop_cleanly(child, panics);
    let (names, labels) = exported(&exposition);
    assert!(names.contains("hpti_events_total"), "{exposition}");
    let mut checked = 0;
    for name in ["pipeline", "sensors"] {
        for (title, target) in targets(&dashboard(name)) {
            assert_eq!(
                target["datasource"]["uid"], "hpti-prometheus",
                "{name}: {title}"
            );
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: {title}: no expr"));
            let (used, used_labels) = promql_names(expr);
            assert!(!used.is_empty(), "{name}: {title}: {expr}");
            for metric in &used {
                assert!(
                    names.contains(metric),
                    "{name}: {title}: `{metric}` is not exported ({expr})"
                );
            }
            for label in &used_labels {
                assert!(
                    labels.contains(label),
                    "{name}: {title}: no series has label `{label}` ({expr})"
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "{checked} Prometheus queries");
}

/// `rawSql` with Grafana's macros as Grafana expands them, over the Cowrie fixture's day.
fn expand(sql: &str) -> String {
    let mut out = sql.to_owned();
    while let Some(at) = out.find("$__timeFilter(") {
        let close = at + out[at..].find(')').unwrap();
        let column = out[at + "$__timeFilter(".len()..close].to_owned();
        out.replace_range(
            at..=close,
            &format!(
                "{column} BETWEEN '2026-11-21T00:00:00Z'::timestamptz AND '2026-11-22T00:00:00Z'::timestamptz"
            ),
        );
    }
    while let Some(at) = out.find("$__timeGroupAlias(") {
        let close = at + out[at..].find(')').unwrap();
        let inner = out[at + "$__timeGroupAlias(".len()..close].to_owned();
        let column = inner.split(',').next().unwrap().trim().to_owned();
        out.replace_range(
            at..=close,
            &format!("to_timestamp(floor(extract(epoch from {column}) / 60) * 60) AS \"time\""),
        );
    }
    assert!(
        !out.contains("$__"),
        "a macro the test does not expand: {out}"
    );
    out
}

#[test]
fn every_sql_query_runs_on_the_postgres_schema() {
    let Some(db) = runtime().block_on(TestDatabase::create()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hpti.toml");
    std::fs::write(
        &config,
        format!(
            "[data]\ndir = {:?}\n\n[metrics]\nenabled = false\n\n\
             [sinks.pg]\ntype = \"postgres\"\nurl = {:?}\n\n[query]\nstore = \"pg\"\n",
            dir.path().join("data"),
            db.url
        ),
    )
    .unwrap();
    let ingest = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["ingest", "--format", "cowrie", "--downloads"])
        .arg(fixture("testdata/cowrie/downloads"))
        .arg(fixture("testdata/cowrie/cowrie.json")));
    assert!(ingest.status.success(), "{}", stderr(&ingest));
    // The store's summaries are folded when asked; a query folds what is queued.
    let query = run(hpti()
        .arg("--config")
        .arg(&config)
        .args(["query", "attackers"]));
    assert!(query.status.success(), "{}", stderr(&query));
    let targets = targets(&dashboard("attacks"));
    assert!(targets.len() >= 10);
    let results: Vec<(String, usize)> = runtime().block_on(async {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        let mut results = Vec::new();
        for (title, target) in &targets {
            assert_eq!(target["datasource"]["uid"], "hpti-postgres", "{title}");
            let sql = expand(
                target["rawSql"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{title}: no rawSql")),
            );
            let rows = sqlx::query(&sql)
                .fetch_all(&pool)
                .await
                .unwrap_or_else(|e| panic!("{title}: {e}\n{sql}"));
            results.push((title.clone(), rows.len()));
        }
        pool.close().await;
        results
    });
    // On the fixture's day the panels have something to show.
    let empty: Vec<&String> = results
        .iter()
        .filter(|(_, n)| *n == 0)
        .map(|(t, _)| t)
        .collect();
    assert!(
        empty.len() * 4 <= results.len(),
        "panels with no rows over the fixture's day: {empty:?}"
    );
}

#[test]
fn promql_names_are_found_and_labels_told_apart() {
    let (metrics, labels) = promql_names(
        "histogram_quantile(0.99, sum by (component, le) (rate(hpti_sink_write_seconds_bucket{stage=\"sink\"}[$__rate_interval])))",
    );
    assert_eq!(
        metrics,
        BTreeSet::from(["hpti_sink_write_seconds_bucket".to_owned()])
    );
    assert_eq!(
        labels,
        ["component", "le", "stage"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}

#[test]
fn the_dashboards_and_their_provisioning_agree() {
    let mut uids = BTreeSet::new();
    for name in DASHBOARDS {
        let json = dashboard(name);
        assert!(
            uids.insert(json["uid"].as_str().unwrap().to_owned()),
            "{name}: a duplicate uid"
        );
        assert!(!targets(&json).is_empty(), "{name} has queries");
    }
    let sources =
        std::fs::read_to_string(fixture("deploy/grafana/provisioning/datasources/hpti.yaml"))
            .unwrap();
    for uid in ["uid: hpti-prometheus", "uid: hpti-postgres"] {
        assert!(sources.contains(uid), "the data sources provision {uid}");
    }
    let providers =
        std::fs::read_to_string(fixture("deploy/grafana/provisioning/dashboards/hpti.yaml"))
            .unwrap();
    assert!(providers.contains("/var/lib/grafana/dashboards/hpti"));
}
