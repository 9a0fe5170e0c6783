//! ZStack's query parameters: `q=<condition>` (repeatable, ANDed), `limit` (default 1000),
//! `start`, `count`, `replyWithCount`, `sort=+field|-field` and `fields=a,b`.
//!
//! The conditions go to the application, which answers every match in creation order; the
//! rest (sort, window, count, fields) is applied here to those matches, so that both fronts
//! share one query path. A malformed parameter is a 400, as in ZStack.

use std::cmp::Ordering;
use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use imghash_store::Condition;
use serde_json::{json, Value};

use super::reply::{self, Refused};
use super::{request, Rest};
use crate::app::{ApiError, App, Query};
use crate::request_log::RequestLine;

/// A resource with a Query API: how to find it, render it and read its dates.
pub trait Queried: Send + Sync + 'static {
    /// ZStack's API name, for the request's log line.
    const API: &'static str;
    /// One result.
    type Item;
    /// The application's matches of `query`, in creation order.
    fn find(
        app: &App,
        query: Query,
    ) -> impl Future<Output = Result<Vec<Self::Item>, ApiError>> + Send;
    /// The inventory of one result.
    fn render(item: &Self::Item) -> Value;
    /// A date field's value in milliseconds (dates sort by time, not by their text).
    fn date(item: &Self::Item, field: &str) -> Option<i64>;
}

/// `GET /v1/<resource>`: the query.
pub async fn query_all<R: Queried>(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, Refused> {
    run::<R>(&rest, &headers, QueryParams::parse(raw.as_deref())?).await
}

/// `GET /v1/<resource>/{uuid}`: a query on the uuid too, so an `inventories` array, empty
/// when nothing matches (as ZStack answers).
pub async fn query_one<R: Queried>(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, Refused> {
    let params = QueryParams::parse(raw.as_deref())?.with_uuid(&uuid);
    run::<R>(&rest, &headers, params).await
}

async fn run<R: Queried>(
    rest: &Rest,
    headers: &HeaderMap,
    params: QueryParams,
) -> Result<Response, Refused> {
    let authorization = request::authorization(headers)?;
    let mut line = RequestLine::start("rest", R::API);
    let result = async {
        let session = rest.app.session(Some(&authorization)).await?;
        line.account = Some(session.account_uuid);
        let found = R::find(&rest.app, params.app_query()).await?;
        Ok(params.answer(found, R::render, R::date))
    }
    .await;
    Ok(reply::sync(line.finish_with(rest.app.metrics(), result)))
}

/// ZStack's default `limit`.
const DEFAULT_LIMIT: usize = 1000;

/// The query parameters of a Query API.
#[derive(Clone, Debug)]
pub struct QueryParams {
    /// `q=` conditions, as typed.
    conditions: Vec<String>,
    limit: usize,
    start: usize,
    count: bool,
    reply_with_count: bool,
    /// The field, and whether ascending.
    sort: Option<(String, bool)>,
    fields: Option<Vec<String>>,
}

impl QueryParams {
    /// Reads the query string; unknown parameters are ignored, as in ZStack.
    pub fn parse(raw: Option<&str>) -> Result<QueryParams, Refused> {
        let mut params = QueryParams {
            conditions: Vec::new(),
            limit: DEFAULT_LIMIT,
            start: 0,
            count: false,
            reply_with_count: false,
            sort: None,
            fields: None,
        };
        let pairs = form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
        for (key, value) in pairs {
            match key.as_ref() {
                "q" => {
                    // An operator is the REST layer's check (400); fields are the API's.
                    Condition::parse(&value).map_err(|e| Refused::bad_request(e.to_string()))?;
                    params.conditions.push(value.into_owned());
                }
                "limit" => params.limit = number("limit", &value)?,
                "start" => params.start = number("start", &value)?,
                "count" => params.count = value == "true",
                "replyWithCount" => params.reply_with_count = value == "true",
                "sort" => params.sort = Some(sort(&value)),
                "fields" => {
                    let names = value.split(',').map(|f| f.trim().to_string());
                    params.fields = Some(names.filter(|f| !f.is_empty()).collect());
                }
                _ => {}
            }
        }
        Ok(params)
    }

    /// Also matches `uuid` (GET by uuid is a query).
    pub fn with_uuid(mut self, uuid: &str) -> QueryParams {
        self.conditions.push(format!("uuid={uuid}"));
        self
    }

    /// The application's query: every match, the window is applied by [`Self::answer`].
    pub fn app_query(&self) -> Query {
        Query {
            conditions: self.conditions.clone(),
            limit: 0,
        }
    }

    /// The reply: `inventories` (sorted, windowed, with the fields asked for) and `total`
    /// when asked, or `total` alone for `count=true`. `date` gives a field's date in
    /// milliseconds when the field is a date, so that dates sort by time, not by text.
    pub fn answer<T>(
        &self,
        items: Vec<T>,
        render: impl Fn(&T) -> Value,
        date: impl Fn(&T, &str) -> Option<i64>,
    ) -> Value {
        let total = items.len();
        if self.count {
            return json!({ "total": total });
        }
        let mut rows: Vec<(Option<i64>, Value)> = items
            .iter()
            .map(|item| {
                let when = self.sort.as_ref().and_then(|(f, _)| date(item, f));
                (when, render(item))
            })
            .collect();
        if let Some((field, ascending)) = &self.sort {
            rows.sort_by(|a, b| {
                let order = match (a.0, b.0) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    _ => compare(&a.1[field.as_str()], &b.1[field.as_str()]),
                };
                if *ascending {
                    order
                } else {
                    order.reverse()
                }
            });
        }
        let inventories: Vec<Value> = rows
            .into_iter()
            .skip(self.start)
            .take(self.limit)
            .map(|(_, inventory)| self.only_fields(inventory))
            .collect();
        let mut reply = json!({ "inventories": inventories });
        if self.reply_with_count {
            reply["total"] = json!(total);
        }
        reply
    }

    fn only_fields(&self, inventory: Value) -> Value {
        match (&self.fields, inventory) {
            (Some(names), Value::Object(mut map)) => {
                map.retain(|key, _| names.iter().any(|n| n == key));
                Value::Object(map)
            }
            (_, inventory) => inventory,
        }
    }
}

fn number(name: &str, value: &str) -> Result<usize, Refused> {
    value.trim().parse().map_err(|_| {
        Refused::bad_request(format!(
            "Invalid query parameter[{name}]: '{value}' is not a whole number"
        ))
    })
}

/// `+field` or `-field`; a `+` typed unescaped in a URL arrives as a space.
fn sort(value: &str) -> (String, bool) {
    match value.as_bytes().first() {
        Some(b'-') => (value[1..].trim().to_string(), false),
        Some(b'+' | b' ') => (value[1..].trim().to_string(), true),
        _ => (value.trim().to_string(), true),
    }
}

/// Numbers by value, strings by text, booleans false first; a missing field sorts first.
fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.partial_cmp(&y).unwrap_or(Ordering::Equal)
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(query: &str, items: Vec<Value>) -> Value {
        let params = QueryParams::parse(Some(query)).unwrap();
        params.answer(items, Value::clone, |_, _| None)
    }

    #[test]
    fn sort_window_count_and_fields() {
        let items = vec![
            json!({"name": "b", "size": 10}),
            json!({"name": "a", "size": 2}),
            json!({"name": "c", "size": 30}),
        ];
        let reply = answer("sort=-size&start=1&limit=1&fields=name", items.clone());
        assert_eq!(reply, json!({"inventories": [{"name": "b"}]}));
        let reply = answer("sort=%2Bname&replyWithCount=true&limit=2", items.clone());
        assert_eq!(reply["inventories"][0]["name"], "a");
        assert_eq!(reply["total"], 3);
        assert_eq!(answer("count=true", items), json!({"total": 3}));
    }

    #[test]
    fn malformed_parameters_are_refused() {
        for bad in ["limit=ten", "start=-1", "q=name"] {
            assert!(QueryParams::parse(Some(bad)).is_err(), "{bad}");
        }
        assert!(QueryParams::parse(Some("q=name%3Dfoo&unknown=1")).is_ok());
    }
}
