//! The shipper: reads batches from the spool, inserts them into ClickHouse, and advances the
//! spool's cursor only once ClickHouse has them. Delivery is at least once; exactness comes
//! from removing duplicates by event id.
//!
//! A batch whose fate is unknown — the first batch after start (the previous process may
//! have inserted it and died before committing) or any batch after a failed attempt (the
//! server may have stored part of it) — is first checked against ClickHouse: ids already
//! present in the batch's time range are left out. The `ReplacingMergeTree` engine is the
//! second line: it folds any duplicate that still slips through when parts merge.
//!
//! While ClickHouse is down, events wait in the spool; the outage is logged once, retries
//! back off exponentially (with jitter) up to 30 s, and the recovery is logged once.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use clickhouse::Client;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::config::ClickHouseConfig;
use crate::event::{Event, Kind};
use crate::schema;
use crate::spool::{Batch, Reader, SpoolError, SpoolStats};

/// The two clients the pipeline uses: one bound to Tianmu's database, one to the server
/// (DDL, system tables).
#[derive(Clone)]
pub struct ClickHouse {
    pub cfg: ClickHouseConfig,
    pub db: Client,
    pub server: Client,
}

impl ClickHouse {
    pub fn new(cfg: &ClickHouseConfig) -> ClickHouse {
        let server = Client::default()
            .with_url(&cfg.url)
            .with_user(&cfg.user)
            .with_password(&cfg.password)
            // ClickHouse 18.16 cannot describe tables the way schema validation expects.
            .with_validation(false);
        ClickHouse {
            cfg: cfg.clone(),
            db: server.clone().with_database(&cfg.database),
            server,
        }
    }

    /// Runs `fut` with the configured request timeout.
    async fn timed<T>(
        &self,
        fut: impl Future<Output = Result<T, clickhouse::error::Error>>,
    ) -> Result<T, ShipError> {
        match tokio::time::timeout(self.cfg.timeout, fut).await {
            Ok(r) => r.map_err(ShipError::ClickHouse),
            Err(_) => Err(ShipError::Timeout(self.cfg.timeout)),
        }
    }

    /// `SELECT version()`, within the timeout.
    pub async fn version(&self) -> Result<String, ShipError> {
        self.timed(self.server.query("SELECT version()").fetch_one::<String>())
            .await
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error("{0}")]
    ClickHouse(clickhouse::error::Error),
    #[error("no answer within {0:?} (clickhouse.timeout)")]
    Timeout(Duration),
    #[error(transparent)]
    Schema(#[from] schema::SchemaError),
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("spool task failed: {0}")]
    Task(String),
}

/// When the shipper stops.
#[derive(Debug, Clone)]
pub enum Until {
    /// Runs until cancelled (daemons).
    Cancelled,
    /// Stops once `input_closed` is cancelled and everything in the spool is delivered
    /// (`pipeline flush`, `pipeline inject`).
    Drained { input_closed: CancellationToken },
}

/// How a shipper run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Drained,
    Cancelled,
}

/// Whether the last attempt reached ClickHouse; shared with health reporting.
#[derive(Debug, Default)]
pub struct Link {
    pub reachable: AtomicBool,
}

/// Reads the spool from the spool's thread pool, batch after batch.
struct Source {
    reader: Option<Reader>,
    batch_events: usize,
    batch_wait: Duration,
}

pub struct Shipper {
    source: Source,
    stats: SpoolStats,
    ch: ClickHouse,
    pub link: Arc<Link>,
}

const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
const RETENTION_EVERY: Duration = Duration::from_secs(3600);

impl Shipper {
    pub fn new(reader: Reader, ch: ClickHouse, batch_events: usize, batch_wait: Duration) -> Self {
        Shipper {
            stats: reader.stats(),
            source: Source {
                reader: Some(reader),
                batch_events,
                batch_wait,
            },
            ch,
            link: Arc::new(Link::default()),
        }
    }

    /// Ships until `until` says to stop or `cancel` fires. Cancelling leaves unshipped
    /// events in the spool for the next process.
    ///
    /// While one batch is being inserted, the next one is read from the spool, so that
    /// decoding overlaps with ClickHouse's work; the cursor still advances batch by batch,
    /// only past what ClickHouse has acknowledged.
    pub async fn run(
        mut self,
        until: Until,
        cancel: CancellationToken,
    ) -> Result<Outcome, ShipError> {
        let mut outage = Outage::default();
        let mut uncertain = true;
        let mut last_retention: Option<Instant> = None;
        loop {
            // Schema first: nothing can be inserted into tables that do not exist.
            match schema::migrate(&self.ch.server, &self.ch.cfg.url, &self.ch.cfg.database).await {
                Ok(_) => break,
                Err(e @ schema::SchemaError::TooNew { .. }) => return Err(e.into()),
                Err(e) => {
                    outage.failed(&self.ch.cfg.url, &e.to_string(), &self.link);
                    if sleep_or_cancel(outage.delay(), &cancel).await {
                        return Ok(Outcome::Cancelled);
                    }
                }
            }
        }
        let mut ahead = Vec::new();
        loop {
            if last_retention.is_none_or(|t| t.elapsed() >= RETENTION_EVERY) {
                self.ch.retention().await;
                last_retention = Some(Instant::now());
            }
            let batch = match self.source.next_batch(ahead, &until, &cancel).await? {
                Next::Batch(b) => b,
                Next::Drained => return Ok(Outcome::Drained),
                Next::Cancelled => return Ok(Outcome::Cancelled),
            };
            let deliver = async {
                loop {
                    match self.ch.deliver(&batch.events, uncertain).await {
                        Ok(()) => return true,
                        Err(e) => {
                            uncertain = true;
                            self.stats.counters().retried.fetch_add(1, Relaxed);
                            outage.failed(&self.ch.cfg.url, &e.to_string(), &self.link);
                            if sleep_or_cancel(outage.delay(), &cancel).await {
                                return false;
                            }
                        }
                    }
                }
            };
            let want = self.source.batch_events;
            let (delivered, read) =
                tokio::join!(deliver, self.source.with_reader(move |r| r.read(want)));
            ahead = read?.events;
            if !delivered {
                return Ok(Outcome::Cancelled);
            }
            outage.recovered(&self.ch.cfg.url, &self.link);
            uncertain = false;
            let n = batch.events.len();
            self.source
                .with_reader(move |r| r.commit(batch.end, n))
                .await?;
        }
    }
}

impl ClickHouse {
    async fn retention(&self) {
        let today = chrono::Utc::now().date_naive();
        let days = self.cfg.retention_days;
        match schema::apply_retention(&self.server, &self.cfg.database, days, today).await {
            Ok(0) => {}
            Ok(n) => info!(partitions = n, days, "Applied retention."),
            Err(e) => debug!(error = %e, "Retention pass failed; will try again."),
        }
    }

    /// Inserts `events`, per table. With `uncertain`, ids already in ClickHouse are left out.
    async fn deliver(&self, events: &[Event], uncertain: bool) -> Result<(), ShipError> {
        let mut by_kind: BTreeMap<Kind, Vec<&Event>> = BTreeMap::new();
        for e in events {
            by_kind.entry(e.kind()).or_default().push(e);
        }
        // One insert per table, all at once: ClickHouse pays a fixed cost per insert, and
        // the tables do not wait for each other.
        let inserts = by_kind.into_iter().map(|(kind, mut evs)| async move {
            if uncertain {
                let present = self.present(kind, &evs).await?;
                if !present.is_empty() {
                    debug!(kind = ?kind, already = present.len(), "Left out events ClickHouse already has.");
                    evs.retain(|e| !present.contains(&e.id));
                }
            }
            if !evs.is_empty() {
                self.timed(schema::insert(&self.db, kind, &evs)).await?;
            }
            Ok::<(), ShipError>(())
        });
        futures_util::future::try_join_all(inserts).await?;
        Ok(())
    }

    /// Ids among `events` that ClickHouse already stores.
    async fn present(
        &self,
        kind: Kind,
        events: &[&Event],
    ) -> Result<HashSet<uuid::Uuid>, ShipError> {
        let (Some(min), Some(max)) = (
            events.iter().map(|e| e.time.timestamp()).min(),
            events.iter().map(|e| e.time.timestamp()).max(),
        ) else {
            return Ok(HashSet::new());
        };
        let sql = format!(
            "SELECT toString(id) FROM {} WHERE time >= toDateTime(?) AND time <= toDateTime(?)",
            schema::table(kind).name
        );
        let ids: Vec<String> = self
            .timed(self.db.query(&sql).bind(min).bind(max).fetch_all())
            .await?;
        let ours: HashSet<uuid::Uuid> = events.iter().map(|e| e.id).collect();
        Ok(ids
            .iter()
            .filter_map(|s| uuid::Uuid::parse_str(s).ok())
            .filter(|id| ours.contains(id))
            .collect())
    }
}

impl Source {
    /// Runs `f` on the spool reader off the async threads.
    async fn with_reader<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&mut Reader) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, ShipError> {
        let mut reader = self
            .reader
            .take()
            .ok_or_else(|| ShipError::Task("spool reader lost".into()))?;
        let (reader, result) = tokio::task::spawn_blocking(move || {
            let r = f(&mut reader);
            (reader, r)
        })
        .await
        .map_err(|e| ShipError::Task(e.to_string()))?;
        self.reader = Some(reader);
        Ok(result?)
    }

    /// The next batch: `ahead` (events already read) topped up to `batch_events`, or
    /// whatever arrived within `batch_wait` of the first event.
    async fn next_batch(
        &mut self,
        ahead: Vec<Event>,
        until: &Until,
        cancel: &CancellationToken,
    ) -> Result<Next, ShipError> {
        let max = self.batch_events;
        let mut batch = Batch {
            events: ahead,
            end: crate::spool::Position {
                segment: 0,
                offset: 0,
            },
        };
        let mut deadline: Option<Instant> = None;
        loop {
            let want = max.saturating_sub(batch.events.len());
            let more = self.with_reader(move |r| r.read(want)).await?;
            let got = !more.events.is_empty();
            batch.end = more.end;
            batch.events.extend(more.events);
            if batch.events.len() >= max {
                return Ok(Next::Batch(batch));
            }
            let input_done = match until {
                Until::Cancelled => false,
                Until::Drained { input_closed } => input_closed.is_cancelled(),
            };
            let drained = self.reader.as_ref().is_some_and(|r| r.is_drained());
            if batch.events.is_empty() {
                if input_done && drained {
                    return Ok(Next::Drained);
                }
            } else {
                let d = *deadline.get_or_insert_with(|| Instant::now() + self.batch_wait);
                if Instant::now() >= d || (input_done && !got) {
                    return Ok(Next::Batch(batch));
                }
            }
            if got {
                continue;
            }
            let wait = deadline.map_or(Duration::from_millis(250), |d| {
                d.saturating_duration_since(Instant::now())
            });
            let Some(reader) = self.reader.as_ref() else {
                return Err(ShipError::Task("spool reader lost".into()));
            };
            let closed = async {
                match until {
                    Until::Drained { input_closed } => input_closed.cancelled().await,
                    Until::Cancelled => std::future::pending().await,
                }
            };
            // Woken by appends only while waiting for a batch's first events: once it has
            // some, one read at its deadline takes what came meanwhile, instead of a trip to
            // the blocking pool for every append (a firewall appends every few ms).
            tokio::select! {
                _ = reader.appended(), if batch.events.is_empty() => {}
                _ = tokio::time::sleep(wait.min(Duration::from_millis(250))) => {}
                _ = closed, if !input_done => {}
                _ = cancel.cancelled() => return Ok(Next::Cancelled),
            }
        }
    }
}

enum Next {
    Batch(Batch),
    Drained,
    Cancelled,
}

/// Logs an outage once when it starts and once when it ends; computes the backoff.
#[derive(Default)]
struct Outage {
    since: Option<Instant>,
    attempts: u32,
    last_error: String,
}

impl Outage {
    fn failed(&mut self, url: &str, error: &str, link: &Link) {
        link.reachable.store(false, Relaxed);
        self.attempts += 1;
        if self.since.is_none() {
            self.since = Some(Instant::now());
            warn!(%url, %error, "ClickHouse unavailable; events wait in the spool, retrying with backoff.");
        } else if error != self.last_error {
            warn!(%url, %error, "ClickHouse still unavailable.");
        } else {
            debug!(%url, %error, attempts = self.attempts, "Retry failed.");
        }
        self.last_error = error.to_owned();
    }

    fn recovered(&mut self, url: &str, link: &Link) {
        link.reachable.store(true, Relaxed);
        if let Some(since) = self.since.take() {
            info!(%url, after = ?since.elapsed(), attempts = self.attempts, "ClickHouse reachable again; shipping resumes.");
        }
        self.attempts = 0;
        self.last_error.clear();
    }

    fn delay(&self) -> Duration {
        let exp = BACKOFF_START.saturating_mul(1 << self.attempts.saturating_sub(1).min(10));
        let capped = exp.min(BACKOFF_MAX);
        // Full jitter between half and all of it, so that many shippers do not retry in step.
        capped.mul_f64(0.5 + rand::random::<f64>() / 2.0)
    }
}

/// Sleeps `d`; true if cancelled first.
async fn sleep_or_cancel(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = cancel.cancelled() => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_the_cap() {
        let mut o = Outage::default();
        let link = Link::default();
        o.failed("u", "e", &link);
        assert!(o.delay() <= BACKOFF_START && o.delay() >= BACKOFF_START / 2);
        for _ in 0..20 {
            o.failed("u", "e", &link);
        }
        assert!(o.delay() <= BACKOFF_MAX && o.delay() >= BACKOFF_MAX / 2);
        o.recovered("u", &link);
        assert!(link.reachable.load(Relaxed));
        assert_eq!(o.attempts, 0);
    }
}
