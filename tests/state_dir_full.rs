//! Failure drill: the state directory fills up, or turns read-only, under a
//! running sandbox daemon. The state directory is a small tmpfs. Each
//! change (`chaos`, `deploy`) must then be refused before it does anything,
//! naming the file and the OS error; no file may be left half-written; and
//! once space is freed (or the file system is writable again) the same
//! daemon works without a restart.
//!
//! Needs root (to mount); without it, or when `mount` fails, the test is
//! skipped with the reason printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod drill_common;
mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use drill_common::{audit_entries, children_of, instance_pids, text, Daemon};
use support::project::sandbox_config;

/// tmpfs allocates in pages.
const PAGE: u64 = 4096;
const ENV: &str = "staging";
const ENOSPC: &str = "No space left on device (os error 28)";
const EROFS: &str = "Read-only file system (os error 30)";

/// Staging only; a canary holds its first step for 30 s.
fn config() -> String {
    sandbox_config("drill-full", &[(ENV, None)], 10, 30)
}

/// A small tmpfs for the state directory, unmounted on drop.
struct Tmpfs {
    at: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not running as root, so no tmpfs can be mounted".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let at = dir.path().join("state");
        std::fs::create_dir(&at).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&at)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs { at, _dir: dir })
    }

    fn remount(&self, mode: &str) {
        let out = Command::new("mount")
            .args(["-o", &format!("remount,{mode}")])
            .arg(&self.at)
            .output()
            .unwrap();
        assert!(out.status.success(), "remount,{mode}: {}", text(&out));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

/// Fill the file system to the last page; returns the filler.
fn fill(at: &Path) -> PathBuf {
    let path = at.join("filler");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let page = vec![0u8; PAGE as usize];
    // Page-sized writes at page-aligned offsets: each is whole or nothing.
    while f.write_all(&page).is_ok() {}
    let len = f.metadata().unwrap().len();
    f.set_len(len - len % PAGE).unwrap();
    path
}

/// Give `pages` pages back.
fn free_pages(filler: &Path, pages: u64) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(filler)
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len - pages * PAGE).unwrap();
}

/// The change was refused, and says which file and which OS error.
fn refused(out: &Output, file: &str, os_error: &str) -> String {
    assert_ne!(out.status.code(), Some(0), "{}", text(out));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains(file), "does not name {file}: {}", text(out));
    assert!(
        all.contains(os_error),
        "does not say {os_error}: {}",
        text(out)
    );
    println!("refused as it should be: {}", all.trim());
    all
}

/// No temporary file, no torn JSON, no half audit line.
fn nothing_half_written(at: &Path) {
    for e in std::fs::read_dir(at).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "temporary file left: {name}");
        if name.ends_with(".json") && e.file_type().unwrap().is_file() {
            let body = std::fs::read_to_string(e.path()).unwrap();
            serde_json::from_str::<serde_json::Value>(&body)
                .unwrap_or_else(|err| panic!("{name} is torn ({err}): {body:?}"));
        }
    }
    audit_entries(at);
}

/// What a refused change must not have touched: the same instance
/// processes, no new child of the daemon (a CPU burner), no fault, no canary.
struct Untouched {
    instances: Vec<(String, u32)>,
    children: Vec<u32>,
}

impl Untouched {
    fn now(d: &Daemon) -> Untouched {
        Untouched {
            instances: instance_pids(&d.env_status(ENV)),
            children: children_of(d.pid()),
        }
    }

    fn check(&self, d: &Daemon) {
        let s = d.env_status(ENV);
        assert_eq!(instance_pids(&s), self.instances, "{s:#}");
        assert_eq!(children_of(d.pid()), self.children, "a new process");
        assert_eq!(s["faults"].as_array().map(Vec::len), Some(0), "{s:#}");
        assert!(s["traffic"]["canary"].is_null(), "{s:#}");
        assert_eq!(s["traffic"]["stable"], "v1", "{s:#}");
    }
}

fn chaos(d: &Daemon) -> Output {
    d.run(&[
        "chaos",
        "--env",
        ENV,
        "--scenario",
        "cpu-stress",
        "--duration",
        "120",
        "--no-wait",
    ])
}

fn deploy(d: &Daemon) -> Output {
    d.run(&["deploy", "--env", ENV, "--version", "v2", "--no-wait"])
}

/// A fault goes in and comes out again: the daemon works.
fn chaos_works(d: &Daemon) {
    let out = chaos(d);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let s = d.wait_status(ENV, 20, "the fault shows", |s| {
        s["faults"].as_array().is_some_and(|f| !f.is_empty())
    });
    let id = s["faults"][0]["id"].as_str().unwrap().to_string();
    let out = d.run(&["undo", "--id", &id, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    d.wait_status(ENV, 20, "the fault is gone", |s| {
        s["faults"].as_array().is_some_and(|f| f.is_empty())
    });
}

/// Append a valid padding entry to the audit journal so that exactly
/// `slack` bytes are left in its last page.
fn pad_audit(at: &Path, slack: u64) {
    let path = at.join("audit.jsonl");
    let len = std::fs::metadata(&path).unwrap().len();
    let line = |detail: usize| {
        let mut l = serde_json::to_string(&serde_json::json!({
            "ts": 0, "user": "drill", "env": ENV, "action": "pad",
            "from_version": null, "to_version": null, "outcome": "padding",
            "detail": "x".repeat(detail),
        }))
        .unwrap();
        l.push('\n');
        l
    };
    let mut want = PAGE - len % PAGE - slack;
    let base = line(0).len() as u64;
    if want < base {
        want += PAGE;
    }
    let l = line((want - base) as usize);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(l.as_bytes()).unwrap();
    assert_eq!((len + want) % PAGE, PAGE - slack);
}

#[test]
fn a_full_or_read_only_state_directory_refuses_changes_and_recovers_without_a_restart() {
    let fs = match Tmpfs::mount("2m") {
        Ok(fs) => fs,
        Err(reason) => {
            eprintln!("skipping the full-disk drill: {reason}");
            return;
        }
    };
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(cfg.path().join("blissful-infra.yaml"), config()).unwrap();
    let d = Daemon::start(cfg.path(), &fs.at, &[]);
    d.wait_status(ENV, 30, "v1 ready", |s| {
        s["instances"][0]["phase"]["phase"] == "ready"
    });
    let pid = d.pid();
    let before = Untouched::now(&d);

    // 1. Full, and no audit journal yet: the `requested` entry cannot be
    //    written, so nothing reaches the runtime.
    let filler = fill(&fs.at);
    let why = refused(&chaos(&d), "audit.jsonl", ENOSPC);
    assert!(why.contains("cannot be audited"), "{why}");
    refused(&deploy(&d), "audit.jsonl", ENOSPC);
    before.check(&d);
    nothing_half_written(&fs.at);

    // Space again: the same daemon works.
    std::fs::remove_file(&filler).unwrap();
    chaos_works(&d);

    // 2. Full in the middle of an audit line: the part that fitted goes.
    pad_audit(&fs.at, 40);
    let audit_len = std::fs::metadata(fs.at.join("audit.jsonl")).unwrap().len();
    let filler = fill(&fs.at);
    refused(&chaos(&d), "audit.jsonl", ENOSPC);
    assert_eq!(
        std::fs::metadata(fs.at.join("audit.jsonl")).unwrap().len(),
        audit_len,
        "the audit journal keeps no half line"
    );
    before.check(&d);
    nothing_half_written(&fs.at);

    // 3. Room for the audit entries, none for the fault journal or the
    //    rollout journal: still nothing is applied or started.
    free_pages(&filler, 1);
    let why = refused(&chaos(&d), "faults.json", ENOSPC);
    assert!(why.contains("fault not applied"), "{why}");
    let why = refused(&deploy(&d), "rollout-staging.json", ENOSPC);
    assert!(why.contains("v2 was not started"), "{why}");
    before.check(&d);
    nothing_half_written(&fs.at);
    let audit = audit_entries(&fs.at);
    assert!(
        audit.iter().any(|e| e["action"] == "chaos cpu-stress"
            && e["outcome"]
                .as_str()
                .is_some_and(|o| o.contains("fault not applied"))),
        "{audit:#?}"
    );
    std::fs::remove_file(&filler).unwrap();
    chaos_works(&d);

    // 4. Read-only: refused with EROFS, fine again once writable.
    fs.remount("ro");
    let why = refused(&chaos(&d), "audit.jsonl", EROFS);
    assert!(why.contains("cannot be audited"), "{why}");
    refused(&deploy(&d), "audit.jsonl", EROFS);
    before.check(&d);
    fs.remount("rw");
    nothing_half_written(&fs.at);
    chaos_works(&d);
    assert_eq!(d.pid(), pid);
    assert!(drill_common::alive(pid), "the daemon was never restarted");
}
