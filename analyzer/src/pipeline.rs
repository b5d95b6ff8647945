//! The running pipeline: a [`Producer`] handle that every part of a process emits events
//! through, the spool writer task behind it, and the shipper task that delivers to
//! ClickHouse.
//!
//! ```text
//! producers ──emit──► bounded queue ──► writer task ──append+fsync──► spool segments
//!                                                                        │
//!                        ClickHouse ◄──insert (dedup by id)── shipper ◄──┘ read / commit
//! ```
//!
//! Producers wait when the queue is full (backpressure); [`Producer::try_emit`], for code
//! that must never wait, drops and counts instead. The writer appends whatever has queued
//! up as one batch (one fsync for all of it).

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};

use crate::config::{ClickHouseConfig, SpoolConfig};
use crate::event::Event;
use crate::ship::{ClickHouse, Link, Outcome, ShipError, Shipper, Until};
use crate::spool::{self, Counters, SpoolError, SpoolStats, Writer};

/// Most events the writer takes from the queue for one append.
const WRITE_BATCH: usize = 50_000;
const TICK: Duration = Duration::from_secs(1);
/// How long the writer waits for more events after the first of a batch.
const LINGER: Duration = Duration::from_millis(2);

struct Job {
    events: Vec<Event>,
    done: Option<oneshot::Sender<Result<usize, String>>>,
}

/// Why events could not be handed to the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    #[error("the event pipeline is shut down")]
    Closed,
    #[error("events not spooled: {0}")]
    Spool(String),
}

/// The handle producers emit events through; cheap to clone.
#[derive(Clone)]
pub struct Producer {
    tx: mpsc::Sender<Job>,
    spool: SpoolStats,
}

impl Producer {
    /// Queues events for the spool, waiting while the queue is full.
    pub async fn emit(&self, events: Vec<Event>) -> Result<(), EmitError> {
        self.tx
            .send(Job { events, done: None })
            .await
            .map_err(|_| EmitError::Closed)
    }

    /// Queues events and waits until they are in the spool (synced per the fsync policy);
    /// returns how many were written.
    pub async fn emit_durable(&self, events: Vec<Event>) -> Result<usize, EmitError> {
        let (done, written) = oneshot::channel();
        self.tx
            .send(Job {
                events,
                done: Some(done),
            })
            .await
            .map_err(|_| EmitError::Closed)?;
        written
            .await
            .map_err(|_| EmitError::Closed)?
            .map_err(EmitError::Spool)
    }

    /// The spool's counters.
    pub fn counters(&self) -> &Counters {
        self.spool.counters()
    }

    /// Queues events without waiting; when the queue is full they are dropped and counted
    /// (`dropped_queue`). Returns whether they were queued.
    pub fn try_emit(&self, events: Vec<Event>) -> bool {
        let n = events.len() as u64;
        match self.tx.try_send(Job { events, done: None }) {
            Ok(()) => true,
            Err(_) => {
                self.spool.counters().dropped_queue.fetch_add(n, Relaxed);
                false
            }
        }
    }
}

/// A started pipeline: the producer handle and the tasks behind it.
pub struct Pipeline {
    producer: Producer,
    writer: JoinHandle<()>,
    shipper: JoinHandle<Result<Outcome, ShipError>>,
    /// Stops the writer after it has written what is queued.
    stop_writer: CancellationToken,
    /// Stops the shipper where it is.
    stop_shipper: CancellationToken,
    input_closed: CancellationToken,
    pub link: Arc<Link>,
}

/// How the shipper of a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until shut down (daemons).
    Daemon,
    /// Until the producers are done and the spool is empty (`flush`, `inject`).
    Drain,
}

impl Pipeline {
    /// Opens the spool and starts the writer and the shipper.
    pub fn start(
        spool_cfg: &SpoolConfig,
        ch: &ClickHouseConfig,
        mode: Mode,
    ) -> Result<Pipeline, SpoolError> {
        let (writer, reader) = spool::open(spool_cfg)?;
        let spool = writer.stats();
        let (tx, rx) = mpsc::channel(spool_cfg.queue);
        let stop_writer = CancellationToken::new();
        let stop_shipper = CancellationToken::new();
        let input_closed = CancellationToken::new();
        let writer = tokio::spawn(write_loop(writer, rx, stop_writer.clone()));
        let shipper = Shipper::new(
            reader,
            ClickHouse::new(ch),
            spool_cfg.batch_events,
            spool_cfg.batch_wait,
        );
        let link = shipper.link.clone();
        let until = match mode {
            Mode::Daemon => Until::Cancelled,
            Mode::Drain => Until::Drained {
                input_closed: input_closed.clone(),
            },
        };
        let shipper = tokio::spawn(shipper.run(until, stop_shipper.clone()));
        Ok(Pipeline {
            producer: Producer { tx, spool },
            writer,
            shipper,
            stop_writer,
            stop_shipper,
            input_closed,
            link,
        })
    }

    pub fn producer(&self) -> Producer {
        self.producer.clone()
    }

    /// Says no more events will come, writes what is queued, and — in [`Mode::Drain`] —
    /// waits until the shipper has delivered everything. `cancel` stops the wait; what is
    /// not shipped stays in the spool.
    pub async fn finish(self, cancel: CancellationToken) -> Result<Outcome, ShipError> {
        let Pipeline {
            producer,
            writer,
            mut shipper,
            stop_writer,
            stop_shipper,
            input_closed,
            ..
        } = self;
        drop(producer);
        stop_writer.cancel();
        if let Err(e) = writer.await {
            error!(error = %e, "Spool writer task failed.");
        }
        input_closed.cancel();
        tokio::select! {
            r = &mut shipper => r.unwrap_or_else(|e| Err(ShipError::Task(e.to_string()))),
            _ = cancel.cancelled() => {
                stop_shipper.cancel();
                let _ = (&mut shipper).await;
                Ok(Outcome::Cancelled)
            }
        }
    }
}

async fn write_loop(mut writer: Writer, mut rx: mpsc::Receiver<Job>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            job = rx.recv() => job,
            _ = tick.tick() => {
                writer = blocking(writer, |w| w.tick().map(|_| 0)).await.0;
                continue;
            }
            _ = stop.cancelled() => rx.try_recv().ok(),
        };
        let Some(first) = first else { break };
        let mut jobs = vec![first];
        let mut n = jobs[0].events.len();
        // Producers that emit one event at a time (a firewall session per statement) would
        // otherwise cost a trip to the blocking pool each: linger briefly for more. Asleep
        // on the timer rather than on the queue, the task is not woken for every event.
        if n < WRITE_BATCH && !stop.is_cancelled() {
            tokio::select! {
                _ = tokio::time::sleep(LINGER) => {}
                _ = stop.cancelled() => {}
            }
        }
        while n < WRITE_BATCH {
            let Ok(job) = rx.try_recv() else { break };
            n += job.events.len();
            jobs.push(job);
        }
        let mut events = Vec::with_capacity(n);
        let mut acks = Vec::new();
        for job in jobs {
            acks.push((job.events.len(), job.done));
            events.extend(job.events);
        }
        let (w, result) = blocking(writer, move |w| w.append(&events)).await;
        writer = w;
        if let Err(e) = &result {
            warn!(error = %e, "Events not spooled.");
        }
        // Each producer hears about its own events. A short write (the disk failed in the
        // middle) kept the first `written` events, in queue order.
        let mut written = match &result {
            Ok(w) => *w,
            Err(_) => 0,
        };
        for (len, done) in acks {
            let mine = len.min(written);
            written -= mine;
            if let Some(done) = done {
                let _ = done.send(result.as_ref().map(|_| mine).map_err(|e| e.to_string()));
            }
        }
    }
    if let Err(e) = tokio::task::spawn_blocking(move || writer.close()).await {
        error!(error = %e, "Closing the spool failed.");
    }
}

/// Runs `f` on the writer off the async threads and gives the writer back.
async fn blocking(
    mut writer: Writer,
    f: impl FnOnce(&mut Writer) -> Result<usize, SpoolError> + Send + 'static,
) -> (Writer, Result<usize, SpoolError>) {
    match tokio::task::spawn_blocking(move || {
        let r = f(&mut writer);
        (writer, r)
    })
    .await
    {
        Ok(pair) => pair,
        // spawn_blocking only fails if `f` panicked: a bug, not an input problem.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// What went wrong running a pipeline command.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error(transparent)]
    Ship(#[from] ShipError),
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// Result of `tianmu pipeline inject`.
#[derive(Debug, Clone, Copy)]
pub struct Injected {
    pub spooled: u64,
    pub outcome: Outcome,
    pub elapsed: Duration,
}

/// Events handed to the spool at once by `inject`.
const INJECT_CHUNK: usize = 5_000;
/// Chunks `inject` has handed over and not yet seen synced.
const INJECT_IN_FLIGHT: usize = 3;

/// `tianmu pipeline inject`: `count` synthetic events through the real spool and shipper.
/// Waits until they are delivered, retrying through outages; `cancel` stops it and leaves
/// what is not shipped in the spool. `on_spooled` is told once all are in the spool.
pub async fn inject(
    spool_cfg: &SpoolConfig,
    ch: &ClickHouseConfig,
    producer_id: &str,
    count: u64,
    seed: u64,
    cancel: CancellationToken,
    on_spooled: impl FnOnce(u64),
) -> Result<Injected, PipelineError> {
    let started = std::time::Instant::now();
    let pipeline = Pipeline::start(spool_cfg, ch, Mode::Drain)?;
    let producer = pipeline.producer();
    let mut synthetic = crate::synthetic::Synthetic::new(producer_id, seed);
    let mut spooled = 0u64;
    let mut made = 0u64;
    // A few chunks in flight, so that generating the next chunk overlaps with writing and
    // syncing the previous one, as concurrent producers do.
    let mut in_flight = std::collections::VecDeque::new();
    while (made < count && !cancel.is_cancelled()) || !in_flight.is_empty() {
        if made < count && !cancel.is_cancelled() && in_flight.len() < INJECT_IN_FLIGHT {
            let n = (count - made).min(INJECT_CHUNK as u64) as usize;
            let events: Vec<Event> = (0..n).map(|_| synthetic.next_event()).collect();
            made += n as u64;
            let p = producer.clone();
            in_flight.push_back(tokio::spawn(async move { p.emit_durable(events).await }));
            continue;
        }
        let Some(chunk) = in_flight.pop_front() else {
            break;
        };
        match chunk.await.map_err(|_| EmitError::Closed)? {
            Ok(written) => spooled += written as u64,
            // A full spool under `drop-newest` refuses events; they are counted and
            // inject moves on, as a producer would.
            Err(EmitError::Spool(e)) => warn!(error = %e, "Events refused by the spool."),
            Err(e) => return Err(e.into()),
        }
    }
    drop(producer);
    on_spooled(spooled);
    let outcome = pipeline.finish(cancel).await?;
    Ok(Injected {
        spooled,
        outcome,
        elapsed: started.elapsed(),
    })
}

/// Result of `tianmu pipeline flush`.
#[derive(Debug, Clone, Copy)]
pub struct Flushed {
    pub shipped: u64,
    pub outcome: Outcome,
}

/// `tianmu pipeline flush`: ships what the spool holds; stops when it is empty or when
/// `cancel` fires (timeout, Ctrl-C).
pub async fn flush(
    spool_cfg: &SpoolConfig,
    ch: &ClickHouseConfig,
    cancel: CancellationToken,
) -> Result<Flushed, PipelineError> {
    let pipeline = Pipeline::start(spool_cfg, ch, Mode::Drain)?;
    let before = pipeline.producer.counters().shipped.load(Relaxed);
    let counters = pipeline.producer.spool.clone();
    let outcome = pipeline.finish(cancel).await?;
    Ok(Flushed {
        shipped: counters.counters().shipped.load(Relaxed) - before,
        outcome,
    })
}

/// What `tianmu pipeline stats` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Stats {
    pub spool: spool::Inspection,
    /// `Ok(version)` when ClickHouse answered.
    pub clickhouse_url: String,
    pub clickhouse_version: Option<String>,
    pub clickhouse_error: Option<String>,
}

/// `tianmu pipeline stats`: reads the spool's files (works while a daemon owns it) and asks
/// ClickHouse for its version.
pub async fn stats(spool_cfg: &SpoolConfig, ch: &ClickHouseConfig) -> Result<Stats, PipelineError> {
    let spool = spool::inspect(&spool_cfg.path)?;
    let mut ch_cfg = ch.clone();
    ch_cfg.timeout = ch_cfg.timeout.min(Duration::from_secs(3));
    let version = ClickHouse::new(&ch_cfg).version().await;
    Ok(Stats {
        spool,
        clickhouse_url: ch.url.clone(),
        clickhouse_version: version.as_ref().ok().cloned(),
        clickhouse_error: version.err().map(|e| e.to_string()),
    })
}
