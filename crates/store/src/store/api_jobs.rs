//! Asynchronous API jobs of the REST front: one row per job, from its start until its result
//! has been kept long enough (ZStack keeps a result 3 hours).
//!
//! The row outlives the process: a client polling after a restart still gets the result, and
//! a job that was running when the process stopped is found `Running` at the next start, so
//! that the server can end it with an error instead of answering "still running" forever.

use super::{read_count, Store};
use crate::db::{insert_sql, params, Row};
use crate::error::{map_unique, Result};

/// Where an API job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiJobState {
    /// Started, no result yet.
    Running,
    /// Ended with a result body.
    Succeeded,
    /// Ended with an error body.
    Failed,
}

impl ApiJobState {
    fn as_str(self) -> &'static str {
        match self {
            ApiJobState::Running => "Running",
            ApiJobState::Succeeded => "Succeeded",
            ApiJobState::Failed => "Failed",
        }
    }

    fn parse(text: &str) -> ApiJobState {
        match text {
            "Succeeded" => ApiJobState::Succeeded,
            "Failed" => ApiJobState::Failed,
            _ => ApiJobState::Running,
        }
    }
}

/// One asynchronous API call.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiJob {
    /// The job id: 32 characters, the client's `X-Job-UUID` or a new uuid.
    pub uuid: String,
    /// The API it runs ("CalculateImageHash").
    pub api: String,
    /// Running, or how it ended.
    pub state: ApiJobState,
    /// The body a poll answers once the job ended (JSON text), `None` while running.
    pub result: Option<String>,
    /// Where the result is POSTed when the job ends (`X-Web-Hook`).
    pub web_hook: Option<String>,
    /// When it started.
    pub create_date: i64,
    /// When it ended.
    pub end_date: Option<i64>,
}

const COLUMNS: &str = "uuid, api, state, result, web_hook, create_date, end_date";

fn from_row(row: &Row) -> Result<ApiJob> {
    Ok(ApiJob {
        uuid: row.text(0)?,
        api: row.text(1)?,
        state: ApiJobState::parse(&row.text(2)?),
        result: row.opt_text(3)?,
        web_hook: row.opt_text(4)?,
        create_date: row.int(5)?,
        end_date: row.opt_int(6)?,
    })
}

impl Store {
    /// Adds a job; [`crate::StoreError::Duplicate`] if its uuid was used before and is still
    /// kept.
    pub fn add_api_job(&self, job: &ApiJob) -> Result<()> {
        let sql = insert_sql("api_job", COLUMNS);
        self.with_conn(|c| {
            c.execute(
                &sql,
                params![
                    &job.uuid,
                    &job.api,
                    job.state.as_str(),
                    &job.result,
                    &job.web_hook,
                    job.create_date,
                    job.end_date
                ],
            )
        })
        .map_err(|e| map_unique(e, "api job", &job.uuid, None))?;
        Ok(())
    }

    /// The job, if kept.
    pub fn get_api_job(&self, uuid: &str) -> Result<Option<ApiJob>> {
        let sql = format!("SELECT {COLUMNS} FROM api_job WHERE uuid = ?1");
        self.with_conn(|c| c.query_opt(&sql, params![uuid], from_row))
    }

    /// Records how a running job ended. False if the job is not kept or already ended.
    pub fn finish_api_job(
        &self,
        uuid: &str,
        state: ApiJobState,
        result: &str,
        now_ms: i64,
    ) -> Result<bool> {
        let changed = self.with_conn(|c| {
            c.execute(
                "UPDATE api_job SET state = ?2, result = ?3, end_date = ?4 \
                 WHERE uuid = ?1 AND state = 'Running'",
                params![uuid, state.as_str(), result, now_ms],
            )
        })?;
        Ok(changed == 1)
    }

    /// Ends every job still running with `result` as its error (at startup: they were running
    /// when the process stopped). Returns how many.
    pub fn fail_running_api_jobs(&self, result: &str, now_ms: i64) -> Result<usize> {
        self.with_conn(|c| {
            c.execute(
                "UPDATE api_job SET state = 'Failed', result = ?1, end_date = ?2 \
                 WHERE state = 'Running'",
                params![result, now_ms],
            )
        })
    }

    /// Forgets ended jobs created before `created_before_ms`, then the oldest ended jobs
    /// beyond `keep` rows in all. Running jobs are never removed. Returns how many went.
    pub fn prune_api_jobs(&self, created_before_ms: i64, keep: usize) -> Result<usize> {
        self.with_conn(|c| {
            let expired = c.execute(
                "DELETE FROM api_job WHERE state != 'Running' AND create_date < ?1",
                params![created_before_ms],
            )?;
            let count = read_count(c.query_value("SELECT count(*) FROM api_job", &[])?)?;
            let excess = count.saturating_sub(i64::try_from(keep).unwrap_or(i64::MAX));
            let mut surplus = 0;
            if excess > 0 {
                surplus = c.execute(
                    "DELETE FROM api_job WHERE uuid IN (SELECT uuid FROM api_job \
                     WHERE state != 'Running' ORDER BY create_date, uuid LIMIT ?1)",
                    params![excess],
                )?;
            }
            Ok(expired + surplus)
        })
    }

    /// Jobs kept, running or ended.
    pub fn count_api_jobs(&self) -> Result<usize> {
        let count = self.with_conn(|c| c.query_value("SELECT count(*) FROM api_job", &[]))?;
        Ok(usize::try_from(read_count(count)?).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;

    fn job(uuid: &str, create_date: i64) -> ApiJob {
        ApiJob {
            uuid: uuid.into(),
            api: "CalculateImageHash".into(),
            state: ApiJobState::Running,
            result: None,
            web_hook: None,
            create_date,
            end_date: None,
        }
    }

    #[test]
    fn a_job_uuid_is_taken_once() {
        let store = Store::open_in_memory().unwrap();
        store.add_api_job(&job("a", 1)).unwrap();
        let again = store.add_api_job(&job("a", 2)).unwrap_err();
        assert!(matches!(again, StoreError::Duplicate { field: "uuid", .. }));
    }

    #[test]
    fn a_job_ends_once_and_keeps_its_result() {
        let store = Store::open_in_memory().unwrap();
        store.add_api_job(&job("a", 1)).unwrap();
        assert!(store
            .finish_api_job("a", ApiJobState::Succeeded, "{}", 5)
            .unwrap());
        assert!(!store
            .finish_api_job("a", ApiJobState::Failed, "{\"error\":{}}", 6)
            .unwrap());
        let kept = store.get_api_job("a").unwrap().unwrap();
        assert_eq!(kept.state, ApiJobState::Succeeded);
        assert_eq!(kept.result.as_deref(), Some("{}"));
        assert_eq!(kept.end_date, Some(5));
    }

    #[test]
    fn running_jobs_fail_at_startup_and_are_never_pruned() {
        let store = Store::open_in_memory().unwrap();
        for (uuid, at) in [("a", 1), ("b", 2), ("c", 3)] {
            store.add_api_job(&job(uuid, at)).unwrap();
        }
        store
            .finish_api_job("b", ApiJobState::Succeeded, "{}", 4)
            .unwrap();
        // Everything is older than 10, but only the ended job may go.
        assert_eq!(store.prune_api_jobs(10, 100).unwrap(), 1);
        assert_eq!(store.fail_running_api_jobs("stopped", 11).unwrap(), 2);
        assert_eq!(
            store.get_api_job("a").unwrap().unwrap().state,
            ApiJobState::Failed
        );
    }

    #[test]
    fn pruning_keeps_the_newest_jobs_within_the_bound() {
        let store = Store::open_in_memory().unwrap();
        for (uuid, at) in [("a", 1), ("b", 2), ("c", 3)] {
            store.add_api_job(&job(uuid, at)).unwrap();
            store
                .finish_api_job(uuid, ApiJobState::Succeeded, "{}", at)
                .unwrap();
        }
        assert_eq!(store.prune_api_jobs(0, 2).unwrap(), 1);
        assert!(store.get_api_job("a").unwrap().is_none());
        assert_eq!(store.count_api_jobs().unwrap(), 2);
    }
}
