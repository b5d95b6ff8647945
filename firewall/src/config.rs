//! The `[firewall]` section of `tianmu.toml`: one entry per listener.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use analyzer::event::Protocol;
use rules::file::Problems;
use serde::Deserialize;

/// `[firewall]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FirewallRaw {
    /// The proxies to run, `[[firewall.listeners]]`.
    #[serde(default)]
    pub listeners: Vec<ListenerRaw>,
    /// Where `/metrics` is served (Prometheus text format); omitted: not served.
    pub metrics: Option<SocketAddr>,
    /// Client connections each listener accepts at once; beyond it new ones are refused
    /// (and counted).
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

fn default_max_connections() -> usize {
    1000
}

impl Default for FirewallRaw {
    fn default() -> Self {
        FirewallRaw {
            listeners: Vec::new(),
            metrics: None,
            max_connections: default_max_connections(),
        }
    }
}

/// What a listener does with a statement the policy engine cannot judge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    /// Refuse it (the default).
    #[default]
    Closed,
    /// Forward it and raise an alert.
    Open,
}

/// `[[firewall.listeners]]`: one inline proxy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ListenerRaw {
    /// Name in events, metrics and logs; unique.
    pub name: String,
    /// `postgres` or `mysql`.
    pub protocol: Protocol,
    /// Address clients connect to, `IP:PORT`.
    pub listen: SocketAddr,
    /// The database server, `HOST:PORT`.
    pub upstream: String,
    /// `closed` or `open`.
    #[serde(default)]
    pub fail_mode: FailMode,
    /// PEM certificate chain for TLS with clients; without it TLS requests are refused and
    /// clients continue in plain text or give up, as their settings say.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls-cert`.
    pub tls_key: Option<PathBuf>,
    /// MySQL: the account that stops a statement cut at a limit (`KILL QUERY`); it needs
    /// `mysql_native_password` (or no password) and `CONNECTION ADMIN` or `SUPER`. Without
    /// it a cut ends the client's connection instead.
    pub kill_user: Option<String>,
    /// Password of `kill-user` (empty: none).
    pub kill_password: Option<String>,
}

/// Validated listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    pub protocol: Protocol,
    pub listen: SocketAddr,
    pub upstream: (String, u16),
    pub fail_mode: FailMode,
    pub tls: Option<(PathBuf, PathBuf)>,
    /// MySQL's kill account: user and password.
    pub kill: Option<KillAccount>,
}

/// The MySQL account that stops statements cut at a limit.
#[derive(Clone, PartialEq, Eq)]
pub struct KillAccount {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for KillAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KillAccount")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Validated `[firewall]`.
#[derive(Debug, Clone, PartialEq)]
pub struct FirewallConfig {
    pub listeners: Vec<Listener>,
    pub metrics: Option<SocketAddr>,
    pub max_connections: usize,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            listeners: Vec::new(),
            metrics: None,
            max_connections: default_max_connections(),
        }
    }
}

/// Splits `host:port` (or `[v6]:port`); the host is not resolved here.
pub fn parse_host_port(s: &str) -> Result<(String, u16), String> {
    let expected = "expected HOST:PORT, e.g. 127.0.0.1:5432 or db.internal:3306";
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("`{s}` has no port; {expected}"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{s}` has no host; {expected}"));
    }
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("`{port}` is not a port number (1-65535); {expected}"))?;
    Ok((host.to_owned(), port))
}

impl FirewallRaw {
    /// `base` is the directory of the config file; relative paths are resolved against it.
    pub fn validate(self, key: &str, base: &Path, p: &mut Problems) -> FirewallConfig {
        let mut names = HashMap::new();
        let mut ports = HashMap::new();
        let mut listeners = Vec::new();
        for (i, l) in self.listeners.into_iter().enumerate() {
            let at = |field: &str| format!("{key}.listeners[{i}].{field}");
            if l.name.trim().is_empty() {
                p.add(at("name"), "must not be empty");
            } else if let Some(first) = names.insert(l.name.clone(), i) {
                p.add(
                    at("name"),
                    format!("`{}` is already the name of listeners[{first}]", l.name),
                );
            }
            if let Some(first) = ports.insert(l.listen, i) {
                p.add(
                    at("listen"),
                    format!("{} is already used by listeners[{first}]", l.listen),
                );
            }
            let upstream = parse_host_port(&l.upstream).unwrap_or_else(|e| {
                p.add(at("upstream"), e);
                (String::new(), 0)
            });
            if upstream.1 == l.listen.port()
                && (upstream.0 == l.listen.ip().to_string() || l.listen.ip().is_unspecified())
            {
                p.add(
                    at("upstream"),
                    "is the listener's own address; it must name the database server",
                );
            }
            let tls = match (l.tls_cert, l.tls_key) {
                (None, None) => None,
                (Some(cert), Some(key_file)) => {
                    let cert = base.join(cert);
                    let key_file = base.join(key_file);
                    for (field, path) in [("tls-cert", &cert), ("tls-key", &key_file)] {
                        if !path.is_file() {
                            p.add(
                                at(field),
                                format!("{} is not a readable file", path.display()),
                            );
                        }
                    }
                    Some((cert, key_file))
                }
                (Some(_), None) => {
                    p.add(at("tls-key"), "is missing; tls-cert needs its key");
                    None
                }
                (None, Some(_)) => {
                    p.add(at("tls-cert"), "is missing; tls-key needs its certificate");
                    None
                }
            };
            let kill = match (l.kill_user, l.kill_password) {
                (None, None) => None,
                (None, Some(_)) => {
                    p.add(at("kill-password"), "is set without kill-user");
                    None
                }
                (Some(user), _) if l.protocol != Protocol::Mysql => {
                    p.add(
                        at("kill-user"),
                        format!("applies to mysql listeners only, not {user:?} on this one"),
                    );
                    None
                }
                (Some(user), _) if user.is_empty() => {
                    p.add(at("kill-user"), "is empty; expected a MySQL account name");
                    None
                }
                (Some(user), password) => Some(KillAccount {
                    user,
                    password: password.unwrap_or_default(),
                }),
            };
            listeners.push(Listener {
                name: l.name,
                protocol: l.protocol,
                listen: l.listen,
                upstream,
                fail_mode: l.fail_mode,
                tls,
                kill,
            });
        }
        if self.max_connections == 0 {
            p.add(format!("{key}.max-connections"), "must be at least 1");
        }
        FirewallConfig {
            listeners,
            metrics: self.metrics,
            max_connections: self.max_connections,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        let table: &[(&str, Option<(&str, u16)>)] = &[
            ("127.0.0.1:5432", Some(("127.0.0.1", 5432))),
            ("db.internal:3306", Some(("db.internal", 3306))),
            ("[::1]:5432", Some(("::1", 5432))),
            ("localhost", None),
            (":5432", None),
            ("db:0", None),
            ("db:70000", None),
            ("db:pg", None),
        ];
        for (input, want) in table {
            let got = parse_host_port(input).ok();
            let want = want.map(|(h, p)| (h.to_owned(), p));
            assert_eq!(got, want, "{input}");
        }
    }

    #[test]
    fn kill_accounts_belong_to_mysql_listeners() {
        let raw: FirewallRaw = toml::from_str(
            r#"
            [[listeners]]
            name = "my"
            protocol = "mysql"
            listen = "127.0.0.1:3307"
            upstream = "127.0.0.1:3306"
            kill-user = "tianmu_kill"
            [[listeners]]
            name = "pg"
            protocol = "postgres"
            listen = "127.0.0.1:6432"
            upstream = "127.0.0.1:5432"
            kill-user = "root"
            [[listeners]]
            name = "my2"
            protocol = "mysql"
            listen = "127.0.0.1:3308"
            upstream = "127.0.0.1:3306"
            kill-password = "secret"
            "#,
        )
        .expect("parses");
        let mut p = Problems::default();
        let cfg = raw.validate("firewall", Path::new("."), &mut p);
        let kill = cfg.listeners[0]
            .kill
            .as_ref()
            .expect("the mysql listener's account");
        assert_eq!(
            (kill.user.as_str(), kill.password.as_str()),
            ("tianmu_kill", "")
        );
        assert!(
            !format!("{kill:?}").contains("password:"),
            "the password is never logged"
        );
        let problems: Vec<String> = p
            .into_vec()
            .into_iter()
            .map(|x| format!("{}: {}", x.key, x.message))
            .collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0]
                .starts_with("firewall.listeners[1].kill-user: applies to mysql listeners only"),
            "{problems:?}"
        );
        assert!(
            problems[1]
                .starts_with("firewall.listeners[2].kill-password: is set without kill-user"),
            "{problems:?}"
        );
    }
}
