//! Charts drawn on the server as SVG shapes (the templates print the coordinates): the
//! events-over-time stacked bars and the world map. No chart library, no inline script;
//! colours come from the stylesheet's classes.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use hpti_store::TimeBucket;
use serde::{Deserialize, Serialize};

/// Width and height of the time chart's drawing area (SVG user units).
const CHART_WIDTH: f64 = 1000.0;
const CHART_HEIGHT: f64 = 200.0;

/// One coloured part of a bar.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Segment {
    y: f64,
    height: f64,
    /// CSS class of the kind (`k-login-attempt`).
    class: String,
    /// Tooltip: kind and count.
    title: String,
}

/// One bucket's bar.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Bar {
    x: f64,
    width: f64,
    segments: Vec<Segment>,
}

/// The events-over-time chart.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TimeChart {
    bars: Vec<Bar>,
    /// The kinds shown, for the legend: (name, class, total).
    legend: Vec<(String, String, u64)>,
    /// The tallest bar's count (the axis label).
    max: u64,
    /// First and last bucket labels.
    start_label: String,
    end_label: String,
    width: f64,
    height: f64,
}

/// The CSS class of an event kind.
pub(crate) fn kind_class(kind: &str) -> String {
    let mut class = String::from("k-");
    class.extend(
        kind.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }),
    );
    class
}

/// Stacks `buckets` (from [`hpti_store::EventQueries::timeseries`]) into one bar per
/// bucket from `since` to `until`, empty buckets included.
pub(crate) fn time_chart(buckets: &[TimeBucket], since: i64, until: i64, bucket: i64) -> TimeChart {
    let bucket = bucket.max(1);
    let first = hpti_store::query::bucket_start(since, bucket);
    let count = usize::try_from((until - first).max(0) / bucket + 1)
        .unwrap_or(1)
        .min(10_000);
    let mut columns: Vec<BTreeMap<&str, u64>> = vec![BTreeMap::new(); count];
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for b in buckets {
        let index = (b.start.as_micros() - first) / bucket;
        if let Some(column) = usize::try_from(index).ok().and_then(|i| columns.get_mut(i)) {
            *column.entry(b.kind.as_str()).or_default() += b.count;
            *totals.entry(b.kind.as_str()).or_default() += b.count;
        }
    }
    let max = columns
        .iter()
        .map(|c| c.values().sum::<u64>())
        .max()
        .unwrap_or(0);
    let slot = CHART_WIDTH / count as f64;
    let bars = columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            let mut y = CHART_HEIGHT;
            let segments = column
                .iter()
                .map(|(kind, n)| {
                    let height = if max == 0 {
                        0.0
                    } else {
                        *n as f64 / max as f64 * CHART_HEIGHT
                    };
                    y -= height;
                    Segment {
                        y: round(y),
                        height: round(height),
                        class: kind_class(kind),
                        title: format!("{kind}: {n}"),
                    }
                })
                .collect();
            Bar {
                x: round(i as f64 * slot + slot * 0.1),
                width: round(slot * 0.8),
                segments,
            }
        })
        .collect();
    let label = |micros: i64| {
        hpti_core::event::Timestamp::from_micros(micros)
            .to_datetime()
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default()
    };
    TimeChart {
        bars,
        legend: totals
            .into_iter()
            .map(|(k, n)| (k.to_owned(), kind_class(k), n))
            .collect(),
        max,
        start_label: label(first),
        end_label: label(until),
        width: CHART_WIDTH,
        height: CHART_HEIGHT,
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[derive(Debug, Deserialize)]
struct CountryShape {
    name: String,
    d: String,
}

/// The vendored world geometry (`assets/vendor/world/countries.json`: ISO 3166 alpha-2
/// code → name and SVG path in a 1000×500 equirectangular view), parsed once.
fn shapes() -> &'static BTreeMap<String, CountryShape> {
    static SHAPES: OnceLock<BTreeMap<String, CountryShape>> = OnceLock::new();
    SHAPES.get_or_init(|| {
        serde_json::from_str(include_str!("../assets/vendor/world/countries.json"))
            .unwrap_or_default()
    })
}

/// The name of a country code, if the geometry has it.
pub(crate) fn country_name(code: &str) -> Option<&'static str> {
    shapes().get(code).map(|s| s.name.as_str())
}

/// One country on the map.
#[derive(Debug, Serialize)]
pub(crate) struct MapCountry {
    code: &'static str,
    d: &'static str,
    /// `c0` (none) to `c5` (most).
    class: &'static str,
    title: String,
}

/// The choropleth: every country, shaded by `counts` (attacking addresses per code) in
/// five steps of the largest count.
pub(crate) fn world_map(counts: &HashMap<String, u64>) -> Vec<MapCountry> {
    let max = counts.values().copied().max().unwrap_or(0);
    shapes()
        .iter()
        .map(|(code, shape)| {
            let n = counts.get(code).copied().unwrap_or(0);
            let class = match n {
                0 => "c0",
                _ if max == 0 => "c1",
                _ => match (n as f64 / max as f64 * 5.0).ceil() as u32 {
                    0 | 1 => "c1",
                    2 => "c2",
                    3 => "c3",
                    4 => "c4",
                    _ => "c5",
                },
            };
            MapCountry {
                code: code.as_str(),
                d: shape.d.as_str(),
                class,
                title: format!("{} ({code}): {n}", shape.name),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hpti_core::event::Timestamp;

    #[test]
    fn the_geometry_loads_and_shades_by_count() {
        assert!(shapes().len() > 150);
        assert_eq!(country_name("DE"), Some("Germany"));
        let counts = HashMap::from([("DE".to_owned(), 10), ("FR".to_owned(), 1)]);
        let map = world_map(&counts);
        let class = |code: &str| map.iter().find(|c| c.code == code).map(|c| c.class);
        assert_eq!(class("DE"), Some("c5"));
        assert_eq!(class("FR"), Some("c1"));
        assert_eq!(class("US"), Some("c0"));
    }

    #[test]
    fn bars_stack_by_kind_and_keep_empty_buckets() {
        let hour = 3_600_000_000;
        let at = |h: i64, kind: &str, count| TimeBucket {
            start: Timestamp::from_micros(h * hour),
            kind: kind.into(),
            count,
        };
        let chart = time_chart(
            &[
                at(0, "login.attempt", 4),
                at(0, "command.input", 4),
                at(2, "login.attempt", 2),
            ],
            0,
            3 * hour - 1,
            hour,
        );
        assert_eq!(chart.bars.len(), 3);
        assert_eq!(chart.max, 8);
        assert_eq!(chart.bars[0].segments.len(), 2);
        assert!(chart.bars[1].segments.is_empty());
        assert_eq!(chart.bars[2].segments[0].height, 50.0);
        assert_eq!(
            chart.legend[1],
            ("login.attempt".into(), "k-login-attempt".into(), 6)
        );
    }
}
