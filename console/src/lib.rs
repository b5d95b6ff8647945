//! The SOC's terminal: app state ← background data loader; ui/<screen>; actions → analyzer.
//!
//! ```text
//!  keys, mouse, resize ─► app::App::handle_* ─► Vec<Command> ─┬─► data loader (reload, filter, evidence)
//!  data::Loader updates ─► app::App::update                     ├─► lifecycle transition → pipeline → ClickHouse
//!  drill task phases ────► app::App::drill_progress             ├─► drill task (analyzer::drill::Drills::run)
//!  1 s clock ────────────► app::App::tick                       └─► quit
//!  every input ──────────► ui::draw (from the state only)
//! ```
//!
//! [`run`] owns the loop; everything it calls into is pure (`app`, `ui`) or a task (`data`).

pub mod app;
pub mod config;
pub mod data;
#[doc(hidden)]
pub mod fixture;
pub mod i18n;
pub mod keys;
pub mod notify;
pub mod term;
pub mod ui;

use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use analyzer::config::ClickHouseConfig;
use analyzer::drill::{Drills, Injector, Progress, Scenario};
use analyzer::event::{AlertState, Resolution, Transition};
use analyzer::lifecycle::{self, Desk, DeskError, Step};
use analyzer::pipeline::Producer;
use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::app::{App, Command};
use crate::config::ConsoleConfig;
use crate::data::{Request, Source};
use crate::i18n::Msg;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error(transparent)]
    Term(#[from] term::TermError),
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

/// What the console's desk (`analyzer::lifecycle::Desk`, shared with `tianmu alert` and
/// `tianmu contain`) needs besides ClickHouse.
pub struct DeskParts {
    pub producer: Producer,
    /// The producer id of the transitions (`<node>/console`).
    pub producer_id: String,
    /// The containment file the firewalls watch (`[policy] containment`).
    pub containment: PathBuf,
}

/// What the console runs with.
pub struct Options {
    pub console: ConsoleConfig,
    pub clickhouse: ClickHouseConfig,
    /// The operator (the OS user).
    pub actor: String,
    /// `None` in read-only mode.
    pub desk: Option<DeskParts>,
    /// Where logs go while the TUI runs.
    pub log: Option<PathBuf>,
    /// What injects a drill's scenario (`None`: no drills from this console).
    pub injector: Option<Arc<dyn Injector>>,
}

/// How long a drill started from the console waits for its alert to be closed.
pub const DRILL_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// How often a drill asks ClickHouse for its alert and the alert's transitions.
const DRILL_POLL: Duration = Duration::from_secs(1);

/// What the drill task tells the loop.
enum DrillUpdate {
    Progress(Progress),
    Ended(app::DrillEnd),
}

/// Runs the console until the operator quits (or SIGTERM/SIGHUP).
pub async fn run(opts: Options) -> Result<(), ConsoleError> {
    let mut app = App::new(&opts.console, opts.actor.clone(), Utc::now());
    app.utc_offset = *chrono::Local::now().offset();
    if opts.desk.is_none() {
        app.read_only = true;
    }
    let source = Source::new(&opts.clickhouse);
    let desk = opts
        .desk
        .map(|parts| std::sync::Arc::new((source.clone(), parts)));
    app.drills_enabled = desk.is_some() && opts.injector.is_some();
    let (drill_tx, mut drill_rx) = mpsc::channel::<DrillUpdate>(64);
    // Desktop notifications: probed in the background; off (with why) until it answers yes.
    let mut probe = tokio::spawn(notify::probe());
    let mut probing = true;
    let mut notifying = false;
    let mut watch = notify::Watch::default();
    let mut drill_stop: Option<tokio_util::sync::CancellationToken> = None;
    let mut loader = data::spawn(source, opts.console.refresh, app.event_filter.clone());
    let mut term = term::Term::enter(opts.log.as_deref())?;
    let size = term.terminal.size()?;
    app.resize(size.width, size.height);
    tracing::info!(actor = %app.actor, read_only = app.read_only, "Console started.");
    let (done_tx, mut done_rx) = mpsc::channel::<Done>(16);
    let mut input = EventStream::new();
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    let mut stop = signals();
    loop {
        term.terminal.draw(|f| ui::draw(f, &app))?;
        let commands = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => app.handle_key(k),
                Some(Ok(TermEvent::Mouse(m))) => app.handle_mouse(m),
                Some(Ok(TermEvent::Resize(w, h))) => {
                    app.resize(w, h);
                    Vec::new()
                }
                Some(Ok(_)) => Vec::new(),
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(update) = loader.updates.recv() => {
                if let data::Update::Snapshot(s) = &update {
                    let fresh = watch.fresh(&s.alerts);
                    if notifying {
                        notify::send(&fresh);
                    }
                }
                app.update(update);
                Vec::new()
            }
            service = &mut probe, if probing => {
                probing = false;
                match service {
                    Ok(notify::Service::Available(name)) => {
                        tracing::info!(%name, "Desktop notifications on.");
                        notifying = true;
                        app.notifications = None;
                    }
                    Ok(notify::Service::Unavailable(why)) => {
                        tracing::info!(%why, "Desktop notifications off.");
                        app.notifications = Some(why);
                    }
                    Err(_) => app.notifications = Some("the D-Bus probe failed".into()),
                }
                Vec::new()
            }
            Some((result, recorded)) = done_rx.recv() => {
                if let Some(t) = recorded {
                    optimistic(&mut app, &t);
                    let _ = loader.requests.try_send(Request::Reload);
                }
                app.done(result);
                Vec::new()
            }
            Some(update) = drill_rx.recv() => {
                match update {
                    DrillUpdate::Progress(p) => {
                        let phase = p.phase;
                        app.drill_progress(p);
                        if phase != analyzer::event::DrillPhase::Injected {
                            let _ = loader.requests.try_send(Request::Reload);
                        }
                    }
                    DrillUpdate::Ended(r) => {
                        drill_stop = None;
                        app.drill_ended(r);
                        let _ = loader.requests.try_send(Request::Reload);
                    }
                }
                Vec::new()
            }
            _ = clock.tick() => {
                app.tick(Utc::now());
                Vec::new()
            }
            _ = stop.recv() => break,
        };
        for c in commands {
            match c {
                Command::Quit => {}
                Command::Reload => {
                    let _ = loader.requests.try_send(Request::Reload);
                }
                Command::SetEventFilter(f) => {
                    let _ = loader.requests.try_send(Request::Filter(f));
                }
                Command::LoadEvidence { alert, ids, around } => {
                    let _ = loader
                        .requests
                        .try_send(Request::Evidence { alert, ids, around });
                }
                c @ (Command::Act { .. } | Command::Contain { .. }) => {
                    execute(&desk, &app, done_tx.clone(), c)
                }
                Command::StartDrill { scenario } => {
                    drill_stop = start_drill(
                        &desk,
                        &opts.injector,
                        &app.actor,
                        scenario,
                        drill_tx.clone(),
                    );
                    if drill_stop.is_none() {
                        app.drill_ended(Err(app.t(Msg::DrillsDisabled).to_owned()));
                    }
                }
                Command::AbortDrill => {
                    if let Some(stop) = &drill_stop {
                        stop.cancel();
                    }
                }
            }
        }
        if app.quit {
            break;
        }
    }
    // A drill still running is aborted and its end recorded before the console goes.
    if let Some(stop) = drill_stop.take() {
        stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(u) = drill_rx.recv().await {
                if matches!(u, DrillUpdate::Ended(_)) {
                    break;
                }
            }
        })
        .await;
    }
    drop(term);
    tracing::info!("Console stopped.");
    Ok(())
}

type Done = (Result<String, String>, Option<Transition>);

/// Starts a drill of `scenario` in the background, recorded through the desk's pipeline;
/// its phases and end come back on `tx`. Returns the token that aborts it (`None`: this
/// console cannot run drills).
fn start_drill(
    desk: &Option<std::sync::Arc<(Source, DeskParts)>>,
    injector: &Option<Arc<dyn Injector>>,
    actor: &str,
    scenario: &'static Scenario,
    tx: mpsc::Sender<DrillUpdate>,
) -> Option<tokio_util::sync::CancellationToken> {
    let (desk, injector) = (desk.clone()?, injector.clone()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let cancel = stop.clone();
    let actor = actor.to_owned();
    tokio::spawn(async move {
        let (source, parts) = &*desk;
        let drills = Drills {
            db: &source.db,
            timeout: source.timeout,
            producer: &parts.producer,
            producer_id: &parts.producer_id,
            poll: DRILL_POLL,
        };
        let (progress, mut phases) = mpsc::channel::<Progress>(64);
        let forward = async {
            while let Some(p) = phases.recv().await {
                if tx.send(DrillUpdate::Progress(p)).await.is_err() {
                    break;
                }
            }
        };
        let run = drills.run(
            scenario,
            injector.as_ref(),
            &actor,
            DRILL_TIMEOUT,
            progress,
            cancel,
        );
        let (result, ()) = tokio::join!(run, forward);
        let result = match result {
            Ok(f) => Ok(f.result),
            Err(e) => {
                tracing::warn!(error = %e, "Console drill failed.");
                Err(e.to_string())
            }
        };
        let _ = tx.send(DrillUpdate::Ended(result)).await;
    });
    Some(stop)
}

/// Runs an alert action or a containment through the desk, off the UI loop; the outcome
/// comes back on `done`.
fn execute(
    desk: &Option<std::sync::Arc<(Source, DeskParts)>>,
    app: &App,
    done: mpsc::Sender<Done>,
    command: Command,
) {
    let Some(desk) = desk.clone() else {
        let _ = done.try_send((Err(app.t(Msg::ActionsDisabled).into()), None));
        return;
    };
    let (ok, failed) = (app.t(Msg::Recorded), app.t(Msg::Failed));
    let actor = app.actor.clone();
    tokio::spawn(async move {
        let (source, parts) = &*desk;
        let d = Desk {
            db: &source.db,
            timeout: source.timeout,
            producer: &parts.producer,
            producer_id: &parts.producer_id,
            containment: &parts.containment,
        };
        let result: Result<(String, Transition), DeskError> = match command {
            Command::Act {
                alert,
                action,
                note,
                ..
            } => d
                .act(&alert.to_string(), &action, &actor, &note)
                .await
                .map(|t| (lifecycle::state_name(t.state).to_owned(), t)),
            Command::Contain {
                alert,
                target,
                duration,
                ..
            } => d
                .contain(Some(&alert.to_string()), target, duration, &actor, "")
                .await
                .map(|block| {
                    // The step just written, shown until the next load brings it back.
                    let t = Transition {
                        alert_id: alert,
                        state: AlertState::Contained,
                        actor: actor.clone(),
                        note: block.message(),
                        resolution: Resolution::None,
                    };
                    (block.message(), t)
                }),
            _ => return,
        };
        let out = match result {
            Ok((what, t)) => {
                tracing::info!(alert = %t.alert_id, state = lifecycle::state_name(t.state), actor = %t.actor, "{what}");
                (Ok(format!("{what}: {ok}")), Some(t))
            }
            Err(e) => {
                tracing::warn!(error = %e, "Console action failed.");
                (Err(format!("{failed}: {e}")), None)
            }
        };
        let _ = done.send(out).await;
    });
}

/// Shows a recorded step at once; the next snapshot brings it back from ClickHouse.
fn optimistic(app: &mut App, t: &Transition) {
    let Some(data) = app.data.as_mut() else {
        return;
    };
    if let Some(r) = data
        .alerts
        .iter_mut()
        .find(|r| r.alert.alert_id == t.alert_id)
    {
        r.timeline.steps.push(Step {
            time: Utc::now(),
            state: t.state,
            actor: t.actor.clone(),
            note: t.note.clone(),
            resolution: t.resolution,
        });
    }
}

/// Where logs go while the TUI covers the terminal: `$XDG_STATE_HOME/tianmu/console.log`
/// or `~/.local/state/tianmu/console.log`.
pub fn log_file() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))?;
    Some(state.join("tianmu").join("console.log"))
}

/// SIGTERM or SIGHUP (the terminal went away) end the console cleanly.
fn signals() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(()).await;
    });
    rx
}
