#![cfg(test)] // test code only
use super::*;

fn state() -> (tempfile::TempDir, StatePaths) {
    let dir = tempfile::tempdir().unwrap();
    let state = StatePaths::at(dir.path());
    (dir, state)
}

fn owner(command: &str) -> LockOwner {
    LockOwner::this_process(command, "sandbox")
}

/// Files in the directory other than the lock file (staged leftovers).
fn strays(state: &StatePaths) -> Vec<String> {
    std::fs::read_dir(&state.dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "runtime.lock")
        .collect()
}

#[test]
fn the_lock_file_names_its_owner() {
    let (_dir, state) = state();
    let lock = RuntimeLock::acquire(&state, owner("up")).unwrap();
    assert_eq!(lock.path(), state.runtime_lock());
    let read = read_owner(&state).unwrap();
    assert_eq!(&read, lock.owner());
    assert_eq!(read.pid, std::process::id());
    assert_eq!(read.command, "up");
    assert_eq!(read.runtime, "sandbox");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&read.since).is_ok(),
        "{}",
        read.since
    );
    assert!(read.since.ends_with('Z'), "{}", read.since);
    assert!(strays(&state).is_empty(), "{:?}", strays(&state));
    let mode = std::fs::metadata(state.runtime_lock()).unwrap().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_second_attempt_is_refused_naming_the_owner() {
    let (_dir, state) = state();
    let first = RuntimeLock::acquire(&state, owner("up")).unwrap();
    let err = RuntimeLock::acquire(&state, owner("demo")).unwrap_err();
    match &err {
        LockError::Held { dir, owner } => {
            assert_eq!(dir, &state.dir);
            assert_eq!(owner.as_ref(), Some(first.owner()));
        }
        other => panic!("unexpected {other:?}"),
    }
    let text = err.to_string();
    let expected = format!(
        "the state directory {} is in use by pid {} (blissful-infra up, sandbox runtime, since {}); attach with `blissful-infra` or stop it with `blissful-infra down`",
        state.dir.display(),
        std::process::id(),
        first.owner().since
    );
    assert_eq!(text, expected);
    // The refused attempt leaves the owner's record alone.
    assert_eq!(read_owner(&state).as_ref(), Some(first.owner()));
    assert!(strays(&state).is_empty(), "{:?}", strays(&state));
}

#[test]
fn dropping_releases_and_removes_the_record() {
    let (_dir, state) = state();
    let first = RuntimeLock::acquire(&state, owner("daemon")).unwrap();
    drop(first);
    assert!(!state.runtime_lock().exists());
    assert_eq!(read_owner(&state), None);
    let second = RuntimeLock::acquire(&state, owner("console")).unwrap();
    assert_eq!(read_owner(&state).unwrap().command, "console");
    drop(second);
}

#[test]
fn a_dead_owners_file_is_taken_over() {
    // A record nobody holds a lock on: its owner died (or was SIGKILLed).
    let (_dir, state) = state();
    let dead = LockOwner {
        pid: 1,
        command: "up".into(),
        runtime: "sandbox".into(),
        since: "2026-01-01T00:00:00Z".into(),
    };
    std::fs::write(state.runtime_lock(), serde_json::to_vec(&dead).unwrap()).unwrap();
    let lock = RuntimeLock::acquire(&state, owner("daemon")).unwrap();
    assert_eq!(read_owner(&state).as_ref(), Some(lock.owner()));
}

#[test]
fn garbage_in_the_lock_file_is_taken_over_or_named_vaguely() {
    let (_dir, state) = state();
    std::fs::write(state.runtime_lock(), b"\xff\xfe not json {{{").unwrap();
    assert_eq!(read_owner(&state), None);
    // Nobody holds it: taken over.
    let lock = RuntimeLock::acquire(&state, owner("up")).unwrap();
    drop(lock);

    // Somebody holds it, but what it wrote is unreadable.
    std::fs::write(state.runtime_lock(), vec![b'x'; 100_000]).unwrap();
    let holder = File::open(state.runtime_lock()).unwrap();
    assert!(try_lock(&holder).unwrap());
    let err = RuntimeLock::acquire(&state, owner("up")).unwrap_err();
    assert!(
        matches!(err, LockError::Held { owner: None, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("is in use by another blissful-infra process;"),
        "{err}"
    );
    assert!(strays(&state).is_empty(), "{:?}", strays(&state));
}

#[test]
fn hostile_strings_in_the_lock_file_are_sanitised() {
    let (_dir, state) = state();
    let evil = LockOwner {
        pid: 42,
        command: "up\x1b]52;c;aGk=\x07\nrm -rf".into(),
        runtime: "\u{9b}31msandbox".into(),
        since: "x".repeat(500),
    };
    std::fs::write(state.runtime_lock(), serde_json::to_vec(&evil).unwrap()).unwrap();
    let holder = File::open(state.runtime_lock()).unwrap();
    assert!(try_lock(&holder).unwrap());
    let text = RuntimeLock::acquire(&state, owner("up"))
        .unwrap_err()
        .to_string();
    for bad in ['\x1b', '\x07', '\u{9b}', '\n'] {
        assert!(!text.contains(bad), "{text:?}");
    }
    assert!(text.contains("pid 42 (blissful-infra up"), "{text}");
    assert!(text.len() < 400, "{text}");
}

#[test]
fn a_symlink_in_place_of_the_lock_file_is_not_followed() {
    let (dir, state) = state();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, b"keep").unwrap();
    std::os::unix::fs::symlink(&target, state.runtime_lock()).unwrap();
    let err = RuntimeLock::acquire(&state, owner("up")).unwrap_err();
    assert!(matches!(err, LockError::Io { .. }), "{err:?}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
}

#[test]
fn racing_threads_get_exactly_one_lock() {
    let (_dir, state) = state();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let state = state.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                RuntimeLock::acquire(&state, owner("up"))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let held: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
    assert_eq!(held.len(), 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, LockError::Held { .. }), "{e:?}");
        }
    }
    drop(results);
    assert!(strays(&state).is_empty(), "{:?}", strays(&state));
}
