//! A pseudo-terminal pair for end-to-end drills: the real binary runs on the
//! slave as its controlling terminal (its own session, like a login shell
//! over SSH), the test holds the master. Closing the master is what the
//! kernel sees when an SSH connection drops: the slave hangs up and the
//! session gets SIGHUP. The slave's termios can be read from the master.

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub struct PtyChild {
    master: Option<OwnedFd>,
    pub child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
}

impl PtyChild {
    /// Run `program args` in `dir` on a fresh `cols`×`rows` pty.
    pub fn spawn(
        program: &str,
        args: &[&str],
        envs: &[(&str, String)],
        dir: &Path,
        cols: u16,
        rows: u16,
    ) -> PtyChild {
        let (mut master, mut slave) = (-1, -1);
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: openpty writes two descriptors; the other pointers may be null.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // Neither end may leak into the child: a child holding the master
        // would keep the terminal up after the test closes it.
        for fd in [master, slave] {
            // SAFETY: fcntl on descriptors we own.
            assert_eq!(
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) },
                0
            );
        }
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) =
            unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
        let stdio = |fd: &OwnedFd| Stdio::from(File::from(fd.try_clone().expect("dup slave")));
        let mut cmd = Command::new(program);
        cmd.args(args)
            .current_dir(dir)
            .env("TERM", "xterm-256color")
            .stdin(stdio(&slave))
            .stdout(stdio(&slave))
            .stderr(stdio(&slave));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on the pty");
        // Only the child keeps the slave open now.
        drop(cmd);
        drop(slave);
        let output = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (output, stop, fd) = (output.clone(), stop.clone(), master.as_raw_fd());
            std::thread::spawn(move || drain(fd, &output, &stop))
        };
        PtyChild {
            master: Some(master),
            child,
            output,
            stop,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the program wrote to its terminal so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Type `bytes` on the terminal.
    pub fn type_keys(&self, bytes: &str) {
        let fd = self.master.as_ref().expect("master open").as_raw_fd();
        // SAFETY: a borrowed descriptor, not closed by the File (forgotten below).
        let mut f = unsafe { File::from_raw_fd(fd) };
        let r = f.write_all(bytes.as_bytes());
        std::mem::forget(f);
        r.expect("write to the pty");
        std::thread::sleep(Duration::from_millis(150));
    }

    /// The slave's terminal modes, read through the master.
    pub fn termios(&self) -> libc::termios {
        let fd = self.master.as_ref().expect("master open").as_raw_fd();
        // SAFETY: tcgetattr fills the struct on success, checked below.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            assert_eq!(
                libc::tcgetattr(fd, &mut t),
                0,
                "tcgetattr: {}",
                std::io::Error::last_os_error()
            );
            t
        }
    }

    /// Canonical mode and echo, as a shell leaves them.
    pub fn cooked(&self) -> bool {
        let t = self.termios();
        t.c_lflag & libc::ICANON != 0 && t.c_lflag & libc::ECHO != 0
    }

    /// Close the master, as a dropped SSH connection does.
    pub fn close_master(&mut self) {
        self.stop_reader();
        self.master = None;
    }

    fn stop_reader(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// The exit status, if the program ends within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the program's output holds `needle`.
    pub fn wait_output(&self, what: &str, limit: Duration, needle: &str) {
        let deadline = Instant::now() + limit;
        while !self.output().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; output tail:\n{}",
                tail(&self.output())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PtyChild {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stop_reader();
    }
}

/// Keep reading the master so the program never blocks on a full terminal.
fn drain(fd: i32, output: &Mutex<Vec<u8>>, stop: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; `fd` stays open until this thread is joined.
        let ready = unsafe { libc::poll(&mut p, 1, 50) };
        if ready <= 0 || p.revents & libc::POLLIN == 0 {
            if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                // Nobody holds the slave (the program exited); keep polling
                // gently until told to stop.
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        // SAFETY: reading into a buffer we own.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            output.lock().unwrap().extend_from_slice(&buf[..n as usize]);
        }
    }
}

/// The last lines of `text`, escape sequences made visible.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..]
        .join("\n")
        .replace('\x1b', "␛")
}
