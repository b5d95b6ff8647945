//! Hot reload: the policy in force lives in an [`ArcSwap`], so that every statement reads it
//! without a lock. A watcher thread notices when one of the three files changes (editors
//! write in several steps or replace the file, so it waits for quiet), validates all three
//! again and swaps the new policy in at once. An invalid change is refused: the error is
//! logged and reported to the caller (which records it as an event), and the old policy
//! stays in force.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use arc_swap::ArcSwap;
use notify::{RecursiveMode, Watcher};
use tracing::{error, info};

use super::{Policy, PolicyError};

/// The files a policy is loaded from.
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    pub catalog: PathBuf,
    pub accounts: PathBuf,
    pub rules: PathBuf,
    /// The learned fingerprints (`None`: kept in memory).
    pub learned: Option<PathBuf>,
}

impl PolicyFiles {
    fn watched(&self) -> [&Path; 3] {
        [&self.catalog, &self.accounts, &self.rules]
    }
}

/// What a reload did.
#[derive(Debug)]
pub enum Reload {
    /// The new policy is in force.
    Applied { rules: usize },
    /// The files do not validate; the previous policy stays in force.
    Refused(PolicyError),
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
        let (tx, rx) = mpsc::channel::<()>();
        let ours: Vec<PathBuf> = files.watched().iter().map(|p| absolute(p)).collect();
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                if let Ok(event) = event
                    && event.paths.iter().any(|p| ours.contains(&absolute(p)))
                {
                    let _ = tx.send(());
                }
            })
            .map_err(|source| WatchError::Watch {
                path: files.rules.clone(),
                source,
            })?;
        let mut dirs: Vec<PathBuf> = files.watched().iter().map(|p| parent(p)).collect();
        dirs.dedup();
        for dir in dirs {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|source| WatchError::Watch {
                    path: dir.clone(),
                    source,
                })?;
        }
        let (swap, reload_files) = (current.clone(), files.clone());
        std::thread::Builder::new()
            .name("policy-reload".into())
            .spawn(move || {
                // One reload per burst of changes; ends when the watcher is dropped.
                while rx.recv().is_ok() {
                    while rx.recv_timeout(QUIET).is_ok() {}
                    on_reload(&reload(&swap, &reload_files));
                }
            })
            .map_err(|e| WatchError::Watch {
                path: files.rules.clone(),
                source: notify::Error::io(e),
            })?;
        Ok(Live {
            current,
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

    /// Reloads at once (SIGHUP, tests).
    pub fn reload(&self) -> Reload {
        reload(&self.current, &self.files)
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
}
