//! `tianmu alert …` and `tianmu contain …`: the alert lifecycle and containment from the
//! command line, through the same desk as the console (`analyzer::lifecycle::Desk`).

use std::process::ExitCode;
use std::time::Duration;

use analyzer::event::AlertState;
use analyzer::lifecycle::{
    self, Action, AlertRecord, Desk, ListFilter, operator, parse_resolution, resolution_name,
    state_name,
};
use analyzer::pipeline::{Mode, Pipeline};
use analyzer::ship::ClickHouse;
use anyhow::{Context, Result};
use chrono::Utc;
use rules::policy::containment::{Containment, Target};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::{ConfigArg, load};

/// How long a command waits for its transition to reach ClickHouse before it leaves it in
/// the spool (the next `tianmu alert` or `tianmu pipeline flush` ships it).
const SHIP_WAIT: Duration = Duration::from_secs(15);

#[derive(clap::Subcommand)]
pub enum AlertCommand {
    /// Alerts, newest first: open ones unless --all.
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// Closed and merged alerts too.
        #[arg(long)]
        all: bool,
        /// Raised within this long before now.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        since: Duration,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// One alert: what it is about, its evidence ids, its transitions and SLA timers.
    Show {
        #[command(flatten)]
        config: ConfigArg,
        /// The alert id or its first characters.
        id: String,
    },
    /// Take an action on an alert, recorded with you (the OS user) as the actor.
    #[command(flatten)]
    Act(Act),
}

#[derive(clap::Subcommand)]
pub enum Act {
    /// Acknowledge a new or reopened alert.
    Ack(Target1),
    /// Hand an alert to an operator.
    Assign {
        #[command(flatten)]
        on: Target1,
        /// Who takes it.
        #[arg(long)]
        to: String,
    },
    /// Work has started.
    Start(Target1),
    /// Waiting on someone outside the SOC.
    Pend(Target1),
    /// Block an account, address or statement shape on every firewall for a while, as
    /// this alert's containment.
    Contain {
        #[command(flatten)]
        on: Target1,
        #[command(flatten)]
        block: BlockArgs,
    },
    Resolve(Target1),
    /// Close with a resolution.
    Close {
        #[command(flatten)]
        on: Target1,
        /// tp-impact, tp-no-impact, false-positive, legitimate or unknown.
        #[arg(long)]
        resolution: String,
    },
    Reopen(Target1),
    Escalate(Target1),
    /// A duplicate of another alert.
    Merge {
        #[command(flatten)]
        on: Target1,
        /// The alert it duplicates.
        #[arg(long)]
        into: String,
    },
    /// As a reviewer, agree with how a closed alert was closed (not its closer).
    SignOff(Target1),
    /// Add a remark (give it with --note).
    Note(Target1),
}

/// The alert an action is on, and the remark that goes with it.
#[derive(clap::Args)]
pub struct Target1 {
    #[command(flatten)]
    config: ConfigArg,
    /// The alert id or its first characters.
    id: String,
    /// A remark recorded with the transition.
    #[arg(long, default_value = "")]
    note: String,
}

/// What to block, for how long.
#[derive(clap::Args)]
#[group(skip)]
#[command(group(clap::ArgGroup::new("what").required(true).multiple(false)))]
pub struct BlockArgs {
    /// A database account or app key.
    #[arg(long, group = "what")]
    account: Option<String>,
    /// A client address or network (10.8.0.0/16).
    #[arg(long, group = "what")]
    address: Option<String>,
    /// A statement fingerprint (16 hex digits, as events show it).
    #[arg(long, group = "what")]
    fingerprint: Option<String>,
    /// How long, e.g. 30m, 4h, 2d.
    #[arg(long = "for", value_parser = humantime::parse_duration)]
    duration: Duration,
}

impl BlockArgs {
    fn target(&self) -> Result<Target> {
        let (kind, value) = match (&self.account, &self.address, &self.fingerprint) {
            (Some(a), _, _) => ("account", a),
            (_, Some(a), _) => ("address", a),
            (_, _, Some(f)) => ("fingerprint", f),
            _ => anyhow::bail!("give --account, --address or --fingerprint"),
        };
        Target::parse(kind, value).map_err(|e| anyhow::anyhow!(e))
    }
}

#[derive(clap::Subcommand)]
pub enum ContainCommand {
    /// Block an account, address or statement shape on every firewall for a while.
    Add {
        #[command(flatten)]
        config: ConfigArg,
        #[command(flatten)]
        block: BlockArgs,
        /// The alert this contains (recorded as its transition).
        #[arg(long)]
        alert: Option<String>,
        /// Why.
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The blocks in force.
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Lift a block before it expires.
    Lift {
        #[command(flatten)]
        config: ConfigArg,
        /// The block id (c-…) or its first characters.
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

/// The desk's connections for one command; `finish` waits for the transitions to ship.
struct Session {
    cfg: Config,
    ch: ClickHouse,
    pipeline: Pipeline,
    producer_id: String,
}

impl Session {
    fn open(config: &ConfigArg) -> Result<Session> {
        let cfg = load(config)?;
        let pipeline = Pipeline::start(&cfg.spool("alert"), &cfg.clickhouse, Mode::Drain)
            .with_context(|| format!("starting the event pipeline ({})", cfg.path.display()))?;
        Ok(Session {
            ch: ClickHouse::new(&cfg.clickhouse),
            producer_id: cfg.producer("alert"),
            pipeline,
            cfg,
        })
    }

    fn desk<'a>(&'a self, producer: &'a analyzer::pipeline::Producer) -> Desk<'a> {
        Desk {
            db: &self.ch.db,
            timeout: self.cfg.clickhouse.timeout,
            producer,
            producer_id: &self.producer_id,
            containment: &self.cfg.policy.containment,
        }
    }

    async fn finish(self) -> Result<()> {
        let stop = CancellationToken::new();
        let timer = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SHIP_WAIT).await;
            timer.cancel();
        });
        let outcome = self.pipeline.finish(stop).await?;
        if outcome != analyzer::ship::Outcome::Drained {
            eprintln!(
                "tianmu: ClickHouse did not take the transition within {SHIP_WAIT:?}; it stays in the spool ({}) and ships with the next `tianmu alert` or `tianmu pipeline flush --role alert`",
                self.cfg.spool("alert").path.display()
            );
        }
        Ok(())
    }
}

pub async fn alert(command: AlertCommand) -> Result<ExitCode> {
    match command {
        AlertCommand::List {
            config,
            all,
            since,
            json,
        } => {
            let cfg = load(&config)?;
            let ch = ClickHouse::new(&cfg.clickhouse);
            let filter = ListFilter {
                since: Some(Utc::now() - chrono::Duration::from_std(since)?),
                open_only: !all,
                ..ListFilter::default()
            };
            let alerts = lifecycle::list(&ch.db, cfg.clickhouse.timeout, &filter)
                .await
                .with_context(|| format!("reading alerts from {}", cfg.clickhouse.url))?;
            for r in &alerts {
                if json {
                    println!("{}", serde_json::to_string(&json_of(r))?);
                } else {
                    println!(
                        "{}  {}  {:<8}  {:<12}  {:<22} {:<14} {}",
                        &r.alert.alert_id.to_string()[..8],
                        r.raised.format("%m-%d %H:%M"),
                        format!("{:?}", r.alert.severity).to_lowercase(),
                        state_name(r.timeline.state()),
                        r.alert.detector,
                        r.alert.entity,
                        if r.drill { "[drill] " } else { "" }.to_owned() + &r.alert.title
                    );
                }
            }
            if !json {
                eprintln!("{} alerts", alerts.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        AlertCommand::Show { config, id } => {
            let s = Session::open(&config)?;
            let producer = s.pipeline.producer();
            let r = s.desk(&producer).alert(&id).await?;
            drop(producer);
            print_alert(&r);
            s.finish().await?;
            Ok(ExitCode::SUCCESS)
        }
        AlertCommand::Act(act) => {
            /// What the command asks of the desk.
            enum Step {
                Do(Action),
                /// Merge into the alert this id (or prefix) names.
                MergeInto(String),
                Contain(BlockArgs),
            }
            let (on, step) = match act {
                Act::Ack(on) => (on, Step::Do(Action::Acknowledge)),
                Act::Assign { on, to } => (on, Step::Do(Action::Assign(to))),
                Act::Start(on) => (on, Step::Do(Action::Start)),
                Act::Pend(on) => (on, Step::Do(Action::Pend)),
                Act::Resolve(on) => (on, Step::Do(Action::Resolve)),
                Act::Reopen(on) => (on, Step::Do(Action::Reopen)),
                Act::Escalate(on) => (on, Step::Do(Action::Escalate)),
                Act::SignOff(on) => (on, Step::Do(Action::SignOff)),
                Act::Note(on) => (on, Step::Do(Action::Note)),
                Act::Close { on, resolution } => {
                    let r = parse_resolution(&resolution).with_context(|| {
                        format!("--resolution {resolution}: expected tp-impact, tp-no-impact, false-positive, legitimate or unknown")
                    })?;
                    (on, Step::Do(Action::Close(r)))
                }
                Act::Merge { on, into } => (on, Step::MergeInto(into)),
                Act::Contain { on, block } => (on, Step::Contain(block)),
            };
            // One session (one pipeline) for the whole command.
            let s = Session::open(&on.config)?;
            let producer = s.pipeline.producer();
            let desk = s.desk(&producer);
            let actor = operator();
            let action = match step {
                Step::Do(a) => Some(a),
                Step::MergeInto(into) => {
                    Some(Action::Merge(desk.alert(&into).await?.alert.alert_id))
                }
                Step::Contain(block) => {
                    let b = desk
                        .contain(
                            Some(&on.id),
                            block.target()?,
                            block.duration,
                            &actor,
                            &on.note,
                        )
                        .await?;
                    println!("{}", b.message());
                    None
                }
            };
            if let Some(action) = action {
                let t = desk.act(&on.id, &action, &actor, &on.note).await?;
                println!(
                    "{} {} by {}",
                    &t.alert_id.to_string()[..8],
                    state_name(t.state),
                    t.actor
                );
            }
            drop(producer);
            s.finish().await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub async fn contain(command: ContainCommand) -> Result<ExitCode> {
    match command {
        ContainCommand::Add {
            config,
            block,
            alert,
            note,
        } => {
            let s = Session::open(&config)?;
            let producer = s.pipeline.producer();
            let b = s
                .desk(&producer)
                .contain(
                    alert.as_deref(),
                    block.target()?,
                    block.duration,
                    &operator(),
                    &note,
                )
                .await?;
            drop(producer);
            println!("{}", b.message());
            s.finish().await?;
        }
        ContainCommand::List { config } => {
            let cfg = load(&config)?;
            let path = &cfg.policy.containment;
            let c = Containment::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
            let now = Utc::now();
            let mut n = 0;
            for b in c.active(now) {
                n += 1;
                println!(
                    "{}  {:<30}  until {} UTC  by {}{}  {}",
                    b.id,
                    b.target.to_string(),
                    b.until.format("%Y-%m-%d %H:%M:%S"),
                    b.actor,
                    b.alert
                        .as_deref()
                        .map(|a| format!("  alert {}", &a[..a.len().min(8)]))
                        .unwrap_or_default(),
                    b.reason
                );
            }
            eprintln!("{n} blocks in force ({})", path.display());
        }
        ContainCommand::Lift { config, id, note } => {
            let s = Session::open(&config)?;
            let producer = s.pipeline.producer();
            let b = s.desk(&producer).lift(&id, &operator(), &note).await?;
            drop(producer);
            println!("{} lifted: {} may work again", b.id, b.target);
            s.finish().await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn json_of(r: &AlertRecord) -> serde_json::Value {
    let sla = r.timeline.sla();
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs());
    serde_json::json!({
        "alert": r.alert,
        "raised": r.raised,
        "drill": r.drill,
        "state": state_name(r.timeline.state()),
        "resolution": resolution_name(r.timeline.resolution()),
        "assignee": r.timeline.assignee(),
        "escalated": r.timeline.escalated(),
        "signed_off_by": r.timeline.signed_off_by(),
        "sla_seconds": {
            "acknowledge": secs(sla.acknowledge),
            "contain": secs(sla.contain),
            "close": secs(sla.close),
        },
        "transitions": r.timeline.steps.iter().map(|s| serde_json::json!({
            "time": s.time,
            "state": state_name(s.state),
            "actor": s.actor,
            "note": s.note,
            "resolution": resolution_name(s.resolution),
        })).collect::<Vec<_>>(),
    })
}

fn print_alert(r: &AlertRecord) {
    let a = &r.alert;
    let tl = &r.timeline;
    println!(
        "alert       {}{}",
        a.alert_id,
        if r.drill { "  [drill]" } else { "" }
    );
    println!("title       {}", a.title);
    println!(
        "detector    {}  entity {}  severity {:?}",
        a.detector, a.entity, a.severity
    );
    println!(
        "window      {} – {} UTC",
        a.window_start.format("%Y-%m-%d %H:%M:%S"),
        a.window_end.format("%H:%M:%S")
    );
    println!("state       {}", state_name(tl.state()));
    if tl.state() == AlertState::Closed {
        println!(
            "resolution  {}{}",
            resolution_name(tl.resolution()),
            tl.signed_off_by()
                .map(|s| format!(", signed off by {s}"))
                .unwrap_or_default()
        );
    }
    let sla = tl.sla();
    let show = |d: Option<Duration>| {
        d.map_or("—".to_owned(), |d| {
            humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
        })
    };
    println!(
        "sla         acknowledge {}  contain {}  close {}",
        show(sla.acknowledge),
        show(sla.contain),
        show(sla.close)
    );
    println!("evidence    {} events", a.evidence.len());
    for e in a.evidence.iter().take(10) {
        println!("            {e}");
    }
    println!("timeline");
    for s in &tl.steps {
        println!(
            "  {}  {:<13} {:<10} {}",
            s.time.format("%Y-%m-%d %H:%M:%S"),
            state_name(s.state),
            s.actor,
            s.note.replace('\n', " — ")
        );
    }
}
