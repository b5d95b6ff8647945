//! `tianmu.toml`: one file for every daemon on a host. Each section is owned by the crate
//! of its stage (`analyzer::config`, `firewall::config`, …); this module composes them,
//! resolves relative paths against the file's directory, and validates everything at once.

use std::path::{Path, PathBuf};

use analyzer::config::{
    AnalyzerConfig, AnalyzerRaw, ClickHouseConfig, ClickHouseRaw, SpoolConfig, SpoolRaw,
};
use analyzer::report::{ReportConfig, ReportRaw};
use console::config::{ConsoleConfig, ConsoleRaw};
use demo::config::{DemoConfig, DemoRaw};
use firewall::config::{FirewallConfig, FirewallRaw};
use rules::file::{self, FileError, Problems};
use sensor::config::{SensorConfig, SensorRaw};
use serde::Deserialize;

/// The whole file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    /// Name of this host in events (`producer` = `<node>/<component>`); defaults to the
    /// host name.
    node: Option<String>,
    #[serde(default)]
    clickhouse: ClickHouseRaw,
    spool: SpoolRaw,
    #[serde(default)]
    firewall: FirewallRaw,
    #[serde(default)]
    sensor: SensorRaw,
    #[serde(default)]
    analyzer: AnalyzerRaw,
    #[serde(default)]
    console: ConsoleRaw,
    #[serde(default)]
    policy: PolicyRaw,
    #[serde(default)]
    demo: DemoRaw,
    #[serde(default)]
    report: ReportRaw,
}

/// `[policy]`: the files `rules` loads.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct PolicyRaw {
    /// Data catalog: tables and columns with category, level and sharing/opening attributes.
    catalog: Option<PathBuf>,
    /// Accounts: database users and API app keys.
    accounts: Option<PathBuf>,
    /// Ordered policy rules.
    rules: Option<PathBuf>,
    /// Learned statement fingerprints (learning mode); created when first needed.
    learned: Option<PathBuf>,
    /// Containment blocks written by the SOC and hot-reloaded by the firewalls; created
    /// when first needed. Default: `containment.toml` beside the spool folder.
    containment: Option<PathBuf>,
}

/// Validated `[policy]`: absolute paths of files that exist.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyFiles {
    pub catalog: Option<PathBuf>,
    pub accounts: Option<PathBuf>,
    pub rules: Option<PathBuf>,
    pub learned: Option<PathBuf>,
    pub containment: PathBuf,
}

impl PolicyFiles {
    /// The files a running policy is loaded from and watched in; `config` is named when
    /// one is missing.
    pub fn live(&self, config: &Path) -> anyhow::Result<rules::policy::reload::PolicyFiles> {
        let missing =
            |what: &str| anyhow::anyhow!("{}: [policy] names no {what} file", config.display());
        Ok(rules::policy::reload::PolicyFiles {
            catalog: self.catalog.clone().ok_or_else(|| missing("catalog"))?,
            accounts: self.accounts.clone().ok_or_else(|| missing("accounts"))?,
            rules: self.rules.clone().ok_or_else(|| missing("rules"))?,
            learned: self.learned.clone(),
            containment: Some(self.containment.clone()),
        })
    }
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub node: String,
    pub clickhouse: ClickHouseConfig,
    /// The spool settings; each process role has its own folder under `spool.path`, see
    /// [`Config::spool`].
    spool: SpoolConfig,
    pub firewall: FirewallConfig,
    pub sensor: SensorConfig,
    pub analyzer: AnalyzerConfig,
    pub console: ConsoleConfig,
    pub policy: PolicyFiles,
    pub demo: DemoConfig,
    pub report: ReportConfig,
}

/// The roles a `tianmu` process plays; each has its own spool under `spool.path`, so that
/// the firewall, the sensor and the analyzer of one host share one config file without
/// sharing a spool (a spool has one writer).
pub const ROLES: [&str; 6] = ["firewall", "sensor", "analyzer", "demo", "inject", "alert"];

impl Config {
    /// The spool of the process playing `role` (one of [`ROLES`]).
    pub fn spool(&self, role: &str) -> SpoolConfig {
        let mut s = self.spool.clone();
        s.path = s.path.join(role);
        s
    }

    pub fn load(path: &Path) -> Result<Config, FileError> {
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        file::load(path, |raw: Raw, p: &mut Problems| {
            validate(raw, path, &base, p)
        })
    }

    /// What the analyzer knows of the platform: the accounts and the catalog `[policy]`
    /// names, loaded (an invalid file stops here), and the containment file.
    pub fn platform(&self) -> anyhow::Result<analyzer::cycle::Platform> {
        let accounts = match &self.policy.accounts {
            Some(path) => Some(
                rules::account::Accounts::load(path)
                    .map_err(|e| anyhow::anyhow!("invalid accounts file:\n{e}"))?,
            ),
            None => None,
        };
        // The catalog's sharing attributes judge API responses (sharing-violation) and
        // which tables are restricted (flow-back).
        let catalog = match &self.policy.catalog {
            Some(path) => Some(
                rules::catalog::Catalog::load(path)
                    .map_err(|e| anyhow::anyhow!("invalid catalog file:\n{e}"))?,
            ),
            None => None,
        };
        Ok(analyzer::cycle::Platform {
            accounts,
            catalog,
            containment: Some(self.policy.containment.clone()),
        })
    }

    /// `<node>/<component>`, the producer id of events from `component`.
    pub fn producer(&self, component: &str) -> String {
        format!("{}/{component}", self.node)
    }
}

/// `path` relative to `base`, with `.` and `..` folded lexically, so that messages show
/// `/srv/tianmu/spool` rather than `/srv/tianmu/deploy/../spool`.
fn under(base: &Path, path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(path).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

fn validate(raw: Raw, path: &Path, base: &Path, p: &mut Problems) -> Config {
    let node = raw.node.unwrap_or_else(hostname);
    if node.is_empty() || node.contains(['/', ' ', '\t']) {
        p.add(
            "node",
            format!("`{node}` is not a usable node name (no spaces or `/`)"),
        );
    }
    let mut spool = raw.spool;
    spool.path = under(base, &spool.path);
    let mut file = |key: &str, f: Option<PathBuf>| {
        let f = f.map(|f| under(base, &f));
        if let Some(f) = &f
            && !f.is_file()
        {
            p.add(
                format!("policy.{key}"),
                format!("{} is not a readable file", f.display()),
            );
        }
        f
    };
    let policy = PolicyFiles {
        catalog: file("catalog", raw.policy.catalog),
        accounts: file("accounts", raw.policy.accounts),
        rules: file("rules", raw.policy.rules),
        learned: raw.policy.learned.map(|f| under(base, &f)),
        containment: match raw.policy.containment {
            Some(f) => under(base, &f),
            None => spool
                .path
                .parent()
                .unwrap_or(Path::new("/"))
                .join("containment.toml"),
        },
    };
    Config {
        path: path.to_owned(),
        node,
        clickhouse: raw.clickhouse.validate("clickhouse", p),
        spool: spool.validate("spool", p),
        firewall: raw.firewall.validate("firewall", base, p),
        sensor: raw.sensor.validate("sensor", p),
        analyzer: raw.analyzer.validate("analyzer", p),
        console: raw.console.validate("console", p),
        demo: raw.demo.validate("demo", p),
        report: raw.report.validate("report", p),
        policy,
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "tianmu".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("tianmu.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Config::load(&path).map_err(|e| {
            e.to_string()
                .replace(&format!("{}", path.display()), "tianmu.toml")
        })
    }

    #[test]
    fn example_config_is_valid_and_complete() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in ["tianmu.example.toml", "demo/tianmu.toml"] {
            let c = Config::load(&root.join("deploy").join(name))
                .unwrap_or_else(|e| panic!("deploy/{name}: {e}"));
            assert!(!c.firewall.listeners.is_empty(), "{name} has listeners");
        }
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[spool]\npath = 's'\nfsync = 'sometimes'\n",
                "tianmu.toml:3: spool.fsync: unknown variant `sometimes`, expected one of `batch`, `interval`, `never`",
            ),
            (
                "[spool]\npath = 's'\nmax-szie = 1\n",
                "tianmu.toml:3: spool.max-szie: unknown field `max-szie`",
            ),
            (
                "[spool]\npath = 's'\n[[firewall.listeners]]\nname = 'a'\nprotocol = 'postgres'\nlisten = 'localhost:6432'\nupstream = '127.0.0.1:5432'\n",
                "tianmu.toml:6: firewall.listeners[0].listen: invalid socket address syntax",
            ),
            (
                "[spool]\npath = 's'\n[[firewall.listeners]]\nname = 'a'\nprotocol = 'postgres'\nlisten = '127.0.0.1:6432'\nupstream = 'db'\n",
                "tianmu.toml:7: firewall.listeners[0].upstream: `db` has no port",
            ),
            (
                "[clickhouse]\nurl = 'ftp://x'\n[spool]\npath = 's'\n",
                "tianmu.toml:2: clickhouse.url:",
            ),
            (
                "[clickhouse]\nretention-days = 'long'\n[spool]\npath = 's'\n",
                "tianmu.toml:2: clickhouse.retention-days: invalid type",
            ),
            ("[clickhouse]\n", "tianmu.toml:1: missing field `spool`"),
            (
                "[spool]\npath = 's'\n[report]\nassessor = ' '\n",
                "tianmu.toml:4: report.assessor: is empty",
            ),
            (
                "[spool]\npath = 's'\n[report]\nsigner = 'x'\n",
                "tianmu.toml:4: report.signer: unknown field `signer`",
            ),
        ];
        for (text, want) in cases {
            let err = load(text)
                .err()
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(
                err.starts_with(want),
                "for {text:?}\n got: {err}\nwant: {want}"
            );
        }
    }

    #[test]
    fn every_semantic_problem_is_reported_at_once() {
        let text = "[clickhouse]\ndatabase = 'my-db'\n[spool]\npath = 's'\nsegment-size = '1 KiB'\n[[firewall.listeners]]\nname = 'a'\nprotocol = 'mysql'\nlisten = '127.0.0.1:3307'\nupstream = '127.0.0.1:3306'\n[[firewall.listeners]]\nname = 'a'\nprotocol = 'mysql'\nlisten = '127.0.0.1:3307'\nupstream = '127.0.0.1:3306'\n";
        let err = load(text).err().unwrap_or_default();
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 4, "{err}");
        assert!(
            lines[0].starts_with("tianmu.toml:2: clickhouse.database:"),
            "{err}"
        );
        assert!(
            lines[1].starts_with("tianmu.toml:5: spool.segment-size:"),
            "{err}"
        );
        assert!(
            lines[2].starts_with("tianmu.toml:12: firewall.listeners[1].name:"),
            "{err}"
        );
        assert!(
            lines[3].starts_with("tianmu.toml:14: firewall.listeners[1].listen:"),
            "{err}"
        );
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let c = load("node = 'n1'\n[spool]\npath = 'spool'\n").expect("valid");
        assert!(c.spool.path.is_absolute() && c.spool.path.ends_with("spool"));
        assert!(c.spool("firewall").path.ends_with("spool/firewall"));
        assert_eq!(c.producer("firewall"), "n1/firewall");
        let base = Path::new("/srv/tianmu/deploy/demo");
        assert_eq!(
            under(base, Path::new("../../.tianmu/spool")),
            Path::new("/srv/tianmu/.tianmu/spool")
        );
        assert_eq!(
            under(base, Path::new("./p.toml")),
            Path::new("/srv/tianmu/deploy/demo/p.toml")
        );
        assert_eq!(
            under(base, Path::new("/var/lib/tianmu")),
            Path::new("/var/lib/tianmu")
        );
    }
}
