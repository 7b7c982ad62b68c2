//! The time window a page shows: one of the presets (`1h`, `24h`, `7d`, `30d`) or a
//! custom range (`since`, `until`: RFC 3339, a browser's `datetime-local` value taken as
//! UTC, or a duration back from now like `3h`).

use hpti_core::event::Timestamp;
use hpti_store::Window;
use serde::Deserialize;

use crate::error::PageError;

/// The presets: (name, length in seconds, chart bucket in seconds).
const PRESETS: &[(&str, i64, i64)] = &[
    ("1h", 3600, 60),
    ("24h", 86_400, 3600),
    ("7d", 7 * 86_400, 6 * 3600),
    ("30d", 30 * 86_400, 86_400),
];

/// The default window.
const DEFAULT: &str = "24h";

/// Most buckets a chart has (a custom window's bucket grows to keep under it).
const MAX_CHART_BUCKETS: i64 = 96;

/// The window parameters of a page's query.
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct WindowParams {
    /// A preset name, or `custom`.
    pub window: Option<String>,
    /// Custom start.
    pub since: Option<String>,
    /// Custom end.
    pub until: Option<String>,
}

/// A window resolved against the clock.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct Picked {
    /// The preset's name, or `custom`.
    pub name: String,
    /// Start, microseconds.
    #[serde(skip)]
    pub since: Timestamp,
    /// End (exclusive), microseconds.
    #[serde(skip)]
    pub until: Timestamp,
    /// Whether the end is "now" (a preset) rather than a fixed time.
    #[serde(skip)]
    pub open_ended: bool,
    /// Chart bucket, microseconds.
    #[serde(skip)]
    pub bucket_micros: i64,
    /// For the custom form: the start as typed back (`YYYY-MM-DDTHH:MM`).
    pub since_text: String,
    /// For the custom form: the end as typed back.
    pub until_text: String,
    /// The presets, for the picker.
    pub presets: Vec<&'static str>,
}

impl Picked {
    /// The store's window for these times with `limit` rows.
    pub fn window(&self, limit: u32) -> Window {
        let window = Window::default().since(self.since).limit(limit);
        if self.open_ended {
            window
        } else {
            window.until(self.until)
        }
    }

    /// What identifies this window in the dashboard's cache: a preset by its name (its
    /// answers are kept for the cache's TTL while "now" moves on), a custom range by
    /// its times.
    pub fn cache_key(&self) -> String {
        if self.open_ended {
            self.name.clone()
        } else {
            format!("{}-{}", self.since.as_micros(), self.until.as_micros())
        }
    }

    /// The query-string pairs that select this window (for permalinks).
    pub fn pairs(&self) -> Vec<(String, String)> {
        if self.name == "custom" {
            vec![
                ("window".into(), "custom".into()),
                ("since".into(), self.since_text.clone()),
                ("until".into(), self.until_text.clone()),
            ]
        } else {
            vec![("window".into(), self.name.clone())]
        }
    }
}

/// The preset windows' names (`1h`, `24h`, `7d`, `30d`).
pub(crate) fn preset_names() -> impl Iterator<Item = &'static str> {
    PRESETS.iter().map(|p| p.0)
}

impl WindowParams {
    /// The preset window `name`.
    pub fn preset(name: &str) -> Self {
        Self {
            window: Some(name.to_owned()),
            ..Self::default()
        }
    }

    /// Resolves the window at `now`.
    pub fn pick(&self, now: Timestamp) -> Result<Picked, PageError> {
        let name = self.window.as_deref().unwrap_or(DEFAULT);
        let presets = PRESETS.iter().map(|p| p.0).collect();
        if let Some((name, seconds, bucket)) = PRESETS.iter().find(|p| p.0 == name) {
            let since = Timestamp::from_micros(now.as_micros() - seconds * 1_000_000);
            return Ok(Picked {
                name: (*name).to_owned(),
                since,
                until: now,
                open_ended: true,
                bucket_micros: bucket * 1_000_000,
                since_text: form_text(since),
                until_text: form_text(now),
                presets,
            });
        }
        if name != "custom" {
            return Err(PageError::bad_parameter(
                "window",
                format!("{name:?} is not one of 1h, 24h, 7d, 30d or custom"),
            ));
        }
        let since = match self.since.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(text) => parse_time("since", text, now)?,
            None => {
                return Err(PageError::bad_parameter(
                    "since",
                    "a custom window needs a start",
                ));
            }
        };
        let until = match self.until.as_deref().filter(|s| !s.trim().is_empty()) {
            Some(text) => parse_time("until", text, now)?,
            None => now,
        };
        if until <= since {
            return Err(PageError::bad_parameter("until", "must be after since"));
        }
        let span = until.as_micros() - since.as_micros();
        let mut bucket: i64 = 60 * 1_000_000;
        for step in [
            60,
            300,
            900,
            3600,
            6 * 3600,
            86_400,
            7 * 86_400,
            30 * 86_400,
        ] {
            bucket = step * 1_000_000;
            if span / bucket <= MAX_CHART_BUCKETS {
                break;
            }
        }
        if span / bucket > hpti_store::query::MAX_BUCKETS {
            return Err(PageError::bad_parameter("since", "the window is too long"));
        }
        Ok(Picked {
            name: "custom".into(),
            since,
            until,
            open_ended: false,
            bucket_micros: bucket,
            since_text: form_text(since),
            until_text: form_text(until),
            presets,
        })
    }
}

/// A time as a `datetime-local` input shows it (UTC).
fn form_text(time: Timestamp) -> String {
    time.to_datetime()
        .map(|t| t.format("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

fn parse_time(name: &str, text: &str, now: Timestamp) -> Result<Timestamp, PageError> {
    let text = text.trim();
    if let Ok(time) = Timestamp::parse_rfc3339(text) {
        return Ok(time);
    }
    for format in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(Timestamp::from_datetime(&time.and_utc()));
        }
    }
    if let Ok(day) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(time) = day.and_hms_opt(0, 0, 0)
    {
        return Ok(Timestamp::from_datetime(&time.and_utc()));
    }
    if let Ok(ago) = humantime::parse_duration(text) {
        let micros = i64::try_from(ago.as_micros()).unwrap_or(i64::MAX);
        return Ok(Timestamp::from_micros(
            now.as_micros().saturating_sub(micros),
        ));
    }
    Err(PageError::bad_parameter(
        name,
        format!("{text:?} is not a time (2026-12-07T06:00, RFC 3339, or a duration like 3h)"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse_rfc3339("2026-12-07T12:00:00Z").unwrap_or_else(|_| Timestamp::now())
    }

    #[test]
    fn presets_and_custom_windows_resolve() {
        let day = WindowParams::default().pick(now());
        let day = day
            .as_ref()
            .map(|p| (p.name.as_str(), p.since_text.as_str()));
        assert_eq!(day.ok(), Some(("24h", "2026-12-06T12:00")));
        let custom = WindowParams {
            window: Some("custom".into()),
            since: Some("2026-12-01T00:00".into()),
            until: Some("2026-12-02".into()),
        }
        .pick(now());
        let custom = custom
            .as_ref()
            .map(|p| (p.open_ended, p.bucket_micros, p.until_text.as_str()));
        assert_eq!(
            custom.ok(),
            Some((false, 900 * 1_000_000, "2026-12-02T00:00"))
        );
    }

    #[test]
    fn bad_windows_name_the_parameter() {
        let bad = |window: &str, since: &str, until: &str| {
            WindowParams {
                window: Some(window.into()),
                since: Some(since.into()),
                until: Some(until.into()),
            }
            .pick(now())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
        };
        assert!(bad("2w", "", "").contains("window"));
        assert!(bad("custom", "", "").contains("since"));
        assert!(bad("custom", "yesterday-ish", "").contains("since"));
        assert!(bad("custom", "2026-12-02", "2026-12-01").contains("until"));
    }
}
