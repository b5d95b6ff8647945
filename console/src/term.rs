//! The terminal while the console runs: raw mode, the alternate screen, mouse capture,
//! and stderr sent to a log file (logs must never draw over the TUI); all of it undone when
//! the console ends, and by a panic hook before the panic message is printed, so a crash
//! leaves a usable shell and a readable message.

use std::fs::File;
use std::io::{self, Stdout};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Mutex, Once};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The real stderr while it is redirected.
static SAVED_STDERR: Mutex<Option<OwnedFd>> = Mutex::new(None);
static HOOK: Once = Once::new();

#[derive(Debug, thiserror::Error)]
pub enum TermError {
    #[error("the console needs a terminal: {0}")]
    Setup(io::Error),
}

/// The terminal in TUI mode; dropping it restores everything.
pub struct Term {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Term {
    /// Enters TUI mode; stderr goes to `log` (appended; nowhere when `None` or when the file
    /// cannot be opened).
    pub fn enter(log: Option<&Path>) -> Result<Term, TermError> {
        install_panic_hook();
        redirect_stderr(log);
        let setup = || -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
            enable_raw_mode()?;
            execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
            Terminal::new(CrosstermBackend::new(io::stdout()))
        };
        match setup() {
            Ok(terminal) => Ok(Term { terminal }),
            Err(e) => {
                restore();
                Err(TermError::Setup(e))
            }
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        restore();
        let _ = self.terminal.show_cursor();
    }
}

/// Leaves TUI mode and gives stderr back; harmless when called twice.
pub fn restore() {
    let _ = execute!(io::stdout(), DisableMouseCapture, LeaveAlternateScreen);
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), crossterm::cursor::Show);
    let saved = SAVED_STDERR.lock().map(|mut s| s.take()).unwrap_or(None);
    if let Some(fd) = saved {
        let _ = nix::unistd::dup2_stderr(&fd);
    }
}

fn redirect_stderr(log: Option<&Path>) {
    let target = log
        .and_then(|p| {
            if let Some(dir) = p.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            File::options().create(true).append(true).open(p).ok()
        })
        .or_else(|| File::options().write(true).open("/dev/null").ok());
    let Some(target) = target else {
        return;
    };
    let Ok(saved) = nix::unistd::dup(io::stderr()) else {
        return;
    };
    if nix::unistd::dup2_stderr(&target).is_ok()
        && let Ok(mut s) = SAVED_STDERR.lock()
    {
        *s = Some(saved);
    }
}

/// Restores the terminal before the default hook prints the panic.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
