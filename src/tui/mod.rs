//! Terminal setup and restore. The terminal is restored on normal exit, on
//! error, and from the panic hook, so a crash never leaves a raw-mode shell.

pub mod crash;

use std::io::{self, Stdout, Write};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::Arc;

use crossterm::event::{DisableBracketedPaste, EnableBracketedPaste};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Bytes written to the terminal, for the at-rest output benchmark.
#[derive(Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Stdout that counts what it writes.
pub struct CountingStdout {
    inner: Stdout,
    count: ByteCounter,
}

impl Write for CountingStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.0.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub type Term = Terminal<CrosstermBackend<CountingStdout>>;

static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Duplicate of the original stderr while it is redirected (-1 when not).
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

/// Send stderr to `path` while the console owns the screen: a library that
/// prints a warning must not scribble over the frame.
pub fn redirect_stderr(path: &Path) -> io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // SAFETY: dup/dup2 on valid descriptors; the file stays open until dup2 copied it.
    let saved = unsafe { libc::dup(2) };
    if saved < 0 {
        return Err(io::Error::last_os_error());
    }
    if unsafe { libc::dup2(file.as_raw_fd(), 2) } < 0 {
        let e = io::Error::last_os_error();
        unsafe { libc::close(saved) };
        return Err(e);
    }
    SAVED_STDERR.store(saved, Ordering::SeqCst);
    Ok(())
}

fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor dup'ed in redirect_stderr.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}

/// Enter raw mode and the alternate screen.
pub fn enter() -> io::Result<(Term, ByteCounter)> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(
        out,
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    ) {
        restore();
        return Err(e);
    }
    let count = ByteCounter::default();
    let backend = CrosstermBackend::new(CountingStdout {
        inner: out,
        count: count.clone(),
    });
    match Terminal::new(backend) {
        Ok(t) => Ok((t, count)),
        Err(e) => {
            restore();
            Err(e)
        }
    }
}

/// Whether the terminal on stdout has hung up (the SSH connection or the
/// pty's other end closed): every call on it then fails with EIO.
fn hung_up() -> bool {
    // SAFETY: tcgetattr only writes into the zeroed struct we own.
    let rc = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(libc::STDOUT_FILENO, &mut t)
    };
    rc != 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EIO)
}

/// Leave the alternate screen and raw mode. Safe to call more than once and
/// from a panic hook; errors are ignored because the terminal may be gone (SIGHUP).
pub fn restore() {
    // A terminal that hung up takes no more output: stderr stays in the
    // console log, where a late message (ratatui failing to show the cursor
    // on drop, an error report) is kept instead of failing, and `eprintln!`
    // panicking, on the dead terminal.
    if !hung_up() {
        restore_stderr();
    }
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let _ = execute!(
            out,
            DisableBracketedPaste,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
        let _ = out.flush();
    }
}

/// Replace the panic hook with one that restores the terminal, writes a
/// crash report (see `crash`) and prints the panic's message redacted and
/// cleaned: the default hook (or color-eyre's) would print it as it is, to
/// a terminal or to `daemon.log`.
pub fn install_panic_hook() {
    let _default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        eprint!("{}", crash::stderr_text(info));
        if let Some(path) = crash::on_panic(info) {
            eprintln!("blissful-infra crashed; report: {}", path.display());
        }
    }));
}
