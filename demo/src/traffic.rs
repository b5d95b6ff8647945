//! The traffic simulator (`tianmu traffic`): real SQL over real client connections as the
//! demo's accounts, and real HTTP calls to the sharing API, with DEMO.md's mixes; and the
//! scenarios, which can run on their own or beside normal traffic.
//!
//! Every statement and call the simulator makes is written to its own record (a JSON line
//! per action, with the scenario it belongs to) — never into the traffic itself, so that
//! tests and drills can tell injected traffic from normal traffic while the detectors see
//! nothing but what a real client would send.
//!
//! Keys come from the data set itself: the generator is deterministic, so the simulator
//! regenerates the seed's data to know real ID cards and USCCs without asking the database.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::api::DEMO_APP_KEYS;
use crate::data::{Counts, Dataset, generate};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Profile {
    /// The portal, the sharing platform, the analyst and API consumers at their usual mix.
    Normal,
    /// The analyst pages through `population`.
    BulkExfil,
    /// An injection campaign through the portal's account.
    Sqli,
    /// The vendor's development account probes production tables.
    VendorProd,
    /// The analyst reads level-3 data (the firewall's clock decides whether it is night).
    OffHours,
    /// One app key enumerates the credit API.
    ApiScrape,
    /// Restricted credit details read back in bulk by the sharing account.
    Flowback,
}

impl Profile {
    pub const ALL: [Profile; 7] = [
        Profile::Normal,
        Profile::BulkExfil,
        Profile::Sqli,
        Profile::VendorProd,
        Profile::OffHours,
        Profile::ApiScrape,
        Profile::Flowback,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Normal => "normal",
            Profile::BulkExfil => "bulk-exfil",
            Profile::Sqli => "sqli",
            Profile::VendorProd => "vendor-prod",
            Profile::OffHours => "off-hours",
            Profile::ApiScrape => "api-scrape",
            Profile::Flowback => "flowback",
        }
    }

    pub fn from_name(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name() == s)
    }
}

/// Where the traffic goes.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// PostgreSQL, or the firewall listener in front of it.
    pub postgres: SocketAddr,
    /// MariaDB, or the firewall listener in front of it.
    pub mariadb: SocketAddr,
    /// The sharing API; `None`: no API calls.
    pub api: Option<SocketAddr>,
    pub database: String,
    /// Seed of the loaded data set (its keys are used in the statements).
    pub seed: u64,
    /// Actions per second, all accounts together.
    pub rate: f64,
    pub duration: Duration,
    /// The record of every action made; `None`: counted only.
    pub record: Option<std::path::PathBuf>,
}

/// What was done.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub statements: u64,
    /// Statements the server (or the firewall) refused or failed.
    pub refused: u64,
    pub api_calls: u64,
    /// API calls answered with something other than 2xx/404.
    pub api_refused: u64,
    /// Per account: statements sent.
    pub by_account: std::collections::BTreeMap<String, u64>,
}

/// Why the simulator could not run.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("cannot connect to PostgreSQL at {addr} as {user}: {error}")]
    Postgres {
        addr: SocketAddr,
        user: String,
        error: String,
    },
    #[error("cannot connect to MariaDB at {addr} as {user}: {error}")]
    Mariadb {
        addr: SocketAddr,
        user: String,
        error: String,
    },
    #[error("cannot write the traffic record {path}: {error}")]
    Record { path: String, error: std::io::Error },
}

/// One action, as recorded.
#[derive(Serialize)]
struct Action<'a> {
    time: chrono::DateTime<chrono::Utc>,
    profile: &'a str,
    account: &'a str,
    channel: &'a str,
    text: &'a str,
    ok: bool,
}

struct Recorder {
    out: Option<Mutex<std::io::BufWriter<std::fs::File>>>,
    report: Mutex<Report>,
}

impl Recorder {
    fn note(&self, profile: Profile, account: &str, channel: &str, text: &str, ok: bool) {
        {
            let mut r = self.report.lock().unwrap_or_else(|p| p.into_inner());
            if channel == "http" {
                r.api_calls += 1;
                r.api_refused += u64::from(!ok);
            } else {
                r.statements += 1;
                r.refused += u64::from(!ok);
                *r.by_account.entry(account.to_owned()).or_default() += 1;
            }
        }
        if let Some(out) = &self.out {
            let a = Action {
                time: chrono::Utc::now(),
                profile: profile.name(),
                account,
                channel,
                text,
                ok,
            };
            let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
            if let Ok(line) = serde_json::to_string(&a) {
                let _ = writeln!(w, "{line}");
            }
        }
    }
}

/// A client connection as one account.
enum Conn {
    Pg(tokio_postgres::Client),
    My(mysql_async::Conn),
}

impl Conn {
    async fn open(cfg: &TrafficConfig, mysql: bool, account: &str) -> Result<Conn, TrafficError> {
        if mysql {
            let opts = mysql_async::OptsBuilder::default()
                .ip_or_hostname(cfg.mariadb.ip().to_string())
                .tcp_port(cfg.mariadb.port())
                .user(Some(account))
                .pass(Some(account))
                .db_name(Some(cfg.database.clone()))
                // Stay on this address: by default the driver asks a local server for its
                // `@@socket` and moves to it, around a firewall listening in front of it.
                .prefer_socket(false);
            mysql_async::Conn::new(opts)
                .await
                .map(Conn::My)
                .map_err(|e| TrafficError::Mariadb {
                    addr: cfg.mariadb,
                    user: account.into(),
                    error: e.to_string(),
                })
        } else {
            let mut pg = tokio_postgres::Config::new();
            pg.host(cfg.postgres.ip().to_string())
                .port(cfg.postgres.port())
                .user(account)
                .password(account)
                .dbname(&cfg.database)
                .application_name("tianmu-traffic");
            let (client, connection) =
                pg.connect(tokio_postgres::NoTls)
                    .await
                    .map_err(|e| TrafficError::Postgres {
                        addr: cfg.postgres,
                        user: account.into(),
                        error: e.to_string(),
                    })?;
            tokio::spawn(connection);
            Ok(Conn::Pg(client))
        }
    }

    /// Runs a statement and reads its whole result; false when it was refused or failed.
    async fn run(&mut self, sql: &str) -> bool {
        match self {
            Conn::Pg(c) => c.simple_query(sql).await.is_ok(),
            Conn::My(c) => {
                use mysql_async::prelude::Queryable;
                c.query_drop(sql).await.is_ok()
            }
        }
    }
}

/// Keys of the loaded data set.
struct Keys {
    id_cards: Vec<String>,
    usccs: Vec<String>,
    person_ids: u64,
}

impl Keys {
    fn of(d: &Dataset) -> Keys {
        Keys {
            id_cards: d.population.iter().map(|p| p.id_card.clone()).collect(),
            usccs: d.legal_person.iter().map(|l| l.uscc.clone()).collect(),
            person_ids: d.population.len() as u64,
        }
    }
}

fn pick<'a>(rng: &mut ChaCha8Rng, v: &'a [String]) -> &'a str {
    if v.is_empty() {
        ""
    } else {
        &v[rng.random_range(0..v.len())]
    }
}

/// The next action of `profile`: (account, over MariaDB?, SQL) or an API path.
enum Step {
    Sql {
        account: &'static str,
        mysql: bool,
        sql: String,
    },
    Api {
        key: &'static str,
        path: String,
    },
}

fn next_step(profile: Profile, rng: &mut ChaCha8Rng, k: &Keys, n: u64) -> Step {
    let sql = |account, mysql, sql: String| Step::Sql {
        account,
        mysql,
        sql,
    };
    match profile {
        Profile::Normal => match rng.random_range(0..100) {
            0..35 => sql("app_portal", false, format!("SELECT name, phone FROM population WHERE id_card = '{}'", pick(rng, &k.id_cards))),
            35..45 => sql("app_portal", false, format!("SELECT license_type, license_no, issue_date FROM license WHERE holder_id_card = '{}'", pick(rng, &k.id_cards))),
            45..48 => sql("app_portal", false, format!("UPDATE population SET phone = phone WHERE id = {}", rng.random_range(1..=k.person_ids.max(1)))),
            48..65 => sql("share_api", true, format!("SELECT uscc, name, legal_rep_name FROM legal_person WHERE uscc = '{}'", pick(rng, &k.usccs))),
            65..75 => sql("share_api", true, format!("SELECT record_type, record_date FROM credit_record WHERE uscc = '{}'", pick(rng, &k.usccs))),
            75..82 => sql("analyst_li", false, "SELECT district_code, count(*) FROM population GROUP BY district_code".into()),
            82..85 => sql("analyst_li", false, "SELECT l.name, count(c.id) FROM legal_person l JOIN credit_record c ON c.uscc = l.uscc GROUP BY l.name ORDER BY 2 DESC LIMIT 20".into()),
            85..93 => Step::Api { key: DEMO_APP_KEYS[rng.random_range(0..DEMO_APP_KEYS.len())], path: format!("/api/v1/legal-person/{}", pick(rng, &k.usccs)) },
            _ => Step::Api { key: DEMO_APP_KEYS[rng.random_range(0..DEMO_APP_KEYS.len())], path: format!("/api/v1/credit?uscc={}", pick(rng, &k.usccs)) },
        },
        Profile::BulkExfil => sql("analyst_li", false, format!("SELECT id, name, gender, district_code FROM population ORDER BY id LIMIT 1000 OFFSET {}", (n % 100) * 1000)),
        Profile::Sqli => {
            let id = pick(rng, &k.id_cards);
            let shapes = [
                format!("SELECT name, phone FROM population WHERE id_card = '{id}' OR '1'='1'"),
                format!("SELECT name, phone FROM population WHERE id_card = '{id}' UNION SELECT usename, passwd FROM pg_shadow"),
                format!("SELECT name, phone FROM population WHERE id_card = '{id}'; SELECT pg_sleep(2)"),
                format!("SELECT name, phone FROM population WHERE id_card = '{id}' AND 1=(SELECT 1 FROM pg_sleep(2))"),
                format!("SELECT name, phone FROM population WHERE id_card = '{id}' OR 2>1 --"),
            ];
            sql("app_portal", false, shapes[(n % shapes.len() as u64) as usize].clone())
        }
        Profile::VendorProd => {
            let probes = [
                "SELECT * FROM population LIMIT 10",
                "SELECT card_no, holder_id_card FROM bank_account LIMIT 10",
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
                "SELECT legal_rep_id_card FROM legal_person LIMIT 10",
            ];
            sql("vendor_dev", false, probes[(n % probes.len() as u64) as usize].into())
        }
        Profile::OffHours => sql("analyst_li", false, format!("SELECT name, address, phone FROM population WHERE id = {}", rng.random_range(1..=k.person_ids.max(1)))),
        Profile::ApiScrape => Step::Api { key: DEMO_APP_KEYS[1], path: format!("/api/v1/credit?uscc={}", k.usccs.get((n as usize) % k.usccs.len().max(1)).map_or("", String::as_str)) },
        Profile::Flowback => sql("share_api", true, format!("SELECT uscc, record_type, detail, record_date FROM credit_record ORDER BY id LIMIT 500 OFFSET {}", (n % 100) * 500)),
    }
}

/// Hands an action to the tap, if there is one.
async fn tell(
    tap: &Option<tokio::sync::mpsc::Sender<Done>>,
    profile: Profile,
    account: &str,
    channel: &'static str,
    text: String,
    ok: bool,
) {
    if let Some(tap) = tap {
        let done = Done {
            time: chrono::Utc::now(),
            profile,
            account: account.to_owned(),
            channel,
            text,
            ok,
        };
        let _ = tap.send(done).await;
    }
}

/// One HTTP/1.1 GET; true for 2xx and 404 (an unknown key value is a normal answer).
async fn get(api: SocketAddr, key: &str, path: &str) -> bool {
    let call = async {
        let mut s = tokio::net::TcpStream::connect(api).await?;
        let req = format!(
            "GET {path} HTTP/1.1\r\nhost: {api}\r\nx-app-key: {key}\r\nconnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await?;
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await?;
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await?;
        Ok::<_, std::io::Error>(head)
    };
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(Ok(head)) => head.starts_with(b"HTTP/1.1 2") || head.starts_with(b"HTTP/1.1 404"),
        _ => false,
    }
}

/// One action the simulator made, as a tap sees it (a drill records each one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Done {
    pub time: chrono::DateTime<chrono::Utc>,
    pub profile: Profile,
    /// The database account, or the app key of an API call.
    pub account: String,
    /// `postgres`, `mysql` or `http`.
    pub channel: &'static str,
    /// The SQL, or the API path.
    pub text: String,
    /// Served (false: refused or failed).
    pub ok: bool,
}

/// Runs `profile` at `cfg.rate` actions per second for `cfg.duration` (or until `cancel`).
pub async fn run(
    cfg: TrafficConfig,
    profile: Profile,
    cancel: CancellationToken,
) -> Result<Report, TrafficError> {
    run_tapped(cfg, profile, cancel, None).await
}

/// [`run`], handing every action made to `tap` as it is made (waiting while the tap is
/// full: a drill records every injected step; a tap that went away is ignored).
pub async fn run_tapped(
    cfg: TrafficConfig,
    profile: Profile,
    cancel: CancellationToken,
    tap: Option<tokio::sync::mpsc::Sender<Done>>,
) -> Result<Report, TrafficError> {
    let data = generate(cfg.seed, &Counts::default());
    let keys = Keys::of(&data);
    drop(data);
    let out = match &cfg.record {
        Some(p) => Some(Mutex::new(std::io::BufWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|error| TrafficError::Record {
                    path: p.display().to_string(),
                    error,
                })?,
        ))),
        None => None,
    };
    let rec = Arc::new(Recorder {
        out,
        report: Mutex::new(Report::default()),
    });
    let mut conns: std::collections::HashMap<(&'static str, bool), Conn> =
        std::collections::HashMap::new();
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ profile as u64);
    let interval = Duration::from_secs_f64(1.0 / cfg.rate.max(0.01));
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < cfg.duration && !cancel.is_cancelled() {
        match next_step(profile, &mut rng, &keys, n) {
            Step::Sql {
                account,
                mysql,
                sql,
            } => {
                let conn = match conns.entry((account, mysql)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(Conn::open(&cfg, mysql, account).await?)
                    }
                };
                let ok = conn.run(&sql).await;
                let channel = if mysql { "mysql" } else { "postgres" };
                rec.note(profile, account, channel, &sql, ok);
                tell(&tap, profile, account, channel, sql, ok).await;
            }
            Step::Api { key, path } => {
                if let Some(api) = cfg.api {
                    let ok = get(api, key, &path).await;
                    rec.note(profile, key, "http", &path, ok);
                    tell(&tap, profile, key, "http", path, ok).await;
                }
            }
        }
        n += 1;
        // Fixed pacing from the start, so a slow answer does not lower the rate.
        let due = started + interval.mul_f64(n as f64);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = cancel.cancelled() => break,
        }
    }
    if let Some(out) = &rec.out {
        let _ = out.lock().unwrap_or_else(|p| p.into_inner()).flush();
    }
    let report = rec.report.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(report)
}
