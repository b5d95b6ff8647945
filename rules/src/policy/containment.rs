//! Containment: the overlay of the policy that the SOC writes while it handles an alert.
//! Each block refuses every statement of an account, of a client address (or network), or
//! of a statement shape (fingerprint) until it expires or is lifted — on every firewall that
//! reads the file, which they watch and hot-reload like the other policy files.
//!
//! The file is written by `tianmu contain` and the console, never by hand in the normal
//! course; it is still TOML, validated like every other file, so that a broken edit is
//! refused with its line and the blocks in force stay in force:
//!
//! ```toml
//! [[block]]
//! id = "c-5f2a9e01"
//! account = "analyst_li"          # or: address = "10.8.0.0/16", or: fingerprint = "9f3c…"
//! until = "2026-11-23T16:00:00Z"
//! created = "2026-11-23T15:00:00Z"
//! actor = "wang"
//! alert = "16d8bbb5-9548-8d39-80e2-b61943f2cf04"   # optional
//! reason = "bulk exfiltration"
//! ```
//!
//! Writers hold an exclusive lock on `<file>.lock` while they read, change and atomically
//! replace the file (write a temporary file, fsync, rename), so concurrent operators do not
//! lose each other's blocks and a firewall never reads half a file. An expired block stays
//! in the file until the analyzer records its expiry on the block's alert
//! ([`Containment::expire`]); writes drop blocks expired for longer than a day, so the file
//! stays small without an analyzer too.

use std::fmt;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::file::{self, FileError, Problems};

/// What a block refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Account(String),
    /// A client address or network.
    Address(IpNet),
    /// A statement shape: the fingerprint events carry.
    Fingerprint(u64),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Account(a) => write!(f, "account {a}"),
            Target::Address(n) if n.prefix_len() == n.max_prefix_len() => {
                write!(f, "address {}", n.addr())
            }
            Target::Address(n) => write!(f, "address {n}"),
            Target::Fingerprint(x) => write!(f, "fingerprint {x:016x}"),
        }
    }
}

impl Target {
    /// `account NAME`, `address IP[/PREFIX]` or `fingerprint HEX` (as [`Display`] writes
    /// them), or the kind and value apart.
    pub fn parse(kind: &str, value: &str) -> Result<Target, String> {
        let value = value.trim();
        if value.is_empty() {
            return Err(format!("the {kind} to block is empty"));
        }
        match kind {
            "account" => Ok(Target::Account(value.to_owned())),
            "address" => parse_net(value)
                .map(Target::Address)
                .ok_or_else(|| format!("`{value}` is not an IP address or network")),
            "fingerprint" => parse_fingerprint(value)
                .map(Target::Fingerprint)
                .ok_or_else(|| format!("`{value}` is not a fingerprint (16 hex digits)")),
            other => Err(format!(
                "`{other}` is not something to block: expected account, address or fingerprint"
            )),
        }
    }
}

fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

fn parse_fingerprint(s: &str) -> Option<u64> {
    let s = s.trim_start_matches("0x");
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// One block in force until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub id: String,
    pub target: Target,
    pub until: DateTime<Utc>,
    pub created: DateTime<Utc>,
    pub actor: String,
    /// The alert it contains, when it was put in place for one.
    pub alert: Option<String>,
    pub reason: String,
}

impl Block {
    /// A new block of `target` for `duration` from `now`, with a fresh id.
    pub fn new(
        target: Target,
        now: DateTime<Utc>,
        duration: std::time::Duration,
        actor: &str,
        alert: Option<String>,
        reason: &str,
    ) -> Block {
        // Whole seconds: the file keeps no more.
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let until = now + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        // Short enough to type, unique enough for the blocks of one file.
        let id = format!(
            "c-{:08x}",
            xxhash_rust::xxh3::xxh3_64(
                format!(
                    "{target}|{}|{actor}",
                    now.timestamp_nanos_opt().unwrap_or(0)
                )
                .as_bytes()
            ) as u32
        );
        Block {
            id,
            target,
            until,
            created: now,
            actor: actor.to_owned(),
            alert,
            reason: reason.to_owned(),
        }
    }

    /// In force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        now < self.until
    }

    /// The reason a refused client is given.
    pub fn message(&self) -> String {
        let alert = self
            .alert
            .as_deref()
            .map(|a| format!(", alert {a}"))
            .unwrap_or_default();
        format!(
            "{} is blocked by containment {} until {} UTC{alert}",
            self.target,
            self.id,
            self.until.format("%Y-%m-%d %H:%M:%S")
        )
    }
}

/// The blocks of the containment file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Containment {
    pub blocks: Vec<Block>,
}

impl Containment {
    /// The first block in force at `now` that refuses this statement.
    pub fn refuses(
        &self,
        account: &str,
        client: IpAddr,
        fingerprint: u64,
        now: DateTime<Utc>,
    ) -> Option<&Block> {
        self.blocks.iter().find(|b| {
            b.active(now)
                && match &b.target {
                    Target::Account(a) => a == account,
                    Target::Address(n) => n.contains(&client),
                    Target::Fingerprint(f) => *f == fingerprint,
                }
        })
    }

    /// Blocks in force at `now`.
    pub fn active(&self, now: DateTime<Utc>) -> impl Iterator<Item = &Block> {
        self.blocks.iter().filter(move |b| b.active(now))
    }

    /// Reads `path`; a file that does not exist holds no blocks.
    pub fn load(path: &Path) -> Result<Containment, FileError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Containment::parse(path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Containment::default()),
            Err(source) => Err(FileError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Parses the text of `path` (named in messages).
    pub fn parse(path: &Path, text: &str) -> Result<Containment, FileError> {
        file::parse(path, text, validate)
    }

    /// The file's text.
    pub fn to_toml(&self) -> String {
        let raw = Raw {
            block: self.blocks.iter().map(BlockRaw::from).collect(),
        };
        let body = toml::to_string(&raw).unwrap_or_default();
        format!(
            "# Containment blocks, written by `tianmu contain` and the console; every firewall\n# reloads this file when it changes. Expired blocks are removed by the analyzer.\n\n{body}"
        )
    }

    /// Changes the file at `path` under its lock: `change` sees the blocks (those expired
    /// for longer than [`KEEP_EXPIRED`] are dropped) and returns what to report; the result
    /// replaces the file atomically.
    pub fn update<T>(
        path: &Path,
        now: DateTime<Utc>,
        change: impl FnOnce(&mut Containment) -> Result<T, ContainmentError>,
    ) -> Result<T, ContainmentError> {
        let io = |source| ContainmentError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let lock_path = lock_path(path);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| ContainmentError::Io {
                path: lock_path.clone(),
                source,
            })?;
        lock.lock().map_err(|source| ContainmentError::Io {
            path: lock_path,
            source,
        })?;
        let mut c = Containment::load(path)?;
        let keep = chrono::Duration::from_std(KEEP_EXPIRED).unwrap_or_default();
        c.blocks.retain(|b| b.active(now - keep));
        let out = change(&mut c)?;
        let tmp = path.with_extension("toml.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(c.to_toml().as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        // The lock is released when `lock` is dropped.
        Ok(out)
    }

    /// Adds `block` to the file at `path`.
    pub fn add(path: &Path, block: Block) -> Result<Block, ContainmentError> {
        let now = block.created;
        Containment::update(path, now, |c| {
            c.blocks.push(block.clone());
            Ok(block)
        })
    }

    /// Removes the blocks expired at `now` from the file at `path` and returns them (the
    /// analyzer records each on its alert).
    pub fn expire(path: &Path, now: DateTime<Utc>) -> Result<Vec<Block>, ContainmentError> {
        if !Containment::load(path)?
            .blocks
            .iter()
            .any(|b| !b.active(now))
        {
            return Ok(Vec::new());
        }
        Containment::update(path, now, |c| {
            let (active, expired) = c.blocks.drain(..).partition(|b| b.active(now));
            c.blocks = active;
            Ok(expired)
        })
    }

    /// Lifts the block in force `id` (or the one it starts) from the file at `path`.
    pub fn lift(path: &Path, id: &str, now: DateTime<Utc>) -> Result<Block, ContainmentError> {
        Containment::update(path, now, |c| {
            let found: Vec<usize> = c
                .blocks
                .iter()
                .enumerate()
                .filter(|(_, b)| b.active(now))
                .filter(|(_, b)| b.id == id || (id.len() >= 4 && b.id.starts_with(id)))
                .map(|(i, _)| i)
                .collect();
            match found[..] {
                [i] => Ok(c.blocks.remove(i)),
                [] => Err(ContainmentError::NoSuchBlock(id.to_owned())),
                _ => Err(ContainmentError::Ambiguous(id.to_owned())),
            }
        })
    }
}

/// How long an expired block stays in the file for the analyzer to record its expiry.
pub const KEEP_EXPIRED: std::time::Duration = std::time::Duration::from_secs(86_400);

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(".lock");
    path.with_file_name(name)
}

/// Why the containment file could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum ContainmentError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no block `{0}` in force")]
    NoSuchBlock(String),
    #[error("`{0}` starts more than one block id: give more of it")]
    Ambiguous(String),
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    block: Vec<BlockRaw>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct BlockRaw {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fingerprint: Option<String>,
    until: String,
    created: String,
    #[serde(default)]
    actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert: Option<String>,
    #[serde(default)]
    reason: String,
}

impl From<&Block> for BlockRaw {
    fn from(b: &Block) -> BlockRaw {
        let (mut account, mut address, mut fingerprint) = (None, None, None);
        match &b.target {
            Target::Account(a) => account = Some(a.clone()),
            Target::Address(n) if n.prefix_len() == n.max_prefix_len() => {
                address = Some(n.addr().to_string())
            }
            Target::Address(n) => address = Some(n.to_string()),
            Target::Fingerprint(f) => fingerprint = Some(format!("{f:016x}")),
        }
        BlockRaw {
            id: b.id.clone(),
            account,
            address,
            fingerprint,
            until: b.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            created: b.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            actor: b.actor.clone(),
            alert: b.alert.clone(),
            reason: b.reason.clone(),
        }
    }
}

fn validate(raw: Raw, p: &mut Problems) -> Containment {
    let mut blocks = Vec::new();
    for (i, b) in raw.block.into_iter().enumerate() {
        let key = format!("block[{i}]");
        let time = |field: &str, v: &str, p: &mut Problems| match DateTime::parse_from_rfc3339(v) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                p.add(
                    format!("{key}.{field}"),
                    format!("`{v}` is not an RFC 3339 time (e.g. 2026-11-23T16:00:00Z)"),
                );
                None
            }
        };
        let until = time("until", &b.until, p);
        let created = time("created", &b.created, p);
        if b.id.trim().is_empty() {
            p.add(format!("{key}.id"), "expected a block id");
        }
        let targets = [
            ("account", &b.account),
            ("address", &b.address),
            ("fingerprint", &b.fingerprint),
        ];
        let given: Vec<(&str, &String)> = targets
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        let target = match given[..] {
            [(kind, value)] => match Target::parse(kind, value) {
                Ok(t) => Some(t),
                Err(e) => {
                    p.add(format!("{key}.{kind}"), e);
                    None
                }
            },
            _ => {
                p.add(
                    key.clone(),
                    "expected exactly one of account, address or fingerprint",
                );
                None
            }
        };
        if blocks.iter().any(|x: &Block| x.id == b.id) {
            p.add(format!("{key}.id"), format!("`{}` is used twice", b.id));
        }
        if let (Some(target), Some(until), Some(created)) = (target, until, created) {
            blocks.push(Block {
                id: b.id,
                target,
                until,
                created,
                actor: b.actor,
                alert: b.alert,
                reason: b.reason,
            });
        }
    }
    Containment { blocks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    #[test]
    fn blocks_refuse_their_target_until_they_expire() {
        let hour = Duration::from_secs(3600);
        let c = Containment {
            blocks: vec![
                Block::new(
                    Target::Account("analyst_li".into()),
                    at(0),
                    hour,
                    "wang",
                    None,
                    "r",
                ),
                Block::new(
                    Target::parse("address", "10.8.0.0/16").unwrap(),
                    at(0),
                    hour,
                    "wang",
                    None,
                    "r",
                ),
                Block::new(
                    Target::parse("fingerprint", "00000000000000ff").unwrap(),
                    at(0),
                    hour,
                    "wang",
                    None,
                    "r",
                ),
            ],
        };
        let lan: IpAddr = "192.168.1.5".parse().unwrap();
        assert!(c.refuses("analyst_li", lan, 1, at(10)).is_some());
        assert!(
            c.refuses("analyst_li", lan, 1, at(3600)).is_none(),
            "expired"
        );
        assert!(c.refuses("dev_zhang", lan, 1, at(10)).is_none());
        assert!(
            c.refuses("dev_zhang", "10.8.3.4".parse().unwrap(), 1, at(10))
                .is_some()
        );
        assert!(c.refuses("dev_zhang", lan, 255, at(10)).is_some());
        assert_eq!(c.active(at(10)).count(), 3);
    }

    #[test]
    fn the_file_round_trips_and_writers_keep_each_others_blocks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/containment.toml");
        assert_eq!(Containment::load(&path).unwrap(), Containment::default());
        let hour = Duration::from_secs(3600);
        let a = Containment::add(
            &path,
            Block::new(
                Target::Account("analyst_li".into()),
                at(0),
                hour,
                "wang",
                Some("16d8bbb5".into()),
                "bulk",
            ),
        )
        .unwrap();
        let b = Containment::add(
            &path,
            Block::new(
                Target::parse("address", "10.1.2.3").unwrap(),
                at(1),
                hour,
                "li",
                None,
                "",
            ),
        )
        .unwrap();
        let c = Containment::load(&path).unwrap();
        assert_eq!(c.blocks, vec![a.clone(), b.clone()]);
        assert!(
            c.blocks[0]
                .message()
                .contains("account analyst_li is blocked by containment c-")
        );
        assert!(matches!(
            Containment::lift(&path, "c-nope", at(2)),
            Err(ContainmentError::NoSuchBlock(_))
        ));
        assert_eq!(Containment::lift(&path, &a.id, at(2)).unwrap(), a);
        assert_eq!(Containment::load(&path).unwrap().blocks, vec![b.clone()]);
        // An expired block cannot be lifted; it stays until expired, or a day after it.
        assert!(Containment::lift(&path, &b.id, at(3601)).is_err());
        Containment::update(&path, at(7200), |_| Ok(())).unwrap();
        assert_eq!(Containment::load(&path).unwrap().blocks.len(), 1);
        assert_eq!(Containment::expire(&path, at(7200)).unwrap(), vec![b]);
        assert!(Containment::expire(&path, at(7200)).unwrap().is_empty());
        assert!(Containment::load(&path).unwrap().blocks.is_empty());
        let c = Containment::add(
            &path,
            Block::new(Target::Account("x".into()), at(0), hour, "li", None, ""),
        )
        .unwrap();
        Containment::update(&path, at(3599 + 86_400), |_| Ok(())).unwrap();
        assert_eq!(Containment::load(&path).unwrap().blocks, vec![c]);
        Containment::update(&path, at(3601 + 86_400), |_| Ok(())).unwrap();
        assert!(
            Containment::load(&path).unwrap().blocks.is_empty(),
            "dropped a day after"
        );
    }

    #[test]
    fn a_broken_file_is_refused_with_its_line_and_key() {
        let text = "[[block]]\nid = 'c-1'\naccount = 'a'\naddress = '10.0.0.1'\nuntil = 'soon'\ncreated = '2026-11-23T15:00:00Z'\n";
        let e = Containment::parse(Path::new("containment.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("containment.toml:1: block[0]: expected exactly one of account, address or fingerprint"), "{e}");
        assert!(
            e.contains("containment.toml:5: block[0].until: `soon` is not an RFC 3339 time"),
            "{e}"
        );
        let e = Containment::parse(
            Path::new("c.toml"),
            "[[block]]\nid = 'c-1'\nfingerprint = 'xyz'\nuntil = '2026-11-23T15:00:00Z'\ncreated = '2026-11-23T15:00:00Z'\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("c.toml:3: block[0].fingerprint: `xyz` is not a fingerprint"),
            "{e}"
        );
        assert!(Target::parse("table", "t").is_err());
    }
}
