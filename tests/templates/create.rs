//! The `blissful-infra create` command: bad input, the written project, plain
//! and arrow-key questions, the template list.

use super::*;

// ------------------------------------------------------------------ the command

fn create(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("create")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match stdin {
        None => {
            cmd.stdin(Stdio::null());
            cmd.output().unwrap()
        }
        Some(input) => {
            use std::io::Write;
            cmd.stdin(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        }
    }
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn create_refuses_bad_input_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = create(d, &["Bad_Name", "--yes"], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("invalid project name `Bad_Name`"),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("try `bad-name`"), "{}", text(&o));

    let o = create(d, &["svc", "--template", "rails", "--yes"], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(
        text(&o).contains("unknown template `rails` (available: "),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("fastapi"), "{}", text(&o));
    assert!(
        entries(d).is_empty(),
        "something was written: {:?}",
        entries(d)
    );

    // JSON errors on stdout too.
    let o = create(
        d,
        &["svc", "--template", "rails", "--yes", "-o", "json"],
        None,
    );
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "unknown_template");

    std::fs::create_dir(d.join("taken")).unwrap();
    std::fs::write(d.join("taken/notes.txt"), "mine").unwrap();
    let o = create(d, &["taken", "--template", "fastapi", "--yes"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("already exists and is not empty"),
        "{}",
        text(&o)
    );
    assert_eq!(entries(&d.join("taken")), vec!["notes.txt"]);
    assert_eq!(entries(d), vec!["taken"], "no staging folder left behind");

    // No name and no way to ask: an error naming the fix.
    let o = create(d, &[], None);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("--yes"), "{}", text(&o));
    assert_eq!(entries(d), vec!["taken"]);
}

/// `--target cloud` (and any target not made yet) is refused plainly,
/// naming the targets there are, before anything is asked or written.
#[test]
fn create_refuses_a_target_it_cannot_make() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let supported = "supported targets: kubernetes, local-only";
    for (args, what) in [
        (
            vec!["svc", "--target", "cloud", "--yes"],
            "not supported yet",
        ),
        // Without --yes nor a terminal: still refused before any question.
        (vec!["svc", "--target", "cloud"], "not supported yet"),
        (
            vec!["svc", "--target", "openshift", "--yes"],
            "not a known target",
        ),
    ] {
        let o = create(d, &args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        let want = format!("error: create --target {}: {what}; {supported}", args[2]);
        assert!(err.starts_with(&want), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}: {}", text(&o));
        assert!(entries(d).is_empty(), "{args:?} wrote {:?}", entries(d));
    }
    let o = create(
        d,
        &["svc", "--target", "cloud", "--yes", "-o", "json"],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["error"]["kind"], "unsupported_target");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains(supported));
    assert!(entries(d).is_empty(), "{:?}", entries(d));
}

#[test]
fn create_writes_the_project_and_ends_with_next_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let o = create(
        d,
        &[
            "my-service",
            "--template",
            "fastapi",
            "--database",
            "postgres",
            "--target",
            "kubernetes",
            "-o",
            "json",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["project"], "my-service");
    assert_eq!(doc["database"], "postgres");
    assert_eq!(doc["target"], "kubernetes");
    let files = doc["files"].as_array().unwrap();
    assert!(files.len() > 40, "{} files", files.len());
    for f in files {
        let path = d.join("my-service").join(f["path"].as_str().unwrap());
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .len();
        assert_eq!(len, f["bytes"].as_u64().unwrap(), "{}", path.display());
    }
    let steps: Vec<&str> = doc["next_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(steps[0], "cd my-service");
    assert!(steps.iter().any(|s| s.contains("pytest")), "{steps:?}");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("kubectl apply -k k8s/overlays/ephemeral")),
        "{steps:?}"
    );
    let req = std::fs::read_to_string(d.join("my-service/requirements.txt")).unwrap();
    assert!(req.contains("asyncpg") && !req.contains("redis"), "{req}");

    // The table ends with the next commands.
    let o = create(
        d,
        &[
            "other",
            "--template",
            "fastapi",
            "--target",
            "local-only",
            "--yes",
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        out.starts_with("Created other from fastapi (database: none, target: local-only)"),
        "{out}"
    );
    assert!(
        out.contains("FILE") && out.contains("docker-compose.yml"),
        "{out}"
    );
    let tail = out.rsplit("Next steps:\n").next().unwrap();
    assert!(tail.starts_with("  cd other\n"), "{out}");
    assert!(!tail.contains("kubectl"), "{out}");
    assert!(!d.join("other/k8s").exists());
}

#[test]
fn create_asks_plain_questions_when_stdin_is_not_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let cat = catalogue();
    let fastapi = cat
        .templates
        .iter()
        .position(|t| t.name == "fastapi")
        .unwrap()
        + 1;
    // Name (bad, then good), template by number, database by name, target by default.
    let input = format!("Not Good\nplain-svc\n{fastapi}\nredis\n\n");
    let o = create(d, &[], Some(&input));
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(err.contains("Project name [my-service]:"), "{err}");
    assert!(err.contains("invalid project name"), "{err}");
    assert!(
        err.contains("Template:") && err.contains("Database:"),
        "{err}"
    );
    let req = std::fs::read_to_string(d.join("plain-svc/requirements.txt")).unwrap();
    assert!(req.contains("redis==") && !req.contains("asyncpg"), "{req}");
    assert!(
        d.join("plain-svc/k8s").is_dir(),
        "kubernetes is the default target"
    );

    // Input that ends early is an error, and nothing is written.
    let o = create(d, &[], Some("half-done\n"));
    assert_eq!(o.status.code(), Some(64), "{}", text(&o));
    assert!(text(&o).contains("standard input ended"), "{}", text(&o));
    assert!(!d.join("half-done").exists());
}

#[test]
fn create_lists_the_templates() {
    let tmp = tempfile::tempdir().unwrap();
    let o = create(tmp.path(), &["--list", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let doc: Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = doc["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, catalogue().names());
}

/// The arrow-key questions, typed into a real terminal (tmux).
#[test]
fn create_asks_with_arrow_keys_on_a_terminal() {
    if which("tmux").is_none() {
        return skip("arrow-key prompt", "tmux is not installed");
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let session = format!("bi-create-{}", std::process::id());
    let tmux = |args: &[&str]| run(Command::new("tmux").arg("-L").arg(&session).args(args));
    let o = tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        d.to_str().unwrap(),
        &format!("NO_COLOR=1 {BIN} create; echo EXIT=$?; sleep 30"),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    // The whole scrollback: the answers scroll away under the file table.
    let screen = || {
        String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-S", "-", "-t", &session]).stdout)
            .into_owned()
    };
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let s = screen();
            if s.contains(what) {
                return s;
            }
            assert!(Instant::now() < deadline, "`{what}` never appeared:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let keys = |k: &[&str]| {
        for key in k {
            tmux(&["send-keys", "-t", &session, key]);
            std::thread::sleep(Duration::from_millis(150));
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_for("Project name");
        tmux(&["send-keys", "-t", &session, "-l", "arrow-svc"]);
        keys(&["Enter"]);
        let s = wait_for("↑/↓ to move");
        assert!(s.contains("❯ fastapi"), "fastapi is preselected:\n{s}");
        // Down then up again: back on fastapi.
        keys(&["Down", "Up", "Enter"]);
        wait_for("Database");
        keys(&["Down", "Down", "Enter"]); // redis
        wait_for("Deployment target");
        keys(&["Down", "Enter"]); // local-only
        let s = wait_for("EXIT=");
        assert!(s.contains("EXIT=0"), "{s}");
        assert!(s.contains("✔ Template · fastapi"), "{s}");
        assert!(s.contains("✔ Database · redis"), "{s}");
    }));
    tmux(&["kill-server"]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    let p = d.join("arrow-svc");
    let req = std::fs::read_to_string(p.join("requirements.txt")).unwrap();
    assert!(req.contains("redis==") && !req.contains("asyncpg"), "{req}");
    assert!(!p.join("k8s").exists(), "local-only was chosen");
}
