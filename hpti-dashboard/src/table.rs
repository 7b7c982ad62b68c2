//! Tables sorted, filtered and paginated on the server, with links that keep every other
//! parameter (so each view has a permalink).
//!
//! The rows come from the store's ranked lists (at most [`MAX_LIMIT`] per window); the
//! table says when the store had more than it holds.

use std::cmp::Ordering;

use hpti_store::query::MAX_LIMIT;
use serde::Serialize;

/// Rows per page.
pub(crate) const PAGE_SIZE: usize = 50;

/// The value a column sorts by.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub(crate) enum SortKey {
    /// Numbers (counts, sizes).
    Num(f64),
    /// Text (addresses, names, times in RFC 3339, which sort as text).
    Text(String),
}

/// One sortable column: its parameter name, header, and key.
pub(crate) struct Column<T> {
    /// Name in `sort=`.
    pub name: &'static str,
    /// Header text.
    pub label: &'static str,
    /// The row's key.
    pub key: fn(&T) -> SortKey,
    /// Whether the first click sorts descending (counts) or ascending (names).
    pub descending_first: bool,
}

/// The query's parameters, as given (kept for links).
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// From a raw query string; repeated keys keep the last value.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if key.len() > 64 || value.len() > 4096 {
                continue;
            }
            pairs.retain(|(k, _)| k != key.as_ref());
            pairs.push((key.into_owned(), value.into_owned()));
        }
        Self { pairs }
    }

    /// A parameter's value, if given and not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `path` with these parameters, `changes` applied (an empty value removes one) and
    /// the page reset unless it is among the changes.
    pub fn link(&self, path: &str, changes: &[(&str, &str)]) -> String {
        let mut pairs = self.pairs.clone();
        if !changes.iter().any(|(k, _)| *k == "page") {
            pairs.retain(|(k, _)| k != "page");
        }
        for (key, value) in changes {
            pairs.retain(|(k, _)| k != key);
            if !value.is_empty() {
                pairs.push(((*key).to_owned(), (*value).to_owned()));
            }
        }
        pairs.retain(|(_, v)| !v.is_empty());
        if pairs.is_empty() {
            return path.to_owned();
        }
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &pairs {
            query.append_pair(k, v);
        }
        format!("{path}?{}", query.finish())
    }

    /// The window's parameters, for the form fields that must keep them.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

/// A header cell: its label, the link that sorts by it, and its current direction.
#[derive(Debug, Serialize)]
pub(crate) struct Header {
    label: &'static str,
    href: String,
    /// `asc`, `desc`, or empty when the table is not sorted by it.
    sorted: &'static str,
}

/// A page of a table, ready for the template.
#[derive(Debug, Serialize)]
pub(crate) struct Table<R> {
    /// The rows of this page.
    pub rows: Vec<R>,
    /// The sortable headers.
    pub headers: Vec<Header>,
    /// Rows after filtering.
    pub total: usize,
    /// This page, from 1.
    pub page: usize,
    /// Pages in all.
    pub pages: usize,
    /// Link to the previous page, if any.
    pub prev: Option<String>,
    /// Link to the next page, if any.
    pub next: Option<String>,
    /// Whether the store had more rows than one window holds ([`MAX_LIMIT`]).
    pub capped: bool,
    /// The cap.
    pub cap: u32,
}

/// Sorts `rows` by the query's `sort`/`dir` (or `default` descending), keeps those
/// `keep` accepts, and cuts the query's `page`; `map` turns the page's rows into what the
/// template shows. The rows are borrowed (they are the cache's): only references are
/// sorted, and only a page's rows are mapped.
pub(crate) fn build<'a, T, R>(
    path: &str,
    query: &Query,
    rows: &'a [T],
    columns: &[Column<T>],
    default: &str,
    keep: impl Fn(&T) -> bool,
    map: impl Fn(&'a T) -> R,
) -> Table<R> {
    let capped = rows.len() >= MAX_LIMIT as usize;
    let mut rows: Vec<&'a T> = rows.iter().filter(|row| keep(row)).collect();
    let sort = query
        .get("sort")
        .and_then(|name| columns.iter().find(|c| c.name == name))
        .or_else(|| columns.iter().find(|c| c.name == default));
    let descending = match query.get("dir") {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort.is_none_or(|c| c.descending_first),
    };
    if let Some(column) = sort
        && query.get("sort").is_some()
    {
        // The store's order is the default one; only an explicit sort re-sorts (stable,
        // so ties keep the store's order).
        rows.sort_by(|a, b| {
            let order = (column.key)(a)
                .partial_cmp(&(column.key)(b))
                .unwrap_or(Ordering::Equal);
            if descending { order.reverse() } else { order }
        });
    }
    let total = rows.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let page = query
        .get("page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    let headers = columns
        .iter()
        .map(|column| {
            let active = sort.is_some_and(|s| s.name == column.name);
            let next_dir = if active {
                if descending { "asc" } else { "desc" }
            } else if column.descending_first {
                "desc"
            } else {
                "asc"
            };
            Header {
                label: column.label,
                href: query.link(path, &[("sort", column.name), ("dir", next_dir)]),
                sorted: match (active, descending) {
                    (false, _) => "",
                    (true, true) => "desc",
                    (true, false) => "asc",
                },
            }
        })
        .collect();
    let prev = (page > 1).then(|| query.link(path, &[("page", &(page - 1).to_string())]));
    let next = (page < pages).then(|| query.link(path, &[("page", &(page + 1).to_string())]));
    let rows = rows
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(&map)
        .collect();
    Table {
        rows,
        headers,
        total,
        page,
        pages,
        prev,
        next,
        capped,
        cap: MAX_LIMIT,
    }
}

/// Whether `haystack` contains `needle`, ignoring ASCII case.
pub(crate) fn contains(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns() -> Vec<Column<(String, u64)>> {
        vec![
            Column {
                name: "name",
                label: "Name",
                key: |r| SortKey::Text(r.0.clone()),
                descending_first: false,
            },
            Column {
                name: "count",
                label: "Count",
                key: |r| SortKey::Num(r.1 as f64),
                descending_first: true,
            },
        ]
    }

    fn rows(n: u64) -> Vec<(String, u64)> {
        (0..n).map(|i| (format!("row{i:03}"), i % 7)).collect()
    }

    #[test]
    fn sorts_filters_and_pages_with_links_that_keep_the_rest() {
        let query = Query::parse(Some("window=7d&sort=name&dir=desc&q=row1&page=2"));
        let rows = rows(200);
        let table = build(
            "/t",
            &query,
            &rows,
            &columns(),
            "count",
            |r| contains(&r.0, "ROW1"),
            |r| r,
        );
        // row100..row199: 100 rows, 2 pages.
        assert_eq!((table.total, table.page, table.pages), (100, 2, 2));
        assert_eq!(table.rows.first().map(|r| r.0.as_str()), Some("row149"));
        assert_eq!(
            table.prev.as_deref(),
            Some("/t?window=7d&sort=name&dir=desc&q=row1&page=1")
        );
        assert_eq!(table.next, None);
        // The active column's link flips the direction; the page is reset.
        assert_eq!(
            table.headers[0].href,
            "/t?window=7d&q=row1&sort=name&dir=asc"
        );
        assert_eq!(table.headers[0].sorted, "desc");
        assert_eq!(
            table.headers[1].href,
            "/t?window=7d&q=row1&sort=count&dir=desc"
        );
    }

    #[test]
    fn out_of_range_pages_clamp_and_hostile_parameters_are_only_text() {
        let query = Query::parse(Some("page=999999999999999999999&sort=%3Cscript%3E"));
        let rows = rows(10);
        let table = build("/t", &query, &rows, &columns(), "count", |_| true, |r| r);
        assert_eq!((table.page, table.pages, table.total), (1, 1, 10));
        assert!(table.headers[0].href.contains("sort=name"));
        assert!(!table.headers[0].href.contains('<'));
    }
}
