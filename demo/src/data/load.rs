//! The loader: puts a [`Dataset`] into PostgreSQL and MariaDB through their own command-line
//! clients (`psql`, `mariadb`), creating the database, the tables, the demo accounts and
//! their grants on the way. A set-up step, so it is synchronous: one client process per
//! step, the script written to its stdin from a second thread while its output is read.
//!
//! A load replaces the data atomically and exactly, so re-running it with the same seed and
//! counts leaves the same data whatever happened in between (the demo's own writes included):
//!
//! - PostgreSQL: one transaction drops and re-creates the tables, `COPY … FROM STDIN` feeds
//!   them as CSV, builds the indexes and grants; readers see the old tables until `COMMIT`.
//! - MariaDB (DDL is not transactional): the rows go into `<table>__load` tables by batched
//!   multi-row `INSERT`s, then one `RENAME TABLE` swaps all six in at once.
//!
//! Both servers also get a `demo_meta` table holding the seed, the counts and the
//! [`Dataset::checksum`] of what was loaded; [`is_loaded`] reads it.
//!
//! Accounts (roles in PostgreSQL, users `'name'@'%'` and `'name'@'localhost'` in MariaDB) are
//! global to a server: they are created if missing and their password is (re)set, under a
//! server-wide lock so that concurrent loads do not race; they are never dropped. Grants are
//! per database and made exact on every load.

use std::collections::BTreeSet;
use std::fmt;
use std::io::{self, BufWriter, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tracing::info;

use super::{Column, ColumnType, Counts, Dataset, Table, Value};

/// A database server kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Server {
    /// PostgreSQL, loaded through `psql`.
    Postgres,
    /// MariaDB (or MySQL), loaded through `mariadb`.
    MariaDb,
}

impl Server {
    /// The command-line client the loader runs.
    pub fn client(self) -> &'static str {
        match self {
            Server::Postgres => "psql",
            Server::MariaDb => "mariadb",
        }
    }

    /// The Debian package that provides [`Server::client`].
    fn client_package(self) -> &'static str {
        match self {
            Server::Postgres => "postgresql-client",
            Server::MariaDb => "mariadb-client",
        }
    }

    /// How to start the server on a Debian host like the project's.
    fn start_hint(self) -> &'static str {
        match self {
            Server::Postgres => "pg_ctlcluster --skip-systemctl-redirect 15 main start",
            Server::MariaDb => {
                "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
            }
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Server::Postgres => "PostgreSQL",
            Server::MariaDb => "MariaDB",
        })
    }
}

/// Where a server listens and whom to connect as (an administrator: the loader creates
/// databases and accounts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address, connected to over TCP.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User to connect as.
    pub user: String,
    /// Password, passed in the environment (`PGPASSWORD`, `MYSQL_PWD`); `None` for none.
    pub password: Option<String>,
}

impl Endpoint {
    /// DEMO.md's PostgreSQL: `postgres` at 127.0.0.1:5432, trust authentication.
    pub fn postgres() -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "postgres".into(),
            password: None,
        }
    }

    /// DEMO.md's MariaDB: `root` at 127.0.0.1:3306 without a password.
    pub fn mariadb() -> Endpoint {
        Endpoint {
            host: "127.0.0.1".into(),
            port: 3306,
            user: "root".into(),
            password: None,
        }
    }

    /// `host:port`.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A database account of the demo and what it may do in the demo database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Role / user name.
    pub name: String,
    /// Login password.
    pub password: String,
    /// Tables it may `SELECT` from.
    pub read: Vec<Table>,
    /// Tables it may `INSERT`, `UPDATE` and `DELETE` in.
    pub write: Vec<Table>,
    /// Whether it has all privileges on the database (the DBA).
    pub admin: bool,
}

impl Account {
    fn new(name: &str, read: &[Table], write: &[Table], admin: bool) -> Account {
        Account {
            name: name.into(),
            password: name.into(),
            read: read.to_vec(),
            write: write.to_vec(),
            admin,
        }
    }

    /// DEMO.md's five accounts, each with its own name as password.
    pub fn demo() -> Vec<Account> {
        use Table::*;
        vec![
            Account::new(
                "app_portal",
                &[Population, License, OpenDataset],
                &[Population, License],
                false,
            ),
            Account::new(
                "share_api",
                &[LegalPerson, CreditRecord, OpenDataset],
                &[],
                false,
            ),
            Account::new(
                "analyst_li",
                &[Population, LegalPerson, CreditRecord, License, OpenDataset],
                &[],
                false,
            ),
            Account::new("vendor_dev", &[OpenDataset], &[], false),
            Account::new("dba_admin", &Table::ALL, &Table::ALL, true),
        ]
    }
}

/// Where to load: the database name, the servers and the accounts to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Database name in both servers (an identifier: letters, digits, `_`).
    pub database: String,
    /// The PostgreSQL server, `None` to skip it.
    pub postgres: Option<Endpoint>,
    /// The MariaDB server, `None` to skip it.
    pub mariadb: Option<Endpoint>,
    /// Accounts to create (if missing) and grant on the database.
    pub accounts: Vec<Account>,
    /// Hosts of the MariaDB accounts: `%` for TCP from anywhere, `localhost` for the socket.
    pub mariadb_account_hosts: Vec<String>,
}

impl Default for Target {
    /// DEMO.md: database `publicdata` in both local servers, the five demo accounts.
    fn default() -> Self {
        Target {
            database: "publicdata".into(),
            postgres: Some(Endpoint::postgres()),
            mariadb: Some(Endpoint::mariadb()),
            accounts: Account::demo(),
            mariadb_account_hosts: vec!["%".into(), "localhost".into()],
        }
    }
}

impl Target {
    /// The default target with another database name (tests use their own).
    pub fn with_database(database: impl Into<String>) -> Target {
        Target {
            database: database.into(),
            ..Target::default()
        }
    }

    fn endpoints(&self) -> impl Iterator<Item = (Server, &Endpoint)> {
        let pg = self.postgres.iter().map(|e| (Server::Postgres, e));
        pg.chain(self.mariadb.iter().map(|e| (Server::MariaDb, e)))
    }

    /// Checks the names that end up in SQL text.
    fn validate(&self) -> Result<(), LoadError> {
        identifier("database name", &self.database)?;
        for account in &self.accounts {
            identifier("account name", &account.name)?;
        }
        for host in &self.mariadb_account_hosts {
            let ok = !host.is_empty()
                && host.len() <= 255
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-_%:".contains(&b));
            if !ok {
                return Err(LoadError::InvalidName {
                    what: "MariaDB account host",
                    name: host.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Accepts `[A-Za-z_][A-Za-z0-9_]*` up to 63 bytes (PostgreSQL's identifier limit).
fn identifier(what: &'static str, name: &str) -> Result<(), LoadError> {
    let mut bytes = name.bytes();
    let ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 63;
    if ok {
        Ok(())
    } else {
        Err(LoadError::InvalidName {
            what,
            name: name.into(),
        })
    }
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// The database loaded.
    pub database: String,
    /// The data set's seed.
    pub seed: u64,
    /// The data set's counts.
    pub counts: Counts,
    /// The data set's [`Dataset::checksum`], also stored in `demo_meta`.
    pub checksum: String,
    /// One entry per server loaded.
    pub servers: Vec<ServerReport>,
    /// Wall time of the whole load.
    pub elapsed: Duration,
}

/// What a load did in one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerReport {
    /// Which server.
    pub server: Server,
    /// Its `host:port`.
    pub addr: String,
    /// Rows per table, counted back from the server after the load.
    pub rows: Vec<(Table, u64)>,
    /// Wall time of this server's load.
    pub elapsed: Duration,
}

/// Why a load (or a check or drop) failed. Each names the server and what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The client binary could not be started.
    #[error(
        "cannot run `{program}`, the {server} client: {source}; install it \
         (`apt-get install {package}`) or put it on PATH"
    )]
    ClientMissing {
        server: Server,
        program: &'static str,
        package: &'static str,
        source: io::Error,
    },
    /// The server did not answer.
    #[error("{server} at {addr} is unreachable ({detail}); start it with `{hint}`")]
    Unreachable {
        server: Server,
        addr: String,
        detail: String,
        hint: &'static str,
    },
    /// The server refused the login or the statement.
    #[error(
        "{server} at {addr} refused to {step} as `{user}` ({detail}); connect as an \
         administrator (PostgreSQL superuser, MariaDB root) or grant that user the privilege"
    )]
    PermissionDenied {
        server: Server,
        addr: String,
        user: String,
        step: &'static str,
        detail: String,
    },
    /// Any other failure of a step, with the client's message.
    #[error("{server} at {addr}: failed to {step}: {detail}")]
    Failed {
        server: Server,
        addr: String,
        step: &'static str,
        detail: String,
    },
    /// Talking to the client process failed.
    #[error("{server}: lost the `{program}` process while trying to {step}: {source}")]
    Io {
        server: Server,
        program: &'static str,
        step: &'static str,
        source: io::Error,
    },
    /// A name of the target cannot go into SQL safely.
    #[error("invalid {what} `{name}`: use letters, digits and `_`, starting with a letter")]
    InvalidName { what: &'static str, name: String },
}

/// Loads `dataset` into every server of `target`: creates the database if missing, replaces
/// the six tables (and `demo_meta`) with the data set's rows, creates the accounts if missing
/// and makes their grants on the database exactly those of [`Account`]. Servers are loaded
/// one after the other, PostgreSQL first; the first failure stops the load.
pub fn load(target: &Target, dataset: &Dataset) -> Result<LoadReport, LoadError> {
    target.validate()?;
    let started = Instant::now();
    let checksum = dataset.checksum();
    let mut servers = Vec::new();
    for (server, endpoint) in target.endpoints() {
        let server_started = Instant::now();
        let client = Client { server, endpoint };
        let rows = match server {
            Server::Postgres => postgres::load(&client, target, dataset, &checksum)?,
            Server::MariaDb => mariadb::load(&client, target, dataset, &checksum)?,
        };
        for (table, count) in &rows {
            let expected = dataset.len(*table) as u64;
            if *count != expected {
                return Err(client.failed(
                    "verify the loaded rows",
                    format!("{table} has {count} rows, expected {expected}"),
                ));
            }
        }
        let elapsed = server_started.elapsed();
        let addr = endpoint.addr();
        let database = &target.database;
        info!(%server, %addr, %database, ?elapsed, "Loaded the demo data.");
        servers.push(ServerReport {
            server,
            addr: endpoint.addr(),
            rows,
            elapsed,
        });
    }
    Ok(LoadReport {
        database: target.database.clone(),
        seed: dataset.seed,
        counts: dataset.counts,
        checksum,
        servers,
        elapsed: started.elapsed(),
    })
}

/// Whether every server of `target` holds, according to its `demo_meta`, the data set with
/// `dataset`'s seed, counts and checksum and tables of those row counts. Rows changed in place
/// since the load (the demo's portal writes) are not noticed: [`load`] restores them.
pub fn is_loaded(target: &Target, dataset: &Dataset) -> Result<bool, LoadError> {
    target.validate()?;
    let expected = format!("{}|{}|{}", dataset.seed, dataset.counts, dataset.checksum());
    for (server, endpoint) in target.endpoints() {
        let client = Client { server, endpoint };
        let loaded = match server {
            Server::Postgres => postgres::meta(&client, &target.database)?,
            Server::MariaDb => mariadb::meta(&client, &target.database)?,
        };
        let Some((meta, rows)) = loaded else {
            return Ok(false);
        };
        let counts_match = rows
            .iter()
            .all(|(table, n)| *n == dataset.len(*table) as u64);
        if meta != expected || !counts_match || rows.len() != Table::ALL.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Drops `target.database` from every server of `target` and, in MariaDB, the accounts'
/// grants on it (MariaDB keeps grants of dropped databases). Accounts stay. Missing
/// databases are fine.
pub fn drop_database(target: &Target) -> Result<(), LoadError> {
    target.validate()?;
    for (server, endpoint) in target.endpoints() {
        let client = Client { server, endpoint };
        match server {
            Server::Postgres => postgres::drop(&client, &target.database)?,
            Server::MariaDb => mariadb::drop(&client, target)?,
        }
    }
    Ok(())
}

/// One server's command-line client, run once per step.
struct Client<'a> {
    server: Server,
    endpoint: &'a Endpoint,
}

impl Client<'_> {
    fn command(&self, database: Option<&str>) -> Command {
        let e = self.endpoint;
        let mut cmd = Command::new(self.server.client());
        match self.server {
            Server::Postgres => {
                // -X: no ~/.psqlrc; -q -A -t: bare rows on stdout.
                cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                    .args(["-h", &e.host, "-p", &e.port.to_string(), "-U", &e.user])
                    .args(["-d", database.unwrap_or("postgres")])
                    .env("PGCONNECT_TIMEOUT", "10")
                    .env("PGAPPNAME", "tianmu-demo")
                    .env("PGCLIENTENCODING", "UTF8");
                if let Some(password) = &e.password {
                    cmd.env("PGPASSWORD", password);
                }
            }
            Server::MariaDb => {
                cmd.args(["--protocol=TCP", "-h", &e.host, "-P", &e.port.to_string()])
                    .args(["-u", &e.user, "--batch", "--skip-column-names"])
                    .args(["--default-character-set=utf8mb4", "--connect-timeout=10"]);
                if let Some(db) = database {
                    cmd.args(["-D", db]);
                }
                if let Some(password) = &e.password {
                    cmd.env("MYSQL_PWD", password);
                }
            }
        }
        cmd
    }

    /// Runs the client on `database` (the server's default when `None`) with the script
    /// `write` produces on its stdin; the client's stdout on success.
    fn run<F>(
        &self,
        database: Option<&str>,
        step: &'static str,
        write: F,
    ) -> Result<String, LoadError>
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()> + Send,
    {
        let mut child = self
            .command(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| self.spawn_error(step, source))?;
        let stdin = child.stdin.take().expect("stdin was configured as a pipe");
        let (written, output) = thread::scope(|scope| {
            let writer = scope.spawn(move || {
                let mut stdin = BufWriter::with_capacity(1 << 18, stdin);
                write(&mut stdin).and_then(|()| stdin.flush())
            });
            let output = child.wait_with_output();
            let written = writer
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (written, output)
        });
        let output = output.map_err(|source| self.io(step, source))?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(self.classify(step, stderr.trim()));
        }
        // A broken pipe means the client quit early, which its exit status reported above.
        if let Err(source) = written {
            return Err(self.io(step, source));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Runs a script and returns its output rows split into `|`/tab-separated fields.
    fn query(
        &self,
        database: Option<&str>,
        step: &'static str,
        sql: &str,
    ) -> Result<Vec<Vec<String>>, LoadError> {
        let out = self.run(database, step, |w| w.write_all(sql.as_bytes()))?;
        let sep = match self.server {
            Server::Postgres => '|',
            Server::MariaDb => '\t',
        };
        Ok(out
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(sep).map(str::to_owned).collect())
            .collect())
    }

    fn classify(&self, step: &'static str, stderr: &str) -> LoadError {
        const DENIED: &[&str] = &[
            "password authentication failed",
            "permission denied",
            "must be superuser",
            "must be owner",
            "no pg_hba.conf entry",
            "access denied",
            "command denied",
        ];
        const UNREACHABLE: &[&str] = &[
            "connection refused",
            "could not connect",
            "is the server running",
            "no route to host",
            "timeout expired",
            "could not translate host name",
            "can't connect to",
            "unknown mysql server host",
            "unknown server host",
            "lost connection",
            "server has gone away",
        ];
        let lower = stderr.to_lowercase();
        let detail = stderr.lines().take(6).collect::<Vec<_>>().join(" / ");
        let addr = self.endpoint.addr();
        if DENIED.iter().any(|p| lower.contains(p)) {
            LoadError::PermissionDenied {
                server: self.server,
                addr,
                user: self.endpoint.user.clone(),
                step,
                detail,
            }
        } else if UNREACHABLE.iter().any(|p| lower.contains(p)) {
            LoadError::Unreachable {
                server: self.server,
                addr,
                detail,
                hint: self.server.start_hint(),
            }
        } else {
            self.failed(step, detail)
        }
    }

    /// The client could not be started: missing (or not executable) is its own error.
    fn spawn_error(&self, step: &'static str, source: io::Error) -> LoadError {
        match source.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => LoadError::ClientMissing {
                server: self.server,
                program: self.server.client(),
                package: self.server.client_package(),
                source,
            },
            _ => self.io(step, source),
        }
    }

    fn failed(&self, step: &'static str, detail: String) -> LoadError {
        LoadError::Failed {
            server: self.server,
            addr: self.endpoint.addr(),
            step,
            detail,
        }
    }

    fn io(&self, step: &'static str, source: io::Error) -> LoadError {
        LoadError::Io {
            server: self.server,
            program: self.server.client(),
            step,
            source,
        }
    }
}

/// Parses `table|count` rows of a row-count query.
fn parse_counts(client: &Client<'_>, rows: &[Vec<String>]) -> Result<Vec<(Table, u64)>, LoadError> {
    rows.iter()
        .map(|row| match row.as_slice() {
            [name, count] => Table::from_name(name)
                .zip(count.trim().parse().ok())
                .ok_or_else(|| client.failed("count the loaded rows", format!("odd row {row:?}"))),
            _ => Err(client.failed("count the loaded rows", format!("odd row {row:?}"))),
        })
        .collect()
}

/// `SELECT 'population', count(*) FROM population UNION ALL …`, for both servers.
fn count_sql() -> String {
    let parts: Vec<_> = Table::ALL
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM {t}"))
        .collect();
    format!("{};\n", parts.join(" UNION ALL "))
}

/// A string literal for either server: quotes doubled; backslashes doubled when `backslash`
/// (MariaDB's default string syntax).
fn literal(s: &str, backslash: bool) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' if backslash => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The accounts' privileges on one table: `(account, privilege)` pairs, privileges upper-case.
fn table_privileges(accounts: &[Account], table: Table) -> BTreeSet<(&str, &'static str)> {
    let mut set = BTreeSet::new();
    for a in accounts.iter().filter(|a| !a.admin) {
        if a.read.contains(&table) {
            set.insert((a.name.as_str(), "SELECT"));
        }
        if a.write.contains(&table) {
            for p in ["INSERT", "UPDATE", "DELETE"] {
                set.insert((a.name.as_str(), p));
            }
        }
    }
    set
}

fn column_list(table: Table) -> String {
    let names: Vec<_> = table.columns().iter().map(|c| c.name).collect();
    names.join(", ")
}

mod postgres {
    //! PostgreSQL: `psql` scripts.

    use super::*;

    fn column_ddl(c: &Column) -> String {
        let ty = match c.ty {
            ColumnType::Id => "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY".into(),
            ColumnType::Key(n) => format!("varchar({n}) PRIMARY KEY"),
            ColumnType::Varchar(n) => format!("varchar({n}) NOT NULL"),
            ColumnType::Text => "text NOT NULL".into(),
            ColumnType::Date => "date NOT NULL".into(),
            ColumnType::Money => "numeric(18,2) NOT NULL".into(),
        };
        format!("{} {ty}", c.name)
    }

    pub(super) fn load(
        client: &Client<'_>,
        target: &Target,
        dataset: &Dataset,
        checksum: &str,
    ) -> Result<Vec<(Table, u64)>, LoadError> {
        let db = target.database.as_str();
        client.run(None, "create the database and the accounts", |w| {
            writeln!(
                w,
                "SELECT format('CREATE DATABASE %I TEMPLATE template0 ENCODING %L', {db}, 'UTF8') \
                 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {db}) \\gexec",
                db = literal(db, false)
            )?;
            // Roles are cluster-wide: the advisory lock (taken in the maintenance database)
            // keeps concurrent loads from racing on CREATE ROLE.
            writeln!(w, "BEGIN;")?;
            writeln!(
                w,
                "SELECT pg_advisory_xact_lock(hashtext('tianmu-demo-accounts'));"
            )?;
            for a in &target.accounts {
                let name = literal(&a.name, false);
                writeln!(
                    w,
                    "SELECT format('CREATE ROLE %I', {name}) \
                     WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {name}) \\gexec"
                )?;
                writeln!(
                    w,
                    "ALTER ROLE \"{}\" LOGIN PASSWORD {};",
                    a.name,
                    literal(&a.password, false)
                )?;
            }
            writeln!(w, "COMMIT;")
        })?;

        client.run(Some(db), "load the tables", |w| {
            writeln!(w, "SET client_min_messages = warning;")?;
            writeln!(w, "BEGIN;")?;
            let names: Vec<_> = Table::ALL.iter().map(|t| t.name()).collect();
            writeln!(w, "DROP TABLE IF EXISTS {}, demo_meta;", names.join(", "))?;
            for table in Table::ALL {
                let columns: Vec<_> = table.columns().iter().map(column_ddl).collect();
                writeln!(w, "CREATE TABLE {table} ({});", columns.join(", "))?;
                writeln!(
                    w,
                    "COPY {table} ({}) FROM STDIN WITH (FORMAT csv);",
                    column_list(table)
                )?;
                dataset.write_csv(table, w)?;
                writeln!(w, "\\.")?;
                for c in table.columns() {
                    if c.ty == ColumnType::Id {
                        writeln!(
                            w,
                            "SELECT setval(pg_get_serial_sequence('{table}', '{c}'), \
                             coalesce(max({c}), 0) + 1, false) FROM {table};",
                            c = c.name
                        )?;
                    }
                    if c.indexed {
                        writeln!(
                            w,
                            "CREATE INDEX {table}_{c}_idx ON {table} ({c});",
                            c = c.name
                        )?;
                    }
                }
            }
            writeln!(
                w,
                "CREATE TABLE demo_meta (seed numeric(20) NOT NULL, counts text NOT NULL, \
                 checksum char(64) NOT NULL, loaded_at timestamptz NOT NULL DEFAULT now());"
            )?;
            writeln!(
                w,
                "INSERT INTO demo_meta (seed, counts, checksum) VALUES ({}, {}, {});",
                dataset.seed,
                literal(&dataset.counts.to_string(), false),
                literal(checksum, false)
            )?;
            write_grants(w, target)?;
            writeln!(w, "COMMIT;")?;
            writeln!(w, "ANALYZE {};", names.join(", "))
        })?;

        let rows = client.query(Some(db), "count the loaded rows", &count_sql())?;
        parse_counts(client, &rows)
    }

    /// Table grants die with the dropped tables, so granting is enough to make them exact.
    fn write_grants(w: &mut dyn Write, target: &Target) -> io::Result<()> {
        let db = &target.database;
        for a in &target.accounts {
            let who = format!("\"{}\"", a.name);
            writeln!(w, "GRANT CONNECT ON DATABASE \"{db}\" TO {who};")?;
            writeln!(w, "GRANT USAGE ON SCHEMA public TO {who};")?;
            if a.admin {
                writeln!(w, "GRANT ALL PRIVILEGES ON DATABASE \"{db}\" TO {who};")?;
                writeln!(w, "GRANT ALL ON SCHEMA public TO {who};")?;
                writeln!(w, "GRANT ALL ON ALL TABLES IN SCHEMA public TO {who};")?;
                writeln!(w, "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {who};")?;
            }
        }
        for table in Table::ALL {
            for (account, privilege) in table_privileges(&target.accounts, table) {
                writeln!(w, "GRANT {privilege} ON {table} TO \"{account}\";")?;
                if privilege == "INSERT" && table.columns().iter().any(|c| c.ty == ColumnType::Id) {
                    // Inserted rows take their id from the identity sequence.
                    writeln!(
                        w,
                        "GRANT USAGE ON SEQUENCE {table}_id_seq TO \"{account}\";"
                    )?;
                }
            }
        }
        Ok(())
    }

    pub(super) type Meta = Option<(String, Vec<(Table, u64)>)>;

    pub(super) fn meta(client: &Client<'_>, db: &str) -> Result<Meta, LoadError> {
        let exists = client.query(
            None,
            "look for the demo database",
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = {};\n",
                literal(db, false)
            ),
        )?;
        if exists.is_empty() {
            return Ok(None);
        }
        let tables = client.query(
            Some(db),
            "look for the demo tables",
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('demo_meta', 'population', 'legal_person', 'credit_record', \
             'license', 'bank_account', 'open_dataset');\n",
        )?;
        if tables.first().and_then(|r| r.first()).map(String::as_str) != Some("7") {
            return Ok(None);
        }
        let meta = client.query(
            Some(db),
            "read demo_meta",
            "SELECT seed || '|' || counts || '|' || checksum FROM demo_meta;\n",
        )?;
        let [row] = meta.as_slice() else {
            return Ok(None);
        };
        let rows = client.query(Some(db), "count the loaded rows", &count_sql())?;
        Ok(Some((row.join("|"), parse_counts(client, &rows)?)))
    }

    pub(super) fn drop(client: &Client<'_>, db: &str) -> Result<(), LoadError> {
        client.run(None, "drop the database", |w| {
            writeln!(w, "DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE);")
        })?;
        Ok(())
    }
}

mod mariadb {
    //! MariaDB: `mariadb` scripts.

    use super::*;

    /// Rows per multi-row `INSERT` (about 150 KB, far below `max_allowed_packet`).
    const BATCH: usize = 1_000;

    const SESSION: &str = "SET NAMES utf8mb4;\n\
        SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION';\n\
        SET SESSION unique_checks = 0;\n";

    fn column_ddl(c: &Column) -> String {
        let ty = match c.ty {
            ColumnType::Id => "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY".into(),
            ColumnType::Key(n) => format!("VARCHAR({n}) NOT NULL PRIMARY KEY"),
            ColumnType::Varchar(n) => format!("VARCHAR({n}) NOT NULL"),
            ColumnType::Text => "TEXT NOT NULL".into(),
            ColumnType::Date => "DATE NOT NULL".into(),
            ColumnType::Money => "DECIMAL(18,2) NOT NULL".into(),
        };
        format!("`{}` {ty}", c.name)
    }

    fn table_ddl(name: &str, table: Table) -> String {
        let mut parts: Vec<_> = table.columns().iter().map(column_ddl).collect();
        for c in table.columns().iter().filter(|c| c.indexed) {
            parts.push(format!("KEY `{c}_idx` (`{c}`)", c = c.name));
        }
        format!(
            "CREATE TABLE `{name}` ({}) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 \
             COLLATE=utf8mb4_unicode_ci;",
            parts.join(", ")
        )
    }

    fn write_value(w: &mut dyn Write, v: Value<'_>) -> io::Result<()> {
        match v {
            Value::Str(s) => w.write_all(literal(s, true).as_bytes()),
            Value::Date(d) => write!(w, "'{d}'"),
            v => write!(w, "{v}"),
        }
    }

    fn write_inserts(
        w: &mut dyn Write,
        name: &str,
        dataset: &Dataset,
        table: Table,
    ) -> io::Result<()> {
        let mut rows = dataset.rows(table).peekable();
        writeln!(w, "START TRANSACTION;")?;
        while rows.peek().is_some() {
            write!(w, "INSERT INTO `{name}` ({}) VALUES ", column_list(table))?;
            for (i, row) in rows.by_ref().take(BATCH).enumerate() {
                w.write_all(if i == 0 { b"(" } else { b",\n(" })?;
                for (j, v) in row.into_iter().enumerate() {
                    if j > 0 {
                        w.write_all(b",")?;
                    }
                    write_value(w, v)?;
                }
                w.write_all(b")")?;
            }
            writeln!(w, ";")?;
        }
        writeln!(w, "COMMIT;")
    }

    fn setup_accounts(client: &Client<'_>, target: &Target) -> Result<(), LoadError> {
        let db = &target.database;
        client.run(None, "create the database and the accounts", |w| {
            writeln!(
                w,
                "CREATE DATABASE IF NOT EXISTS `{db}` CHARACTER SET utf8mb4 \
                 COLLATE utf8mb4_unicode_ci;"
            )?;
            // Users are server-wide: a named lock keeps concurrent loads from racing.
            writeln!(w, "DO GET_LOCK('tianmu-demo-accounts', 60);")?;
            for a in &target.accounts {
                for host in &target.mariadb_account_hosts {
                    let user = format!("'{}'@'{host}'", a.name);
                    let password = literal(&a.password, true);
                    writeln!(
                        w,
                        "CREATE USER IF NOT EXISTS {user} IDENTIFIED BY {password};"
                    )?;
                    writeln!(w, "ALTER USER {user} IDENTIFIED BY {password};")?;
                }
            }
            writeln!(w, "DO RELEASE_LOCK('tianmu-demo-accounts');")
        })?;
        Ok(())
    }

    pub(super) fn load(
        client: &Client<'_>,
        target: &Target,
        dataset: &Dataset,
        checksum: &str,
    ) -> Result<Vec<(Table, u64)>, LoadError> {
        let db = target.database.as_str();
        setup_accounts(client, target)?;
        client.run(Some(db), "load the tables", |w| {
            w.write_all(SESSION.as_bytes())?;
            for table in Table::ALL {
                let staging = format!("{table}__load");
                writeln!(w, "DROP TABLE IF EXISTS `{staging}`, `{table}__old`;")?;
                writeln!(w, "{}", table_ddl(&staging, table))?;
                write_inserts(w, &staging, dataset, table)?;
                // So that the swap below finds a table to move away on a first load.
                writeln!(w, "CREATE TABLE IF NOT EXISTS `{table}` LIKE `{staging}`;")?;
            }
            writeln!(
                w,
                "DROP TABLE IF EXISTS `demo_meta__load`, `demo_meta__old`;"
            )?;
            writeln!(
                w,
                "CREATE TABLE `demo_meta__load` (seed DECIMAL(20) NOT NULL, counts TEXT NOT NULL, \
                 checksum CHAR(64) NOT NULL, loaded_at TIMESTAMP NOT NULL DEFAULT \
                 CURRENT_TIMESTAMP) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;"
            )?;
            writeln!(
                w,
                "INSERT INTO `demo_meta__load` (seed, counts, checksum) VALUES ({}, {}, {});",
                dataset.seed,
                literal(&dataset.counts.to_string(), true),
                literal(checksum, true)
            )?;
            writeln!(
                w,
                "CREATE TABLE IF NOT EXISTS `demo_meta` LIKE `demo_meta__load`;"
            )?;
            // One RENAME TABLE swaps every table at once, atomically.
            let all: Vec<_> = Table::ALL
                .iter()
                .map(|t| t.name())
                .chain(["demo_meta"])
                .collect();
            let swaps: Vec<_> = all
                .iter()
                .map(|t| format!("`{t}` TO `{t}__old`, `{t}__load` TO `{t}`"))
                .collect();
            writeln!(w, "RENAME TABLE {};", swaps.join(", "))?;
            let old: Vec<_> = all.iter().map(|t| format!("`{t}__old`")).collect();
            writeln!(w, "DROP TABLE {};", old.join(", "))?;
            writeln!(w, "ANALYZE TABLE {};", all.join(", "))
        })?;
        grant(client, target, false)?;
        let rows = client.query(Some(db), "count the loaded rows", &count_sql())?;
        parse_counts(client, &rows)
    }

    /// Makes the accounts' privileges on the database exactly those of [`Account`] (none at
    /// all when `revoke_only`): MariaDB keeps table grants across drops and renames, so
    /// privileges that are no longer wanted are revoked, as read from information_schema.
    fn grant(client: &Client<'_>, target: &Target, revoke_only: bool) -> Result<(), LoadError> {
        let db = target.database.as_str();
        let names: BTreeSet<&str> = target.accounts.iter().map(|a| a.name.as_str()).collect();
        let hosts: BTreeSet<&str> = target
            .mariadb_account_hosts
            .iter()
            .map(String::as_str)
            .collect();
        let ours = |grantee: &str| -> Option<(String, String)> {
            // information_schema writes grantees as 'user'@'host'.
            let (user, host) = grantee.split_once("'@'")?;
            let (user, host) = (user.strip_prefix('\'')?, host.strip_suffix('\'')?);
            (names.contains(user) && hosts.contains(host)).then(|| (user.into(), host.into()))
        };
        let lit = literal(db, true);
        let existing_tables = client.query(
            None,
            "read the accounts' grants",
            &format!(
                "SELECT GRANTEE, TABLE_NAME, PRIVILEGE_TYPE \
                 FROM information_schema.TABLE_PRIVILEGES WHERE TABLE_SCHEMA = {lit};\n"
            ),
        )?;
        let existing_db = client.query(
            None,
            "read the accounts' grants",
            &format!(
                "SELECT DISTINCT GRANTEE FROM information_schema.SCHEMA_PRIVILEGES \
                 WHERE TABLE_SCHEMA = {lit};\n"
            ),
        )?;
        let mut wanted = BTreeSet::new();
        if !revoke_only {
            for table in Table::ALL {
                for (account, privilege) in table_privileges(&target.accounts, table) {
                    for host in &hosts {
                        wanted.insert((
                            account.to_owned(),
                            host.to_string(),
                            table.name(),
                            privilege,
                        ));
                    }
                }
            }
        }
        let mut script = String::new();
        for row in &existing_tables {
            let [grantee, table, privilege] = row.as_slice() else {
                continue;
            };
            let Some((user, host)) = ours(grantee) else {
                continue;
            };
            let keep = Table::from_name(table).is_some_and(|t| {
                wanted.contains(&(
                    user.clone(),
                    host.clone(),
                    t.name(),
                    privilege_name(privilege),
                ))
            });
            if !keep {
                script.push_str(&format!(
                    "REVOKE {privilege} ON `{db}`.`{table}` FROM '{user}'@'{host}';\n"
                ));
            }
        }
        let admins: BTreeSet<&str> = target
            .accounts
            .iter()
            .filter(|a| a.admin && !revoke_only)
            .map(|a| a.name.as_str())
            .collect();
        for row in &existing_db {
            let Some((user, host)) = row.first().and_then(|g| ours(g)) else {
                continue;
            };
            if !admins.contains(user.as_str()) {
                script.push_str(&format!(
                    "REVOKE ALL PRIVILEGES ON `{db}`.* FROM '{user}'@'{host}';\n"
                ));
            }
        }
        for (user, host, table, privilege) in &wanted {
            script.push_str(&format!(
                "GRANT {privilege} ON `{db}`.`{table}` TO '{user}'@'{host}';\n"
            ));
        }
        for admin in &admins {
            for host in &hosts {
                script.push_str(&format!(
                    "GRANT ALL PRIVILEGES ON `{db}`.* TO '{admin}'@'{host}';\n"
                ));
            }
        }
        if !script.is_empty() {
            client.run(None, "grant the accounts their privileges", |w| {
                w.write_all(script.as_bytes())
            })?;
        }
        Ok(())
    }

    /// The privilege as [`table_privileges`] spells it, `""` for others.
    fn privilege_name(p: &str) -> &'static str {
        ["SELECT", "INSERT", "UPDATE", "DELETE"]
            .into_iter()
            .find(|known| known.eq_ignore_ascii_case(p))
            .unwrap_or("")
    }

    pub(super) fn meta(client: &Client<'_>, db: &str) -> Result<super::postgres::Meta, LoadError> {
        let lit = literal(db, true);
        let tables = client.query(
            None,
            "look for the demo tables",
            &format!(
                "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {lit} \
                 AND TABLE_NAME IN ('demo_meta', 'population', 'legal_person', \
                 'credit_record', 'license', 'bank_account', 'open_dataset');\n"
            ),
        )?;
        if tables.first().and_then(|r| r.first()).map(String::as_str) != Some("7") {
            return Ok(None);
        }
        let meta = client.query(
            Some(db),
            "read demo_meta",
            "SELECT CONCAT(seed, '|', counts, '|', checksum) FROM demo_meta;\n",
        )?;
        let [row] = meta.as_slice() else {
            return Ok(None);
        };
        let rows = client.query(Some(db), "count the loaded rows", &count_sql())?;
        Ok(Some((row.join("\t"), parse_counts(client, &rows)?)))
    }

    pub(super) fn drop(client: &Client<'_>, target: &Target) -> Result<(), LoadError> {
        grant(client, target, true)?;
        let db = &target.database;
        client.run(None, "drop the database", |w| {
            writeln!(w, "DROP DATABASE IF EXISTS `{db}`;")
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(literal("it's", false), "'it''s'");
        assert_eq!(literal(r"a\b", false), r"'a\b'");
        assert_eq!(literal(r"a\'b", true), r"'a\\''b'");
    }

    #[test]
    fn names_are_checked() {
        assert!(Target::default().validate().is_ok());
        for bad in ["", "1db", "pub-data", "a;drop", "\"x\"", &"a".repeat(64)] {
            let target = Target::with_database(bad);
            assert!(
                matches!(target.validate(), Err(LoadError::InvalidName { .. })),
                "{bad}"
            );
        }
        let mut target = Target::default();
        target.mariadb_account_hosts.push("a'b".into());
        assert!(target.validate().is_err());
    }

    #[test]
    fn demo_accounts_follow_demo_md() {
        let accounts = Account::demo();
        let names: Vec<_> = accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "app_portal",
                "share_api",
                "analyst_li",
                "vendor_dev",
                "dba_admin"
            ]
        );
        let bank = table_privileges(&accounts, Table::BankAccount);
        assert!(bank.is_empty(), "{bank:?}");
        let population = table_privileges(&accounts, Table::Population);
        assert!(population.contains(&("app_portal", "DELETE")));
        assert!(population.contains(&("analyst_li", "SELECT")));
        assert!(!population.contains(&("analyst_li", "UPDATE")));
        assert!(!population.contains(&("share_api", "SELECT")));
        let open = table_privileges(&accounts, Table::OpenDataset);
        assert_eq!(open.len(), 4, "{open:?}");
    }

    #[test]
    fn errors_name_the_server_and_the_remedy() {
        let endpoint = Endpoint::postgres();
        let client = Client {
            server: Server::Postgres,
            endpoint: &endpoint,
        };
        let refused = client.classify(
            "load the tables",
            "psql: error: connection to server at \"127.0.0.1\", port 5432 failed: Connection \
             refused\n\tIs the server running on that host and accepting TCP/IP connections?",
        );
        let text = refused.to_string();
        assert!(matches!(refused, LoadError::Unreachable { .. }), "{text}");
        assert!(text.contains("PostgreSQL at 127.0.0.1:5432") && text.contains("pg_ctlcluster"));
        let denied = client.classify("load the tables", "ERROR:  permission denied for table x");
        assert!(
            matches!(denied, LoadError::PermissionDenied { .. }),
            "{denied}"
        );
        let endpoint = Endpoint::mariadb();
        let client = Client {
            server: Server::MariaDb,
            endpoint: &endpoint,
        };
        let gone = client.classify(
            "load the tables",
            "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)",
        );
        assert!(gone.to_string().contains("mariadbd"), "{gone}");
        let denied = client.classify(
            "load the tables",
            "ERROR 1045 (28000): Access denied for user 'x'@'127.0.0.1' (using password: YES)",
        );
        assert!(
            matches!(denied, LoadError::PermissionDenied { .. }),
            "{denied}"
        );
    }

    #[test]
    fn a_missing_client_is_reported_as_such() {
        let endpoint = Endpoint::mariadb();
        let client = Client {
            server: Server::MariaDb,
            endpoint: &endpoint,
        };
        let source = Command::new("/nonexistent/mariadb")
            .spawn()
            .expect_err("no such program");
        let err = client.spawn_error("load the tables", source);
        assert!(matches!(err, LoadError::ClientMissing { .. }), "{err}");
        let text = err.to_string();
        assert!(
            text.contains("`mariadb`, the MariaDB client")
                && text.contains("apt-get install mariadb-client"),
            "{text}"
        );
    }
}
