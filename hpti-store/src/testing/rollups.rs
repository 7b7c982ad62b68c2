//! The rollup conformance suite: rankings read from hourly and daily rollups, all-time totals and
//! first/last-seen pairs must equal what the events alone say, for every shape of window
//! (all time, open-ended from a day or hour boundary or from inside an hour, closed, ending
//! after the newest event) and for events that arrive late, into hours already folded.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::net::IpAddr;

use hpti_core::event::{AuthMethod, Event, EventKind, Protocol, Timestamp};
use hpti_core::sink::Sink;

use super::FIXTURE_BASE_MICROS;
use crate::error::StoreError;
use crate::query::{
    AttackerSummary, CommandCount, CredentialCount, DownloadSummary, EventQueries, MAX_LIST,
    Window, WindowOverview,
};

const HOUR: i64 = 3_600_000_000;
const MINUTE: i64 = 60_000_000;

/// A small deterministic generator (no dependency for a test fixture).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Sessions over seven hours (from half an hour before the base on) and, one in six, over
/// the 60 hours before, each from one of eight addresses: logins (one key-based), commands and downloads.
pub fn rollup_fixture() -> Vec<Event> {
    let mut rng = Lcg(0x5eed);
    let addresses: Vec<IpAddr> = [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.10",
        "203.0.113.7",
        "203.0.113.70",
        "45.61.1.1",
        "2001:db8::1",
        "2001:db8::a",
    ]
    .iter()
    .filter_map(|a| a.parse().ok())
    .collect();
    let mut events = Vec::new();
    for session in 0..120 {
        let ip = addresses[rng.below(addresses.len() as u64) as usize];
        let mut time = FIXTURE_BASE_MICROS - 30 * MINUTE + rng.below(7 * 60) as i64 * MINUTE;
        // One session in six in the 60 hours before: windows of days, read from the daily
        // rollups, the hourly ones and the events together.
        if session % 6 == 5 {
            time -= (1 + rng.below(60)) as i64 * HOUR;
        }
        let id = format!("r{session}");
        let mut push = |kind: EventKind, step: i64| {
            events.push(
                Event::new("ssh", Protocol::Ssh, ip, kind)
                    .with_session(id.clone())
                    .with_time(Timestamp::from_micros(time)),
            );
            time += step;
        };
        push(EventKind::SessionStarted, 7_000_000);
        let logins = 1 + rng.below(4);
        let success = rng.below(3) == 0;
        for attempt in 0..logins {
            let key_based = rng.below(10) == 0;
            push(
                EventKind::LoginAttempt {
                    username: rng.pick(&["root", "admin", "pi"]).into(),
                    password: (!key_based)
                        .then(|| rng.pick(&["", "123456", "admin", "raspberry"]).into()),
                    key_type: None,
                    key_fingerprint: None,
                    method: if key_based {
                        AuthMethod::Publickey
                    } else {
                        AuthMethod::Password
                    },
                    success: success && attempt + 1 == logins,
                },
                // Some sessions run across an hour boundary.
                rng.below(20) as i64 * MINUTE,
            );
        }
        if success {
            for _ in 0..rng.below(4) {
                push(
                    EventKind::CommandInput {
                        command: rng
                            .pick(&["uname -a", "id", "cat /proc/cpuinfo", "w"])
                            .into(),
                    },
                    3_000_000,
                );
            }
            if rng.below(2) == 0 {
                let sample = rng.below(3);
                push(
                    EventKind::FileDownload {
                        url: format!("http://203.0.113.{}/x{sample}", 1 + rng.below(2)),
                        sha256: Some(format!("{sample:064x}")),
                        size: (sample != 2).then_some(1000 * (sample + 1)),
                        error: None,
                    },
                    1_000_000,
                );
            }
        }
        push(
            EventKind::SessionClosed {
                duration_ms: 1000,
                recording: None,
            },
            0,
        );
    }
    // Web requests, some of them attacks (the commands views rank those), and FTP uploads
    // of the same samples the sessions download. Half a second off the sessions' whole
    // seconds, so no upload shares an instant with another capture of its file.
    for i in 0..80_i64 {
        let ip = addresses[rng.below(addresses.len() as u64) as usize];
        let time = FIXTURE_BASE_MICROS - 30 * MINUTE
            + rng.below(7 * 60) as i64 * MINUTE
            + 500_000
            + i * 1000;
        let kind = if i % 4 == 3 {
            let sample = rng.below(3);
            EventKind::FileUpload {
                filename: rng.pick(&["bins.sh", "x", "a b.txt"]).into(),
                sha256: Some(format!("{sample:064x}")),
                size: (sample != 2).then_some(1000 * (sample + 1)),
            }
        } else {
            let labels: &[&str] = match rng.below(5) {
                0 => &[],
                1 => &["scanner:nikto"],
                2 => &["scanner:sqlmap", "sqli"],
                3 => &["log4shell"],
                _ => &["lfi", "tool:curl"],
            };
            EventKind::HttpRequest {
                method: rng.pick(&["GET", "POST"]).into(),
                uri: rng
                    .pick(&["/", "/index.php?id=1%27", "/cgi-bin/.%2e/etc/passwd"])
                    .into(),
                host: None,
                user_agent: None,
                status: Some(200),
                labels: labels.iter().map(|l| (*l).to_owned()).collect(),
                detail: None,
            }
        };
        let (sensor, protocol) = if i % 4 == 3 {
            ("ftp", Protocol::Ftp)
        } else {
            ("http", Protocol::Http)
        };
        let mut event =
            Event::new(sensor, protocol, ip, kind).with_time(Timestamp::from_micros(time));
        if i % 4 == 3 {
            event = event.with_session(format!("f{i}"));
        }
        events.push(event);
    }
    // One sample fetched from more addresses and URLs than a row lists, some at the same
    // instant (ties at the cut are broken by text), over three hours.
    for i in 0..(MAX_LIST as u64 + 50) {
        let ip = IpAddr::from([198, 18, (i / 200) as u8, (i % 200) as u8 + 1]);
        let time = FIXTURE_BASE_MICROS + HOUR + (i as i64 / 3) * 2 * MINUTE;
        events.push(
            Event::new(
                "http",
                Protocol::Http,
                ip,
                EventKind::FileDownload {
                    url: format!("http://198.51.100.9/bot{}", i % 120),
                    sha256: Some("f".repeat(64)),
                    size: Some(777),
                    error: None,
                },
            )
            .with_time(Timestamp::from_micros(time)),
        );
    }
    // Its latest download alone at its instant: of captures at one instant, which a
    // store calls the latest is not defined.
    events.push(
        Event::new(
            "http",
            Protocol::Http,
            IpAddr::from([198, 18, 9, 9]),
            EventKind::FileDownload {
                url: "http://198.51.100.9/bot-last".into(),
                sha256: Some("f".repeat(64)),
                size: Some(777),
                error: None,
            },
        )
        .with_time(Timestamp::from_micros(FIXTURE_BASE_MICROS + 4 * HOUR)),
    );
    events
}

fn in_window(window: &Window, event: &Event) -> bool {
    window.since.is_none_or(|since| event.time >= since)
        && window.until.is_none_or(|until| event.time < until)
}

/// The credentials ranking computed from the events themselves.
pub fn expected_credentials(events: &[Event], window: &Window) -> Vec<CredentialCount> {
    /// Attempts, successes and addresses of a (user name, password) pair.
    type Tally = (u64, u64, BTreeSet<IpAddr>);
    let mut keys: BTreeMap<(String, Option<String>), Tally> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        if let EventKind::LoginAttempt {
            username,
            password,
            success,
            ..
        } = &event.kind
        {
            let entry = keys
                .entry((username.clone(), password.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 += u64::from(*success);
            entry.2.insert(event.src_ip);
        }
    }
    let mut rows: Vec<CredentialCount> = keys
        .into_iter()
        .map(
            |((username, password), (attempts, successes, sources))| CredentialCount {
                username,
                password,
                attempts,
                successes,
                sources: sources.len() as u64,
            },
        )
        .collect();
    // Ties by user name, then password (none first), as the stores order them.
    rows.sort_by(|a, b| {
        b.attempts
            .cmp(&a.attempts)
            .then_with(|| a.username.cmp(&b.username))
            .then_with(|| a.password.cmp(&b.password))
    });
    rows.truncate(window.limit as usize);
    rows
}

/// The commands ranking computed from the events themselves: command lines and HTTP
/// attack requests ([`EventKind::attempted_command`]).
pub fn expected_commands(events: &[Event], window: &Window) -> Vec<CommandCount> {
    type Seen = BTreeMap<String, Timestamp>;
    let mut keys: BTreeMap<String, (u64, BTreeSet<IpAddr>, Seen)> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        if let Some(command) = event.kind.attempted_command() {
            let entry = keys.entry(command.into_owned()).or_default();
            entry.0 += 1;
            entry.1.insert(event.src_ip);
            if let EventKind::HttpRequest { labels, .. } = &event.kind {
                for label in labels {
                    let last = entry.2.entry(label.clone()).or_insert(event.time);
                    *last = (*last).max(event.time);
                }
            }
        }
    }
    let mut rows: Vec<CommandCount> = keys
        .into_iter()
        .map(|(command, (count, sources, labels))| CommandCount {
            command,
            count,
            sources: sources.len() as u64,
            labels: most_recent(&labels),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.command.cmp(&b.command))
    });
    rows.truncate(window.limit as usize);
    rows
}

/// The [`MAX_LIST`] most recently seen of `last_seen`'s keys (ties by text), sorted.
fn most_recent(last_seen: &BTreeMap<String, Timestamp>) -> Vec<String> {
    let mut keys: Vec<(&String, &Timestamp)> = last_seen.iter().collect();
    keys.sort_by(|(a, a_time), (b, b_time)| b_time.cmp(a_time).then_with(|| a.cmp(b)));
    let mut list: Vec<String> = keys
        .into_iter()
        .take(MAX_LIST)
        .map(|(key, _)| key.clone())
        .collect();
    list.sort();
    list
}

/// The downloads ranking computed from the events themselves: downloads and uploads.
pub fn expected_downloads(events: &[Event], window: &Window) -> Vec<DownloadSummary> {
    type Seen = BTreeMap<String, Timestamp>;
    let mut keys: BTreeMap<String, (DownloadSummary, Seen, Seen, Seen)> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        let (sha256, size, url, filename) = match &event.kind {
            EventKind::FileDownload {
                url,
                sha256: Some(sha256),
                size,
                ..
            } => (sha256, size, Some(url), None),
            EventKind::FileUpload {
                filename,
                sha256: Some(sha256),
                size,
            } => (sha256, size, None, Some(filename)),
            _ => continue,
        };
        let (entry, sources, urls, filenames) = keys.entry(sha256.clone()).or_insert((
            DownloadSummary {
                sha256: sha256.clone(),
                count: 0,
                uploads: 0,
                first_seen: event.time,
                last_seen: event.time,
                size: None,
                sources: 0,
                src_ips: Vec::new(),
                url_count: 0,
                urls: Vec::new(),
                filenames: Vec::new(),
                session: None,
                src_ip: None,
                url: None,
                file: crate::query::FileFacts::default(),
            },
            Seen::new(),
            Seen::new(),
            Seen::new(),
        ));
        // The latest capture (the fixture has no two captures of one file at the same
        // instant: which of those a store shows is not defined).
        if entry.count == 0 || event.time >= entry.last_seen {
            entry.session = event.session.clone();
            entry.src_ip = Some(event.src_ip.to_string());
            entry.url = url.cloned();
        }
        entry.count += 1;
        entry.uploads += u64::from(filename.is_some());
        entry.first_seen = entry.first_seen.min(event.time);
        entry.last_seen = entry.last_seen.max(event.time);
        entry.size = entry.size.max(*size);
        let seen = |seen: &mut Seen, key: String| {
            let last = seen.entry(key).or_insert(event.time);
            *last = (*last).max(event.time);
        };
        seen(sources, event.src_ip.to_string());
        if let Some(url) = url {
            seen(urls, url.clone());
        }
        if let Some(filename) = filename {
            seen(filenames, filename.clone());
        }
    }
    let mut rows: Vec<DownloadSummary> = keys
        .into_values()
        .map(|(mut row, sources, urls, filenames)| {
            row.sources = sources.len() as u64;
            row.src_ips = most_recent(&sources);
            row.url_count = urls.len() as u64;
            row.urls = most_recent(&urls);
            row.filenames = most_recent(&filenames);
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| b.last_seen.cmp(&a.last_seen))
            .then_with(|| a.sha256.cmp(&b.sha256))
    });
    rows.truncate(window.limit as usize);
    rows
}

/// The attackers ranking computed from the events themselves (addresses order as text).
pub fn expected_attackers(events: &[Event], window: &Window) -> Vec<AttackerSummary> {
    let mut keys: BTreeMap<String, (AttackerSummary, BTreeSet<String>)> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        let (entry, sessions) = keys.entry(event.src_ip.to_string()).or_insert((
            AttackerSummary {
                src_ip: event.src_ip,
                events: 0,
                sessions: 0,
                login_attempts: 0,
                commands: 0,
                first_seen: event.time,
                last_seen: event.time,
                country: None,
                asn: None,
            },
            BTreeSet::new(),
        ));
        entry.events += 1;
        entry.login_attempts += u64::from(matches!(event.kind, EventKind::LoginAttempt { .. }));
        entry.commands += u64::from(matches!(event.kind, EventKind::CommandInput { .. }));
        entry.first_seen = entry.first_seen.min(event.time);
        entry.last_seen = entry.last_seen.max(event.time);
        if let Some(session) = &event.session {
            sessions.insert(session.clone());
        }
    }
    let mut rows: Vec<(String, AttackerSummary)> = keys
        .into_iter()
        .map(|(text, (mut row, sessions))| {
            row.sessions = sessions.len() as u64;
            (text, row)
        })
        .collect();
    rows.sort_by(|(a_text, a), (b_text, b)| {
        b.events.cmp(&a.events).then_with(|| a_text.cmp(b_text))
    });
    rows.truncate(window.limit as usize);
    rows.into_iter().map(|(_, row)| row).collect()
}

/// The overview computed from the events themselves: distinct addresses, and per
/// country and network (an address's enrichment) the addresses, and `client.version`
/// events per version.
pub fn expected_overview(events: &[Event], window: &Window) -> WindowOverview {
    let mut addresses: BTreeSet<IpAddr> = BTreeSet::new();
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        addresses.insert(event.src_ip);
        if let EventKind::ClientVersion { version } = &event.kind {
            *versions.entry(version.clone()).or_default() += 1;
        }
    }
    let mut countries: BTreeMap<String, u64> = BTreeMap::new();
    let mut asns: BTreeMap<u32, u64> = BTreeMap::new();
    for address in &addresses {
        let of_address = || events.iter().filter(|e| e.src_ip == *address);
        if let Some(code) = of_address().find_map(|e| {
            e.enrichment
                .geo
                .as_ref()
                .and_then(|g| g.country_code.clone())
        }) {
            *countries.entry(code).or_default() += 1;
        }
        if let Some(asn) = of_address().find_map(|e| e.enrichment.asn.as_ref()) {
            *asns.entry(asn.number).or_default() += 1;
        }
    }
    WindowOverview {
        addresses: addresses.len() as u64,
        countries: WindowOverview::ranked(countries, window.limit),
        asns: WindowOverview::ranked(asns, window.limit),
        client_versions: WindowOverview::ranked(versions, window.limit),
    }
}

/// The windows the suite asks about, with a name for the failure message.
pub fn rollup_windows(events: &[Event]) -> Vec<(String, Window)> {
    let base = FIXTURE_BASE_MICROS;
    let newest = events
        .iter()
        .map(|e| e.time.as_micros())
        .max()
        .unwrap_or(base);
    let oldest = events
        .iter()
        .map(|e| e.time.as_micros())
        .min()
        .unwrap_or(base);
    let t = Timestamp::from_micros;
    let mut windows = vec![("all time".to_owned(), Window::default())];
    for (name, since) in [
        ("since an hour boundary", base + 2 * HOUR),
        ("since inside an hour", base + HOUR + 17 * MINUTE + 3),
        ("since inside the last hour", newest - MINUTE),
        ("since before the oldest", oldest - HOUR),
        ("since the oldest", oldest),
        ("since after the newest", newest + 1),
        ("since inside the hour before midnight", base - 20 * MINUTE),
        ("since a day boundary", base - 24 * HOUR),
        (
            "since inside an hour two days back",
            base - 47 * HOUR - 13 * MINUTE - 7,
        ),
    ] {
        windows.push((name.to_owned(), Window::default().since(t(since))));
    }
    for (name, since, until) in [
        ("closed, unaligned", base + 10 * MINUTE, base + 3 * HOUR + 5),
        ("closed, aligned", base, base + 4 * HOUR),
        (
            "closed, within an hour",
            base + 5 * MINUTE,
            base + 25 * MINUTE,
        ),
        ("until the newest", base + 2 * HOUR, newest),
        ("until after the newest", base + 2 * HOUR + 1, newest + 1),
        (
            "from before the oldest to after the newest",
            oldest - 1,
            newest + HOUR,
        ),
    ] {
        windows.push((
            name.to_owned(),
            Window::default().since(t(since)).until(t(until)),
        ));
    }
    // From exactly the last event of a kind: its address's pair was last seen at `since`.
    for (name, kind) in [
        ("since the last login", "login.attempt"),
        ("since the last command", "command.input"),
        ("since the last download", "file.download"),
    ] {
        if let Some(last) = events
            .iter()
            .filter(|e| e.kind.name() == kind)
            .map(|e| e.time)
            .max()
        {
            windows.push((name.to_owned(), Window::default().since(last)));
        }
    }
    windows.push((
        "until only".to_owned(),
        Window::default().until(t(base + 3 * HOUR)),
    ));
    windows
}

/// Checks every ranking of `store` over every window of [`rollup_windows`] against
/// `events` (all it holds), with room for every row and with a limit of 3.
pub async fn assert_rankings_match<Q>(store: &Q, events: &[Event])
where
    Q: EventQueries + ?Sized,
{
    for (name, window) in rollup_windows(events) {
        for window in [window.limit(100), window.limit(3)] {
            let limit = window.limit;
            let n = events.len();
            assert_eq!(
                store.credentials(window).await.ok(),
                Some(expected_credentials(events, &window)),
                "credentials, {name}, limit {limit}, after {n} events"
            );
            assert_eq!(
                store.commands(window).await.ok(),
                Some(expected_commands(events, &window)),
                "commands, {name}, limit {limit}, after {n} events"
            );
            assert_eq!(
                store.downloads(window).await.ok(),
                Some(expected_downloads(events, &window)),
                "downloads, {name}, limit {limit}, after {n} events"
            );
            assert_eq!(
                store.attackers(window).await.ok(),
                Some(expected_attackers(events, &window)),
                "attackers, {name}, limit {limit}, after {n} events"
            );
            match store.overview(window).await {
                Ok(overview) => assert_eq!(
                    overview,
                    expected_overview(events, &window),
                    "overview, {name}, limit {limit}, after {n} events"
                ),
                Err(err) => panic!("overview, {name}, limit {limit}: {err}"),
            }
        }
        // The timeseries, in buckets of whole hours (from the hourly rollup where the
        // window allows) and of a few minutes (from the events).
        for interval in [HOUR, 3 * HOUR, 24 * HOUR, 7 * MINUTE] {
            for kind in [None, Some("login.attempt")] {
                let answer = store.timeseries(window, interval, kind).await;
                if crate::query::check_timeseries(&window, interval).is_err() {
                    // No start, or too many buckets up to now: refused by every backend.
                    assert!(
                        matches!(answer, Err(StoreError::InvalidInput(_))),
                        "timeseries, {name}, every {interval} us: {answer:?}"
                    );
                    continue;
                }
                assert_eq!(
                    answer.ok(),
                    Some(expected_timeseries(events, &window, interval, kind)),
                    "timeseries, {name}, every {interval} us, {kind:?}"
                );
            }
        }
    }
}

/// The timeseries computed from the events themselves.
pub fn expected_timeseries(
    events: &[Event],
    window: &Window,
    interval: i64,
    kind: Option<&str>,
) -> Vec<crate::query::TimeBucket> {
    let mut buckets: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for event in events.iter().filter(|e| in_window(window, e)) {
        let name = event.kind.name();
        if kind.is_some_and(|k| k != name) {
            continue;
        }
        let start = crate::query::bucket_start(event.time.as_micros(), interval);
        *buckets.entry((start, name.to_owned())).or_default() += 1;
    }
    buckets
        .into_iter()
        .map(|((start, kind), count)| crate::query::TimeBucket {
            start: Timestamp::from_micros(start),
            kind,
            count,
        })
        .collect()
}

/// Writes [`rollup_fixture`] to an empty `store` in three batches (the last two reaching
/// back into hours the first already filled), calling `settle` after each, and checks
/// every ranking over every window of [`rollup_windows`] against the events, with room
/// for every row and with a limit of 3 (ties cut at the same place).
pub async fn rollup_conformance<Q, F, Fut>(store: &Q, settle: F)
where
    Q: Sink + EventQueries + ?Sized,
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    assert_eq!(
        store.count_events().await.ok(),
        Some(0),
        "the suite needs an empty store"
    );
    let events = rollup_fixture();
    let mut written: Vec<Event> = Vec::new();
    // By session parity and time: the later batches land in hours already folded, and
    // the last batch moves sessions' last events past midnight (the base).
    let (late, early): (Vec<&Event>, Vec<&Event>) = events.iter().partition(|e| {
        e.session
            .as_deref()
            .is_some_and(|s| s.ends_with(['1', '3']))
    });
    let (later, late): (Vec<&Event>, Vec<&Event>) = late
        .into_iter()
        .partition(|e| e.time.as_micros() < FIXTURE_BASE_MICROS + 2 * HOUR);
    let (early, past_midnight): (Vec<&Event>, Vec<&Event>) = early
        .into_iter()
        .partition(|e| e.time.as_micros() < FIXTURE_BASE_MICROS);
    let first: Vec<&Event> = early.into_iter().chain(late).collect();
    for batch in [first, later, past_midnight] {
        let report = store.write(&batch).await;
        assert!(
            matches!(&report, Ok(r) if r.rejected.is_empty() && r.retry.is_empty()),
            "the fixture must be stored whole: {report:?}"
        );
        settle().await;
        written.extend(batch.into_iter().cloned());
        assert_rankings_match(store, &written).await;
    }
    assert_eq!(store.count_events().await.ok(), Some(events.len() as u64));
    // Each address's detail lists its commands (with their labels) and captured files
    // (downloads and uploads) as the rankings of its events alone would.
    let addresses: BTreeSet<IpAddr> = events.iter().map(|e| e.src_ip).collect();
    for ip in addresses {
        let own: Vec<Event> = events.iter().filter(|e| e.src_ip == ip).cloned().collect();
        let all = Window::default().limit(crate::query::MAX_DETAIL_ROWS);
        let detail = store.attacker(ip).await;
        let Ok(detail) = detail else {
            panic!("the detail of {ip}: {detail:?}");
        };
        assert_eq!(
            detail.commands,
            expected_commands(&own, &all),
            "{ip}'s commands"
        );
        let downloads: Vec<DownloadSummary> = expected_downloads(&own, &all)
            .into_iter()
            .map(|mut row| {
                // An address's detail leaves the latest capture out.
                (row.session, row.src_ip, row.url) = (None, None, None);
                row
            })
            .collect();
        assert_eq!(detail.downloads, downloads, "{ip}'s downloads");
        assert_eq!(
            detail.credentials,
            expected_credentials(&own, &all),
            "{ip}'s credentials"
        );
        // Its events, newest first, across the batches that reached back into hours
        // already folded, in pages of 7 and over every window.
        for (name, window) in rollup_windows(&events) {
            let mut expected: Vec<&Event> = own.iter().filter(|e| in_window(&window, e)).collect();
            expected.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
            let mut got: Vec<hpti_core::event::EventId> = Vec::new();
            let mut after: Option<crate::query::Cursor> = None;
            loop {
                let page = store
                    .events(
                        window.limit(7),
                        &crate::query::EventFilter::default().src_ip(ip),
                        after.as_ref(),
                    )
                    .await;
                let Ok(page) = page else {
                    panic!("{ip}'s events, {name}: {page:?}");
                };
                got.extend(page.events.iter().map(|e| e.id));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            let expected: Vec<_> = expected.iter().map(|e| e.id).collect();
            assert_eq!(got, expected, "{ip}'s events, {name}");
        }
    }
}
