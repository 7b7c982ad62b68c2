//! Writing events: one multi-row INSERT per 1,024 events, idempotent on the event id.

use hpti_core::event::{Event, Timestamp};

use crate::columns::TypedColumns;
use sqlx::Sqlite;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Columns written per event.
const COLUMNS: &str = "id, ts, observed, sensor, protocol, session, src_ip, src_port, dst_ip, dst_port, \
     kind, username, password, success, command, url, filename, sha256, size, country, asn, enrichment_id, doc";
const COLUMN_COUNT: usize = 23;
/// Rows per INSERT statement (a power of two): 23 binds each stays below SQLite's 32,766
/// bind limit, and one prepared statement of this size is reused for every full chunk.
pub(super) const ROWS_PER_STATEMENT: usize = 1024;

/// Splits `rows` into statement sizes: full statements, then the rest in powers of two.
///
/// Every distinct size is a prepared statement the connection caches; exact remainders
/// (1 to 1,023 rows) would fill the cache with a thousand large statements, and memory
/// with them. Powers of two keep it to eleven.
pub(super) fn statement_sizes(mut rows: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if rows == 0 {
            return None;
        }
        let size = if rows >= ROWS_PER_STATEMENT {
            ROWS_PER_STATEMENT
        } else {
            1 << rows.ilog2()
        };
        rows -= size;
        Some(size)
    })
}

/// The INSERT statement for `rows` rows, built once per size.
pub(super) fn insert_sql_for(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    let statements = SQL.get_or_init(|| {
        (0..=ROWS_PER_STATEMENT.ilog2())
            .map(|power| insert_sql(1 << power))
            .collect()
    });
    statements
        .get(rows.max(1).ilog2() as usize)
        .map_or("", String::as_str)
}

fn insert_sql(rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; COLUMN_COUNT].join(","));
    let mut sql = format!("INSERT OR IGNORE INTO events ({COLUMNS}) VALUES ");
    sql.reserve(rows * (tuple.len() + 1));
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&tuple);
    }
    sql
}

/// Where an event's enrichment is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EnrichmentRef {
    /// The event has no enrichment.
    None,
    /// A row of the `enrichments` table.
    Stored(i64),
    /// The n-th enrichment of this batch that has no row id yet.
    Pending(usize),
}

/// Most enrichment documents the writer remembers the row id of. An attacker address keeps
/// one document for as long as its answers do not change, so this holds the recent
/// attackers; when full it starts over (a forgotten document costs one lookup).
const REMEMBERED_ENRICHMENTS: usize = 65_536;

/// Row ids of enrichment documents already in the `enrichments` table.
///
/// Only ids of committed rows are remembered (see [`SqliteStore::insert`](super::SqliteStore::insert)),
/// so a rolled-back write can never leave an event pointing at a missing row.
#[derive(Debug, Default)]
pub(super) struct EnrichmentIds {
    ids: HashMap<Box<str>, i64>,
}

impl EnrichmentIds {
    /// The row id of `doc`, if remembered.
    pub(super) fn get(&self, doc: &str) -> Option<i64> {
        self.ids.get(doc).copied()
    }

    /// Remembers committed rows.
    pub(super) fn remember(&mut self, rows: impl IntoIterator<Item = (String, i64)>) {
        for (doc, id) in rows {
            if self.ids.len() >= REMEMBERED_ENRICHMENTS {
                self.ids.clear();
            }
            self.ids.insert(doc.into_boxed_str(), id);
        }
    }
}

/// The typed columns of one event, borrowed from it where possible.
pub(super) struct EventRow<'a> {
    pub(super) event: &'a Event,
    typed: TypedColumns<'a>,
    pub(super) enrichment: EnrichmentRef,
    doc: String,
}

impl<'a> EventRow<'a> {
    pub(super) fn new(event: &'a Event, doc: String, enrichment: EnrichmentRef) -> Self {
        Self {
            event,
            typed: TypedColumns::of(event),
            enrichment,
            doc,
        }
    }

    pub(super) fn bind<'q>(
        &'q self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
        let event = self.event;
        query
            .bind(&event.id.as_bytes()[..])
            .bind(event.time.as_micros())
            .bind(event.observed.map(Timestamp::as_micros))
            .bind(event.sensor.as_str())
            .bind(event.protocol.as_str())
            .bind(event.session.as_deref())
            .bind(event.src_ip.to_string())
            .bind(event.src_port.map(i64::from))
            .bind(event.dst_ip.map(|ip| ip.to_string()))
            .bind(event.dst_port.map(i64::from))
            .bind(event.kind.name())
            .bind(self.typed.username)
            .bind(self.typed.password)
            .bind(self.typed.success)
            .bind(self.typed.command.as_deref())
            .bind(self.typed.url)
            .bind(self.typed.filename)
            .bind(self.typed.sha256)
            .bind(self.typed.size)
            .bind(
                event
                    .enrichment
                    .geo
                    .as_ref()
                    .and_then(|g| g.country_code.as_deref()),
            )
            .bind(event.enrichment.asn.as_ref().map(|a| i64::from(a.number)))
            .bind(match self.enrichment {
                EnrichmentRef::Stored(id) => Some(id),
                // Resolved before any statement is built; a row id never pending here.
                EnrichmentRef::None | EnrichmentRef::Pending(_) => None,
            })
            .bind(self.doc.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_sizes_cover_every_row_with_few_distinct_sizes() {
        for rows in [0usize, 1, 2, 3, 1000, 1023, 1024, 1025, 2500, 5000] {
            let sizes: Vec<usize> = statement_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows);
            assert!(
                sizes
                    .iter()
                    .all(|s| s.is_power_of_two() && *s <= ROWS_PER_STATEMENT)
            );
        }
        assert_eq!(statement_sizes(1027).collect::<Vec<_>>(), vec![1024, 2, 1]);
        assert!(insert_sql_for(8).matches("),(").count() == 7);
    }
}
