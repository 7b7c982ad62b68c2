//! The NDJSON export's reader: pages of events read with rusqlite on a blocking thread
//! and written out as JSON lines straight from SQLite's column buffers.
//!
//! Why not sqlx, which every other query uses: sqlx-sqlite runs each statement on a
//! worker thread that copies every value of every row (`sqlite3_value_dup`, a `malloc`
//! each) and hands each row to the async side through a channel, waking it up. For a
//! page of lists that costs nothing; for an export of millions of events it was two
//! thirds of the time (`docs/BENCHMARKS.md`, "Analyst API"). Here the rows are read in
//! place, on one thread, and only the finished lines cross to the async side.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hpti_core::error::ErrorClass;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::queries::{EventColumns, PageQuery, Param, event_id, event_time, write_event_json};
use crate::error::StoreError;
use crate::query::{Cursor, NdjsonPage};

/// Export connections kept open between pages (one per concurrent export at most).
const IDLE_CONNECTIONS: usize = 2;

/// Opens read-only connections to the events database and reads export pages with them.
#[derive(Debug)]
pub(super) struct ExportReader {
    path: PathBuf,
    busy_timeout: Duration,
    cache_kib: u32,
    idle: Mutex<Vec<Connection>>,
}

impl ExportReader {
    pub(super) fn new(path: PathBuf, busy_timeout: Duration, cache_kib: u32) -> Arc<Self> {
        Arc::new(Self {
            path,
            busy_timeout,
            cache_kib,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The page `query` selects (at most `limit` events) as JSON lines, and the cursor
    /// of the next page when there is one.
    pub(super) async fn page(
        self: &Arc<Self>,
        query: PageQuery,
        limit: u32,
    ) -> Result<NdjsonPage, StoreError> {
        let reader = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let connection = reader.connection()?;
            let page = read_page(&connection, &query, limit as usize);
            // A connection that failed may be broken; the next page opens a fresh one.
            if page.is_ok() {
                reader.give_back(connection);
            }
            page
        })
        .await
        .map_err(|err| StoreError::Database {
            class: ErrorClass::Temporary,
            source: Box::new(err),
        })?
    }

    fn connection(&self) -> Result<Connection, StoreError> {
        if let Some(connection) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(connection);
        }
        // Read-only whatever the store's mode: the export never writes, and a WAL
        // reader sees every committed write of the store's writer.
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|err| StoreError::Open {
            path: self.path.clone(),
            source: Box::new(err),
        })?;
        connection
            .busy_timeout(self.busy_timeout)
            .and_then(|()| {
                connection.execute_batch(&format!(
                    "PRAGMA cache_size = -{}; PRAGMA temp_store = memory",
                    self.cache_kib
                ))
            })
            .map_err(database_error)?;
        Ok(connection)
    }

    fn give_back(&self, connection: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_CONNECTIONS {
                idle.push(connection);
            }
        }
    }
}

fn read_page(
    connection: &Connection,
    query: &PageQuery,
    limit: usize,
) -> Result<NdjsonPage, StoreError> {
    let mut statement = connection
        .prepare_cached(&query.sql)
        .map_err(database_error)?;
    for (index, param) in query.params.iter().enumerate() {
        let bound = match param {
            Param::Int(value) => statement.raw_bind_parameter(index + 1, value),
            Param::Text(value) => statement.raw_bind_parameter(index + 1, value.as_str()),
            Param::Blob(value) => statement.raw_bind_parameter(index + 1, value.as_slice()),
        };
        bound.map_err(database_error)?;
    }
    let mut rows = statement.raw_query();
    let mut page = NdjsonPage {
        lines: Vec::with_capacity(limit.min(10_000) * 600),
        ..NdjsonPage::default()
    };
    let mut last: Option<Cursor> = None;
    while let Some(row) = rows.next().map_err(database_error)? {
        let row = Row(row);
        if page.count == limit {
            // The overfetched row: another page follows the last one written.
            page.next = last.take();
            break;
        }
        write_event_json(&row, &mut page.lines)?;
        page.lines.push(b'\n');
        page.count += 1;
        if page.count == limit {
            last = Some(Cursor::at(event_time(&row)?, event_id(&row)?));
        }
    }
    Ok(page)
}

/// A rusqlite row of `EVENT_SELECT`, read by column position.
struct Row<'stmt, 'row>(&'row rusqlite::Row<'stmt>);

impl Row<'_, '_> {
    fn value(&self, column: &str) -> Result<ValueRef<'_>, StoreError> {
        let index = match column {
            "id" => 0,
            "ts" => 1,
            "observed" => 2,
            "sensor" => 3,
            "protocol" => 4,
            "session" => 5,
            "src_ip" => 6,
            "src_port" => 7,
            "dst_ip" => 8,
            "dst_port" => 9,
            "doc" => 10,
            "enrichment" => 11,
            other => return Err(StoreError::Decode(format!("no column {other}"))),
        };
        self.0
            .get_ref(index)
            .map_err(|err| StoreError::Decode(format!("column {column}: {err}")))
    }
}

fn mismatch(column: &str, expected: &str, value: &ValueRef<'_>) -> StoreError {
    StoreError::Decode(format!(
        "column {column}: expected {expected}, found {:?}",
        value.data_type()
    ))
}

impl EventColumns for Row<'_, '_> {
    fn int(&self, column: &str) -> Result<Option<i64>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(value) => Ok(Some(value)),
            other => Err(mismatch(column, "an integer", &other)),
        }
    }

    fn text(&self, column: &str) -> Result<Option<&str>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map(Some)
                .map_err(|err| StoreError::Decode(format!("column {column}: {err}"))),
            other => Err(mismatch(column, "text", &other)),
        }
    }

    fn blob(&self, column: &str) -> Result<Option<&[u8]>, StoreError> {
        match self.value(column)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(bytes) => Ok(Some(bytes)),
            other => Err(mismatch(column, "a blob", &other)),
        }
    }
}

fn database_error(err: rusqlite::Error) -> StoreError {
    // Primary result codes: BUSY 5, LOCKED 6, IOERR 10, FULL 13, PROTOCOL 15.
    let class = match err.sqlite_error_code() {
        Some(
            rusqlite::ErrorCode::DatabaseBusy
            | rusqlite::ErrorCode::DatabaseLocked
            | rusqlite::ErrorCode::SystemIoFailure
            | rusqlite::ErrorCode::DiskFull
            | rusqlite::ErrorCode::FileLockingProtocolFailed,
        ) => ErrorClass::Temporary,
        _ => ErrorClass::Permanent,
    };
    StoreError::Database {
        class,
        source: Box::new(err),
    }
}
