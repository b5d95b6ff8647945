//! Live capture: each configured interface gets `workers` threads, each with its own
//! [`Ring`] and its own [`Sensor`] (flow table, followers); with several workers the rings
//! join one `PACKET_FANOUT` group per interface, so each connection's two directions reach
//! the same worker and no state is shared between them.
//!
//! ```text
//!  interface ─► kernel fanout (hash) ─► ring ─► worker: Sensor ─► sink (events, in batches)
//!                                    └► ring ─► worker: Sensor ─► sink
//! ```
//!
//! A worker waits on its ring at most [`POLL`] at a time, so without traffic it still
//! evicts idle flows and notices the stop flag. Once a second it reads the kernel's drop
//! counts and publishes its counters, which [`Live::counters`] adds up for health reports.
//! When the interface goes down or away the worker says so, and opens its ring again every
//! [`REOPEN_EVERY`] until the interface is back (counted in `ring_reopened`).
//!
//! A sink that cannot keep up holds its worker back; the ring then fills and the kernel
//! drops packets, counted in `drops` — the ring's size is the bound on memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use analyzer::event::Event;

use crate::capture::ring::{Ring, RingConfig, RingError, WalkStats};
use crate::config::SensorConfig;
use crate::counters::Counters;
use crate::event::Events;
use crate::run::Sensor;

/// Longest wait for a block before the worker looks at the clock and the stop flag.
pub const POLL: Duration = Duration::from_millis(100);
/// How often a worker publishes its counters (and reads the kernel's).
pub const PUBLISH_EVERY: Duration = Duration::from_secs(1);
/// How often a worker whose interface went away tries to open it again.
pub const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// Where a worker's events go, a batch (the statements of one ring block) at a time.
pub type Sink = Box<dyn FnMut(Vec<Event>) + Send>;

/// The capture threads.
#[derive(Debug)]
pub struct Live {
    stop: Arc<AtomicBool>,
    workers: Vec<Worker>,
}

#[derive(Debug)]
struct Worker {
    interface: String,
    counters: Arc<Mutex<Counters>>,
    thread: Option<JoinHandle<()>>,
}

/// Each worker's place on one interface.
#[derive(Debug, Clone)]
struct Place {
    interface: String,
    ring: RingConfig,
}

impl Live {
    /// Opens every ring of `cfg` first — so a missing interface, missing privileges or a
    /// refused ring are reported before anything runs — then starts one thread per ring.
    /// `events` makes each worker's event builder, `sink(i)` the i-th worker's sink.
    pub fn start(
        cfg: &SensorConfig,
        events: impl Fn() -> Events,
        mut sink: impl FnMut(usize) -> Sink,
    ) -> Result<Live, RingError> {
        let mut rings = Vec::new();
        for (n, interface) in cfg.interfaces.iter().enumerate() {
            let mut ring = cfg.ring.clone();
            if cfg.workers > 1 {
                // One group per interface (the kernel ties a group to one device); by
                // default from the process id, so two sensors do not share packets.
                let base = cfg
                    .fanout_group
                    .unwrap_or((std::process::id() & 0xffff) as u16);
                ring.fanout = Some(base.wrapping_add(n as u16));
            }
            for _ in 0..cfg.workers {
                let place = Place {
                    interface: interface.clone(),
                    ring: ring.clone(),
                };
                rings.push((Ring::open(interface, &ring)?, place));
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for (i, (ring, place)) in rings.into_iter().enumerate() {
            let counters = Arc::new(Mutex::new(Counters::default()));
            let run = Run {
                place: place.clone(),
                sensor: Sensor::new(cfg.flow_limits(), events()),
                sink: sink(i),
                published: counters.clone(),
                stop: stop.clone(),
                ring_counts: Counters::default(),
                walked_before: WalkStats::default(),
            };
            let thread = std::thread::Builder::new()
                .name(format!("capture-{}-{i}", place.interface))
                .spawn(move || run.run(ring))
                .map_err(|source| RingError::Os {
                    interface: place.interface.clone(),
                    what: "cannot start a capture thread",
                    source,
                })?;
            workers.push(Worker {
                interface: place.interface,
                counters,
                thread: Some(thread),
            });
        }
        Ok(Live { stop, workers })
    }

    /// Interfaces captured, one entry per worker.
    pub fn interfaces(&self) -> Vec<&str> {
        self.workers.iter().map(|w| w.interface.as_str()).collect()
    }

    /// Every worker's counters as last published (at most [`PUBLISH_EVERY`] old), added up.
    pub fn counters(&self) -> Counters {
        let mut all = Counters::default();
        for w in &self.workers {
            let c = w.counters.lock().unwrap_or_else(|e| e.into_inner());
            all.add(&c);
        }
        all
    }

    /// Stops the workers: each closes its flows (their last statements go to its sink),
    /// publishes its final counters and ends. Returns the counters added up.
    pub fn stop(mut self) -> Counters {
        self.stop.store(true, Ordering::Relaxed);
        for w in &mut self.workers {
            if let Some(t) = w.thread.take()
                && t.join().is_err()
            {
                tracing::error!(interface = %w.interface, "A capture worker panicked.");
            }
        }
        self.counters()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One worker's state, owned by its thread.
struct Run {
    place: Place,
    sensor: Sensor,
    sink: Sink,
    published: Arc<Mutex<Counters>>,
    stop: Arc<AtomicBool>,
    /// The ring's own counts (kernel drops, walk problems, reopenings).
    ring_counts: Counters,
    /// What rings closed before the current one had walked.
    walked_before: WalkStats,
}

impl Run {
    fn run(mut self, ring: Ring) {
        let mut ring = Some(ring);
        let mut batch = Vec::new();
        let mut published = Instant::now();
        let mut down_since: Option<Instant> = None;
        while !self.stop.load(Ordering::Relaxed) {
            match &mut ring {
                Some(r) => {
                    let sensor = &mut self.sensor;
                    let read = r.next_block(POLL, &mut |p| {
                        sensor.packet(p, &mut |e| batch.push(e));
                    });
                    if let Err(e) = read {
                        tracing::warn!(
                            interface = %self.place.interface,
                            error = %e,
                            "Capture interrupted; opening the interface again when it returns."
                        );
                        if let Some(r) = ring.take() {
                            self.close(&r);
                        }
                        down_since = Some(Instant::now());
                    }
                }
                None => {
                    std::thread::sleep(POLL);
                    if down_since.is_some_and(|t| t.elapsed() >= REOPEN_EVERY) {
                        match Ring::open(&self.place.interface, &self.place.ring) {
                            Ok(r) => {
                                tracing::info!(interface = %self.place.interface, "Capturing again.");
                                self.ring_counts.ring_reopened += 1;
                                ring = Some(r);
                                down_since = None;
                            }
                            Err(e) => {
                                tracing::debug!(interface = %self.place.interface, error = %e, "Interface not back yet.");
                                down_since = Some(Instant::now());
                            }
                        }
                    }
                }
            }
            self.sensor.tick(now_us(), &mut |e| batch.push(e));
            if !batch.is_empty() {
                (self.sink)(std::mem::take(&mut batch));
            }
            if published.elapsed() >= PUBLISH_EVERY {
                published = Instant::now();
                if let Some(r) = &ring {
                    self.kernel_stats(r);
                }
                self.publish(ring.as_ref());
            }
        }
        if let Some(r) = ring.take() {
            self.close(&r);
        }
        self.sensor.finish(&mut |e| batch.push(e));
        if !batch.is_empty() {
            (self.sink)(batch);
        }
        self.publish(None);
    }

    /// Adds the kernel's counts since the last reading.
    fn kernel_stats(&mut self, r: &Ring) {
        match r.kernel_stats() {
            Ok(k) => {
                self.ring_counts.drops += k.drops;
                self.ring_counts.ring_frozen += k.freeze_q;
            }
            Err(e) => {
                tracing::debug!(interface = %self.place.interface, error = %e, "No kernel statistics.")
            }
        }
    }

    /// A ring is closed: its last counts are kept.
    fn close(&mut self, r: &Ring) {
        self.kernel_stats(r);
        let w = r.walk_stats();
        self.walked_before.cut += w.cut;
        self.walked_before.malformed_blocks += w.malformed_blocks;
    }

    fn publish(&self, ring: Option<&Ring>) {
        let mut c = self.sensor.counters();
        c.add(&self.ring_counts);
        let w = ring.map(Ring::walk_stats).unwrap_or_default();
        c.packets_cut += self.walked_before.cut + w.cut;
        c.ring_malformed_blocks += self.walked_before.malformed_blocks + w.malformed_blocks;
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = c;
    }
}
