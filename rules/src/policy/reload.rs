//! Hot reload: the policy in force lives in an [`ArcSwap`], so that every statement reads it
//! without a lock. A watcher thread notices when one of the three files changes (editors
//! write in several steps or replace the file, so it waits for quiet), validates all three
//! again and swaps the new policy in at once. An invalid change is refused: the error is
//! logged and reported to the caller (which records it as an event), and the old policy
//! stays in force.
//!
//! The containment file (see [`super::containment`]) is watched by the same watcher but
//! lives in a cell of its own: the SOC changes it while an incident runs, and a new block
//! must not cost the policy its decision cache.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tracing::{error, info};

use super::containment::Containment;
use super::{Policy, PolicyError};

/// The files a policy is loaded from.
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    pub catalog: PathBuf,
    pub accounts: PathBuf,
    pub rules: PathBuf,
    /// The learned fingerprints (`None`: kept in memory).
    pub learned: Option<PathBuf>,
    /// The containment blocks (`None`: no containment); a missing file holds none.
    pub containment: Option<PathBuf>,
}

impl PolicyFiles {
    /// The policy file `rules` with `catalog.toml` and `accounts.toml` from its folder (a
    /// quick trial from flags: nothing learned is kept, no containment).
    pub fn beside(rules: &Path) -> PolicyFiles {
        let dir = rules.parent().unwrap_or(Path::new("."));
        PolicyFiles {
            catalog: dir.join("catalog.toml"),
            accounts: dir.join("accounts.toml"),
            rules: rules.to_owned(),
            learned: None,
            containment: None,
        }
    }

    fn watched(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = vec![&self.catalog, &self.accounts, &self.rules];
        out.extend(self.containment.as_deref());
        out
    }
}

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// The new policy is in force.
    Applied { rules: usize },
    /// The files do not validate; the previous policy stays in force.
    Refused(PolicyError),
    /// The containment file changed; this many blocks are in it now.
    Containment { blocks: usize },
    /// The containment file does not validate; the previous blocks stay in force.
    ContainmentRefused(crate::file::FileError),
}

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("invalid policy:\n{0}")]
    Invalid(#[from] PolicyError),
    #[error("cannot watch {}: {source}", path.display())]
    Watch {
        path: PathBuf,
        source: notify::Error,
    },
}

/// How long the files must stay unchanged before they are read.
const QUIET: Duration = Duration::from_millis(250);

/// The policy in force, kept current from its files.
pub struct Live {
    current: Arc<ArcSwap<Policy>>,
    containment: Arc<ArcSwap<Containment>>,
    files: PolicyFiles,
    _watcher: notify::RecommendedWatcher,
}

impl Live {
    /// Loads the files (an invalid policy stops here) and watches them; `on_reload` hears
    /// about every reload after the first load.
    pub fn start(
        files: PolicyFiles,
        on_reload: impl Fn(&Reload) + Send + 'static,
    ) -> Result<Live, WatchError> {
        let first = Policy::load(
            &files.catalog,
            &files.accounts,
            &files.rules,
            files.learned.as_deref(),
        )?;
        let current = Arc::new(ArcSwap::from_pointee(first));
        let contained = match &files.containment {
            Some(path) => Containment::load(path).map_err(|e| PolicyError(vec![e]))?,
            None => Containment::default(),
        };
        let containment = Arc::new(ArcSwap::from_pointee(contained));
        // What changed: the policy (true) or the containment file (false).
        let (tx, rx) = mpsc::channel::<bool>();
        let ours: Vec<PathBuf> = [&files.catalog, &files.accounts, &files.rules]
            .iter()
            .map(|p| absolute(p))
            .collect();
        let blocks = files.containment.as_deref().map(absolute);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                // Reading a file is an event too (inotify's open and close): reloading on
                // those would reload forever, since the reload reads the files.
                if event.kind.is_access() {
                    return;
                }
                for p in &event.paths {
                    let p = absolute(p);
                    if ours.contains(&p) {
                        let _ = tx.send(true);
                    } else if blocks.as_ref() == Some(&p) {
                        let _ = tx.send(false);
                    }
                }
            })
            .map_err(|source| WatchError::Watch {
                path: files.rules.clone(),
                source,
            })?;
        let mut dirs: Vec<PathBuf> = files.watched().iter().map(|p| parent(p)).collect();
        dirs.sort();
        dirs.dedup();
        if let Some(c) = &files.containment {
            // Watched before the first block is written: its folder must exist.
            let dir = parent(c);
            std::fs::create_dir_all(&dir).map_err(|e| WatchError::Watch {
                path: dir,
                source: notify::Error::io(e),
            })?;
        }
        for dir in dirs {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch {
                    path: dir.clone(),
                    source,
                })?;
        }
        let (swap, blocks, reload_files) = (current.clone(), containment.clone(), files.clone());
        std::thread::Builder::new()
            .name("policy-reload".into())
            .spawn(move || {
                // One reload per burst of changes; ends when the watcher is dropped.
                while let Ok(first) = rx.recv() {
                    let (mut policy, mut contained) = (first, !first);
                    while let Ok(more) = rx.recv_timeout(QUIET) {
                        policy |= more;
                        contained |= !more;
                    }
                    if policy {
                        on_reload(&reload(&swap, &reload_files));
                    }
                    if contained && let Some(path) = &reload_files.containment {
                        on_reload(&reload_containment(&blocks, path));
                    }
                }
            })
            .map_err(|e| WatchError::Watch {
                path: files.rules.clone(),
                source: notify::Error::io(e),
            })?;
        Ok(Live {
            current,
            containment,
            files,
            _watcher: watcher,
        })
    }

    /// The policy in force now.
    pub fn policy(&self) -> Arc<Policy> {
        self.current.load_full()
    }

    /// The swap cell itself, for code that reads the policy per statement without holding
    /// the watcher.
    pub fn cell(&self) -> Arc<ArcSwap<Policy>> {
        self.current.clone()
    }

    /// The containment blocks in force, for code that checks them per statement.
    pub fn containment(&self) -> Arc<ArcSwap<Containment>> {
        self.containment.clone()
    }

    /// Reloads at once (SIGHUP, tests).
    pub fn reload(&self) -> Reload {
        reload(&self.current, &self.files)
    }
}

fn reload_containment(current: &ArcSwap<Containment>, path: &Path) -> Reload {
    match Containment::load(path) {
        Ok(c) => {
            let blocks = c.blocks.len();
            current.store(Arc::new(c));
            info!(blocks, path = %path.display(), "Containment reloaded.");
            Reload::Containment { blocks }
        }
        Err(e) => {
            error!(error = %e, "Containment change refused; the previous blocks stay in force.");
            Reload::ContainmentRefused(e)
        }
    }
}

fn reload(current: &ArcSwap<Policy>, files: &PolicyFiles) -> Reload {
    match Policy::load(&files.catalog, &files.accounts, &files.rules, None) {
        Ok(mut policy) => {
            // What was learned stays: recording goes on across reloads.
            policy.learned = current.load().learned.clone();
            let rules = policy.rules.rules.len();
            current.store(Arc::new(policy));
            info!(rules, path = %files.rules.display(), "Policy reloaded.");
            Reload::Applied { rules }
        }
        Err(e) => {
            error!(error = %e, "Policy change refused; the previous policy stays in force.");
            Reload::Refused(e)
        }
    }
}

fn parent(p: &Path) -> PathBuf {
    match absolute(p).parent() {
        Some(d) => d.to_owned(),
        None => PathBuf::from("/"),
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const CATALOG: &str = "default-level = 2\n";
    const ACCOUNTS: &str = "[[account]]\nname = 'a'\nkind = 'database'\nrole = 'r'\nenvironment = 'prod'\nclearance = 2\n";
    const ONE_RULE: &str = "[[rule]]\nname = 'r1'\naction = 'allow'\n";

    fn wait_for(what: &str, f: impl Fn() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out waiting for {what}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_valid_change_is_swapped_in_and_an_invalid_one_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("catalog.toml"), CATALOG).expect("write");
        std::fs::write(path("accounts.toml"), ACCOUNTS).expect("write");
        std::fs::write(path("policy.toml"), ONE_RULE).expect("write");
        let refused = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = refused.clone();
        let live = Live::start(
            PolicyFiles {
                catalog: path("catalog.toml"),
                accounts: path("accounts.toml"),
                rules: path("policy.toml"),
                learned: None,
                containment: None,
            },
            move |r| {
                if let Reload::Refused(e) = r {
                    seen.lock().expect("lock").push(e.to_string());
                }
            },
        )
        .expect("start");
        assert_eq!(live.policy().rules.rules.len(), 1);

        std::fs::write(
            path("policy.toml"),
            format!("{ONE_RULE}[[rule]]\nname = 'r2'\naction = 'allow'\n"),
        )
        .expect("write");
        wait_for("the second rule", || live.policy().rules.rules.len() == 2);

        // A rule naming an account that does not exist: refused, the old policy stays.
        std::fs::write(
            path("policy.toml"),
            "[[rule]]\nname = 'r3'\naccounts = ['ghost']\naction = 'allow'\n",
        )
        .expect("write");
        wait_for("the refusal", || !refused.lock().expect("lock").is_empty());
        assert!(
            refused.lock().expect("lock")[0]
                .contains("account `ghost` is not in the accounts file")
        );
        assert_eq!(live.policy().rules.rules.len(), 2);
        assert!(matches!(live.reload(), Reload::Refused(_)));
    }

    #[test]
    fn containment_changes_are_picked_up_without_touching_the_policy() {
        use super::super::containment::{Block, Target};
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("catalog.toml"), CATALOG).expect("write");
        std::fs::write(path("accounts.toml"), ACCOUNTS).expect("write");
        std::fs::write(path("policy.toml"), ONE_RULE).expect("write");
        let blocks = path("state/containment.toml");
        let refused = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = refused.clone();
        let live = Live::start(
            PolicyFiles {
                catalog: path("catalog.toml"),
                accounts: path("accounts.toml"),
                rules: path("policy.toml"),
                learned: None,
                containment: Some(blocks.clone()),
            },
            move |r| {
                if let Reload::ContainmentRefused(e) = r {
                    seen.lock().expect("lock").push(e.to_string());
                }
            },
        )
        .expect("start");
        let policy = live.policy();
        let cell = live.containment();
        assert!(cell.load().blocks.is_empty(), "no file yet, no blocks");
        let now = chrono::Utc::now();
        let block = Block::new(
            Target::Account("a".into()),
            now,
            Duration::from_secs(60),
            "wang",
            None,
            "test",
        );
        super::super::containment::Containment::add(&blocks, block.clone()).expect("add");
        wait_for("the block", || cell.load().blocks.len() == 1);
        assert!(
            cell.load()
                .refuses("a", "127.0.0.1".parse().expect("ip"), 0, now)
                .is_some()
        );
        assert!(
            Arc::ptr_eq(&policy, &live.policy()),
            "the policy was not rebuilt"
        );
        std::fs::write(&blocks, "[[block]]\nid = 'x'\n").expect("write");
        wait_for("the refusal", || !refused.lock().expect("lock").is_empty());
        assert_eq!(cell.load().blocks, vec![block], "the blocks in force stay");
    }

    #[test]
    fn reading_the_files_does_not_reload_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = |n: &str| dir.path().join(n);
        std::fs::write(path("catalog.toml"), CATALOG).expect("write");
        std::fs::write(path("accounts.toml"), ACCOUNTS).expect("write");
        std::fs::write(path("policy.toml"), ONE_RULE).expect("write");
        let reloads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = reloads.clone();
        let live = Live::start(PolicyFiles::beside(&path("policy.toml")), move |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .expect("start");
        // Another process reading the policy (a sensor, `rules check`) and the reload's own
        // reads are not changes.
        for _ in 0..5 {
            for f in ["catalog.toml", "accounts.toml", "policy.toml"] {
                std::fs::read_to_string(path(f)).expect("read");
            }
        }
        std::thread::sleep(QUIET * 4);
        assert_eq!(reloads.load(std::sync::atomic::Ordering::Relaxed), 0);
        // A change still reloads, once.
        std::fs::write(path("policy.toml"), format!("{ONE_RULE}# edited\n")).expect("write");
        wait_for("the reload", || {
            reloads.load(std::sync::atomic::Ordering::Relaxed) == 1
        });
        std::thread::sleep(QUIET * 4);
        assert_eq!(reloads.load(std::sync::atomic::Ordering::Relaxed), 1);
        drop(live);
    }
}
