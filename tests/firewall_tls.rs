//! TLS with clients at the PostgreSQL and MySQL firewalls, end to end: `tianmu firewall -c`
//! with a listener's `tls-cert`/`tls-key` (a self-signed certificate made by the openssl
//! command for each test), real clients (psql, psycopg, the mariadb CLI, raw sockets)
//! through it, and the policy still holding inside TLS. The connection to the server stays
//! plain.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::firewall::{Firewall, demo_data};
use common::{Running, Scratch, free_port, require_clickhouse, wait_until};

/// A self-signed certificate for `localhost` and 127.0.0.1, and its key, in `dir`.
fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let out = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the openssl command runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// What the listener's TLS is configured with.
enum Tls {
    None,
    /// A fresh self-signed certificate.
    SelfSigned,
    /// A certificate file holding `text`, with a real key.
    BrokenCert(&'static str),
}

/// `tianmu firewall -c` with one PostgreSQL listener in front of 127.0.0.1:5432 and
/// `/metrics` served.
struct Proxy {
    port: u16,
    metrics: u16,
    cert: Option<PathBuf>,
    scratch: Scratch,
    running: Option<Running>,
}

impl Proxy {
    fn configure(name: &str, tls: Tls) -> Proxy {
        demo_data();
        let url = require_clickhouse();
        let scratch = Scratch::new(name, &url, "");
        let (port, metrics) = (free_port(), free_port());
        let (cert, tls_lines) = match tls {
            Tls::None => (None, String::new()),
            Tls::SelfSigned => {
                let (cert, _) = self_signed(scratch.dir.path());
                let lines = "tls-cert = \"server.crt\"\ntls-key = \"server.key\"\n";
                (Some(cert), lines.to_owned())
            }
            Tls::BrokenCert(text) => {
                self_signed(scratch.dir.path());
                std::fs::write(scratch.dir.path().join("broken.crt"), text).expect("write");
                let lines = "tls-cert = \"broken.crt\"\ntls-key = \"server.key\"\n";
                (None, lines.to_owned())
            }
        };
        let listener = format!(
            "\n[firewall]\nmetrics = \"127.0.0.1:{metrics}\"\n\n[[firewall.listeners]]\n\
             name = \"pg-tls\"\nprotocol = \"postgres\"\nlisten = \"127.0.0.1:{port}\"\n\
             upstream = \"127.0.0.1:5432\"\n{tls_lines}"
        );
        let mut config = std::fs::read_to_string(scratch.config()).expect("read config");
        config.push_str(&listener);
        std::fs::write(scratch.config(), config).expect("write config");
        Proxy {
            port,
            metrics,
            cert,
            scratch,
            running: None,
        }
    }

    fn command(&self) -> Command {
        let policy = common::repo_root().join("deploy/demo/policy.toml");
        let mut cmd = self.scratch.command(&["firewall"]);
        cmd.arg("--policy").arg(policy);
        cmd
    }

    fn start(name: &str, tls: Tls) -> Proxy {
        let mut p = Proxy::configure(name, tls);
        p.running = Some(Running::spawn(p.command()));
        let port = p.port;
        wait_until("the firewall listens", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        p
    }

    /// psql through the proxy with `conninfo` added to the connection string, as `user`
    /// (password = user name, as in the demo); `-c` for each command.
    fn psql(&self, conninfo: &str, user: &str, commands: &[&str]) -> (bool, String, String) {
        let mut c = Command::new("psql");
        c.args(["-X", "-A", "-t", "-v", "VERBOSITY=verbose"])
            .arg(format!(
                "host=127.0.0.1 port={} user={user} dbname=publicdata {conninfo}",
                self.port
            ))
            .env("PGPASSWORD", user)
            .env("PGCONNECT_TIMEOUT", "10");
        for sql in commands {
            c.args(["-c", sql]);
        }
        let out = c.output().expect("psql runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        )
    }

    /// The value of a `/metrics` line starting with `series`.
    fn metric(&self, series: &str) -> String {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{}/metrics", self.metrics))
            .output()
            .expect("curl runs");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .find_map(|l| l.strip_prefix(series))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {series} in /metrics:\n{text}"))
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(r) = &mut self.running {
            let _ = r.child.kill();
            let _ = r.child.wait();
        }
    }
}

#[test]
fn psql_and_psycopg_use_tls_through_the_proxy_and_the_server_sees_plain() {
    let p = Proxy::start("fw_tls_clients", Tls::SelfSigned);
    let cert = p.cert.clone().expect("a certificate");

    // The client side is TLS; the server's side of the connection is plain.
    let (ok, out, err) = p.psql(
        "sslmode=require",
        "dba_admin",
        &[
            "\\conninfo",
            "SELECT 'server sees ssl=' || ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("SSL connection (protocol: TLSv1."), "{out}");
    assert!(out.contains("server sees ssl=false"), "{out}");

    // verify-full: the certificate is checked against the root given and the host name.
    let (ok, out, err) = p.psql(
        &format!("sslmode=verify-full sslrootcert={}", cert.display()),
        "dba_admin",
        &["SELECT 40 + 2"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "42");
    let localhost = Command::new("psql")
        .args(["-X", "-A", "-t", "-c", "SELECT 'by name'"])
        .arg(format!(
            "host=localhost hostaddr=127.0.0.1 port={} user=dba_admin dbname=publicdata \
             sslmode=verify-full sslrootcert={}",
            p.port,
            cert.display()
        ))
        .env("PGPASSWORD", "dba_admin")
        .output()
        .expect("psql runs");
    assert!(
        localhost.status.success(),
        "{}",
        String::from_utf8_lossy(&localhost.stderr)
    );
    // A root that did not sign it is refused by the client.
    let (ok, _, err) = p.psql(
        "sslmode=verify-full sslrootcert=/etc/ssl/certs/ca-certificates.crt",
        "dba_admin",
        &["SELECT 1"],
    );
    assert!(!ok);
    assert!(err.contains("certificate verify failed"), "{err}");

    // psycopg (libpq again, but through its own connection object) with prepared statements.
    let script = format!(
        "import psycopg\n\
         with psycopg.connect('host=127.0.0.1 port={} user=app_portal password=app_portal \
         dbname=publicdata sslmode=verify-ca sslrootcert={}') as c:\n    \
             print('ssl', c.pgconn.ssl_in_use)\n    \
             print('rows', c.execute('SELECT id FROM population WHERE id = %s', (1,), prepare=True).fetchall())\n",
        p.port,
        cert.display()
    );
    let python = std::env::var("TIANMU_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args(["-c", &script])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psycopg through the TLS proxy (psycopg 3 comes with deploy/install.sh):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ssl True"), "{stdout}");
    assert!(stdout.contains("rows [(1,)]"), "{stdout}");
    // The client that refused the certificate ended its handshake with an alert.
    wait_until(
        "the failed handshake is counted",
        Duration::from_secs(5),
        || p.metric("tianmu_firewall_tls_handshakes_failed_total{listener=\"pg-tls\"}") == "1",
    );
}

#[test]
fn the_policy_holds_inside_tls() {
    let p = Proxy::start("fw_tls_policy", Tls::SelfSigned);
    // Masking: the portal (clearance 3) sees ID-card numbers masked.
    let (ok, out, err) = p.psql(
        "sslmode=require",
        "app_portal",
        &["SELECT id_card FROM population WHERE id = 1"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.len(), 18, "{out}");
    assert_eq!(&out[6..14], "********", "{out}");
    // Blocking: 42501 naming the rule, and the session goes on.
    let (ok, out, err) = p.psql(
        "sslmode=require",
        "app_portal",
        &["SELECT * FROM bank_account"],
    );
    assert!(!ok, "{out}");
    assert!(err.contains("42501"), "{err}");
    assert!(err.contains("blocked by the data firewall (rule "), "{err}");
    let (_, out, err) = p.psql(
        "sslmode=require",
        "app_portal",
        &["SELECT * FROM bank_account", "SELECT 'still here'"],
    );
    assert!(err.contains("42501"), "{err}");
    assert_eq!(out, "still here");
}

#[test]
fn plaintext_sent_before_the_tls_answer_is_refused() {
    let p = Proxy::start("fw_tls_inject", Tls::SelfSigned);
    // An SSLRequest and, in the same write, a StartupMessage in plain text: a man in the
    // middle's injection (CVE-2021-23214).
    let mut bytes = vec![0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
    let body = b"\x00\x03\x00\x00user\x00dba_admin\x00database\x00publicdata\x00\x00";
    bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    bytes.extend_from_slice(body);
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&bytes).expect("write");
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("08P01") && text.contains("unencrypted data after SSL request"),
        "{text}"
    );
    assert_eq!(
        p.metric("tianmu_firewall_tls_handshakes_failed_total{listener=\"pg-tls\"}"),
        "1"
    );
    // A client that says 'S' is coming and then sends no TLS is also counted.
    let mut s = TcpStream::connect(("127.0.0.1", p.port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&bytes[..8]).expect("write");
    let mut one = [0u8; 1];
    s.read_exact(&mut one).expect("answer");
    assert_eq!(&one, b"S");
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    let _ = s.read_to_end(&mut answer);
    wait_until(
        "the failed handshake is counted",
        Duration::from_secs(5),
        || p.metric("tianmu_firewall_tls_handshakes_failed_total{listener=\"pg-tls\"}") == "2",
    );
    // Clients that do it right still get through.
    let (ok, out, err) = p.psql("sslmode=require", "dba_admin", &["SELECT 7"]);
    assert!(ok, "{err}");
    assert_eq!(out, "7");
}

#[test]
fn without_a_certificate_ssl_is_refused_as_before() {
    let p = Proxy::start("fw_tls_none", Tls::None);
    let (ok, _, err) = p.psql("sslmode=require", "dba_admin", &["SELECT 1"]);
    assert!(!ok);
    assert!(
        err.contains("server does not support SSL, but SSL was required"),
        "{err}"
    );
    let (ok, out, err) = p.psql("sslmode=prefer", "dba_admin", &["\\conninfo", "SELECT 5"]);
    assert!(ok, "{err}");
    assert!(!out.contains("SSL connection"), "{out}");
    assert!(out.ends_with('5'), "{out}");
}

#[test]
fn a_broken_certificate_stops_the_start_naming_the_key() {
    for (text, words) in [
        ("not a certificate\n", "has no certificate"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n", "is not valid PEM"),
    ] {
        let p = Proxy::configure("fw_tls_broken", Tls::BrokenCert(text));
        let running = Running::spawn(p.command());
        let (status, _, stderr) = running.finish(Duration::from_secs(20));
        assert!(!status.success(), "started with a broken certificate");
        assert!(
            stderr.contains("listener `pg-tls` cannot use its TLS certificate"),
            "{stderr}"
        );
        assert!(stderr.contains("broken.crt"), "{stderr}");
        assert!(stderr.contains(words), "{stderr}");
        assert!(
            stderr.contains("`firewall.listeners[0].tls-cert`"),
            "{stderr}"
        );
        assert!(
            TcpStream::connect(("127.0.0.1", p.port)).is_err(),
            "nothing listens"
        );
    }
}

/// The mariadb CLI through a MySQL listener with a certificate: `--ssl` with the
/// certificate as CA negotiates TLS (the client's `status` names the cipher), the policy's
/// masks and blocks hold inside it, and a client that does not ask for TLS goes on in plain
/// text.
#[test]
fn mysql_clients_get_tls_when_the_listener_has_a_certificate() {
    let certs = tempfile::tempdir().expect("temp dir");
    let (cert, key) = self_signed(certs.path());
    let fw = Firewall::start_with("fwt_mysql", |port| {
        let config = format!(
            "\n[[firewall.listeners]]\nname = \"my-tls\"\nprotocol = \"mysql\"\n\
             listen = \"127.0.0.1:{port}\"\nupstream = \"127.0.0.1:3306\"\n\
             tls-cert = \"{}\"\ntls-key = \"{}\"\n",
            cert.display(),
            key.display()
        );
        (config, vec!["firewall".to_owned()])
    });
    let mariadb = |tls: &[&str], user: &str, sql: &str| {
        let out = Command::new("mariadb")
            .args(["-h", "127.0.0.1", "-P", &fw.port.to_string(), "-u", user])
            .arg(format!("-p{user}"))
            .args(tls)
            .args(["--connect-timeout=10", "-N", "-B", "publicdata", "-e", sql])
            .output()
            .expect("the mariadb client runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        )
    };
    let ca = format!("--ssl-ca={}", cert.display());
    let tls = ["--ssl", ca.as_str()];
    let (ok, status, err) = mariadb(&tls, "app_portal", "\\s");
    assert!(ok, "{err}");
    assert!(
        status.contains("Cipher in use is TLS"),
        "the client's status shows TLS:\n{status}"
    );
    let (ok, rows, err) = mariadb(
        &tls,
        "app_portal",
        "SELECT id_card FROM population ORDER BY id LIMIT 3",
    );
    assert!(ok, "{err}");
    assert_eq!(rows.lines().count(), 3, "{rows}");
    assert!(
        rows.lines()
            .all(|r| r.len() == 18 && r.contains("********")),
        "ID-card numbers masked inside TLS:\n{rows}"
    );
    let (ok, _, err) = mariadb(
        &tls,
        "app_portal",
        "SELECT name FROM population WHERE id = 1 OR 1=1",
    );
    assert!(!ok && err.contains("ERROR 1142 (42000)"), "{err}");
    let (ok, one, err) = mariadb(&["--skip-ssl"], "app_portal", "SELECT 1");
    assert!(ok && one == "1", "a plain-text client goes on: {err}");
}
