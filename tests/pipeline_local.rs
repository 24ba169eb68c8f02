//! `pipeline --local` end to end: throwaway projects in temp dirs whose
//! stages are small shell scripts, run through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
}

impl Project {
    fn new(stages_yaml: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("proj");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("blissful-infra.yaml"),
            format!("project: demo\npipeline:\n  stages:\n{stages_yaml}"),
        )
        .unwrap();
        Project {
            _dir: dir,
            root,
            state,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(self.root.join("blissful-infra.yaml"))
            .arg("--state-dir")
            .arg(&self.state)
            .args(args)
            .env("NO_COLOR", "1")
            .current_dir(&self.root);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let out = self.run(&all);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: stdout {:?} stderr {:?}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), doc)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stage<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no stage {name} in {run}"))
}

const JUNIT_OK: &str = r#"<testsuites><testsuite name="s">
<testcase classname="com.acme.CartTest" name="adds"/>
<testcase classname="com.acme.CartTest" name="removes"/>
<testcase classname="com.acme.CartTest" name="empties"><skipped/></testcase>
</testsuite></testsuites>"#;

const JUNIT_FAIL: &str = r#"<testsuite name="s">
<testcase classname="com.acme.CartTest" name="adds"/>
<testcase classname="com.acme.CartTest" name="removes"><failure message="expected 2 but was 3"/></testcase>
</testsuite>"#;

#[test]
fn junit_counts_come_from_the_written_xml() {
    let p = Project::new(
        "    - name: test\n      command: mkdir -p reports && cp fixtures/ok.xml reports/TEST-a.xml && cp fixtures/ok.xml reports/TEST-b.xml\n      junit: [reports/TEST-*.xml]\n",
    );
    p.write("fixtures/ok.xml", JUNIT_OK);
    let (code, run) = p.json(&["pipeline", "--local"]);
    assert_eq!(code, 0, "{run}");
    assert_eq!(run["status"], "passed");
    let j = &stage(&run, "test")["junit"];
    assert_eq!(
        (
            j["tests"].as_u64(),
            j["passed"].as_u64(),
            j["skipped"].as_u64()
        ),
        (Some(6), Some(4), Some(2))
    );
    assert_eq!(j["failed"], 0);
}

#[test]
fn a_failing_stage_fails_the_run_and_names_the_failing_test_first() {
    let p = Project::new(
        "    - name: build\n      command: echo building\n    - name: test\n      command: cp fixtures/fail.xml TEST-x.xml; echo 'boom' >&2; exit 1\n      junit: [TEST-x.xml]\n    - name: deploy\n      command: touch deployed\n",
    );
    p.write("fixtures/fail.xml", JUNIT_FAIL);
    let out = p.run(&["pipeline", "--local"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.contains(" test "))
        .unwrap_or_else(|| panic!("{text}"));
    let after_duration = line.split("s  ").nth(1).unwrap_or_else(|| panic!("{line}"));
    assert!(
        after_duration.starts_with("FAILED com.acme.CartTest.removes: expected 2 but was 3"),
        "{line}"
    );
    assert!(line.contains("tests 1 passed, 1 failed"), "{line}");
    assert!(
        !p.root.join("deployed").exists(),
        "a later stage ran after a failure"
    );
    let (_, run) = p.json(&["pipeline", "show", "1"]);
    assert_eq!(run["status"], "failed");
    assert_eq!(stage(&run, "deploy")["status"], "not_run");
    assert_eq!(stage(&run, "test")["exit_code"], 1);
}

#[test]
fn stages_in_one_parallel_group_overlap() {
    // Each stage waits (bounded) for the other to have started: run one
    // after the other, the first would give up and fail.
    let wait = |me: &str, other: &str| {
        format!(
            "    - name: {me}\n      parallel_group: checks\n      command: touch {me}.started; i=0; while [ ! -e {other}.started ]; do i=$((i+1)); [ $i -gt 400 ] && exit 1; sleep 0.05; done\n"
        )
    };
    let p = Project::new(&format!(
        "{}{}    - name: after\n      command: 'true'\n",
        wait("a", "b"),
        wait("b", "a")
    ));
    let (code, run) = p.json(&["pipeline", "--local"]);
    assert_eq!(code, 0, "{run}");
    let (a, b, after) = (stage(&run, "a"), stage(&run, "b"), stage(&run, "after"));
    let ms = |s: &Value, k: &str| s[k].as_i64().unwrap();
    assert!(ms(a, "started_ms") <= ms(b, "ended_ms") && ms(b, "started_ms") <= ms(a, "ended_ms"));
    assert!(ms(after, "started_ms") >= ms(a, "ended_ms").max(ms(b, "ended_ms")));
}

fn pid_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // A zombie waiting for its (new) parent to reap it is dead too.
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z'),
    }
}

fn wait_for(path: &Path) -> String {
    for _ in 0..600 {
        if let Ok(t) = std::fs::read_to_string(path) {
            if t.ends_with('\n') {
                return t;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{} never appeared", path.display());
}

#[test]
fn ctrl_c_kills_the_stage_process_tree_and_marks_the_run_cancelled() {
    let p = Project::new(
        "    - name: slow\n      command: sleep 300 & echo $! > child.pid; wait\n    - name: next\n      command: touch next-ran\n",
    );
    let mut child = p
        .cmd(&["pipeline", "--local"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid: i32 = wait_for(&p.root.join("child.pid")).trim().parse().unwrap();
    assert!(!pid_gone(pid));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        pid_gone(pid),
        "the stage's child sleep {pid} outlived the cancel"
    );
    assert!(!p.root.join("next-ran").exists());
    let (_, run) = p.json(&["pipeline", "show", "1"]);
    assert_eq!(run["status"], "cancelled");
    assert_eq!(stage(&run, "slow")["status"], "cancelled");
}

#[test]
fn a_missing_tool_skips_the_stage_and_strict_fails_it() {
    let p = Project::new(
        "    - name: scan\n      tool: surely-not-an-installed-tool\n      command: touch scanned\n",
    );
    let out = p.run(&["pipeline", "--local"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("skipped: surely-not-an-installed-tool not installed"),
        "{}",
        stdout(&out)
    );
    assert!(!p.root.join("scanned").exists());
    let (code, run) = p.json(&["pipeline", "--local", "--strict"]);
    assert_eq!(code, 1);
    assert_eq!(stage(&run, "scan")["status"], "failed");
    assert!(stage(&run, "scan")["reason"]
        .as_str()
        .unwrap()
        .contains("not installed"));
}

#[test]
fn unchanged_inputs_skip_a_stage_until_a_file_changes() {
    let p = Project::new(
        "    - name: build\n      inputs: [src]\n      command: echo run >> runs.txt\n",
    );
    p.write("src/main.c", "int main;\n");
    let runs = || {
        std::fs::read_to_string(p.root.join("runs.txt"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(p.json(&["pipeline", "--local"]).0, 0);
    assert_eq!(runs(), 1);
    let (code, run) = p.json(&["pipeline", "--local"]);
    assert_eq!(code, 0);
    assert_eq!(stage(&run, "build")["status"], "skipped");
    assert_eq!(stage(&run, "build")["reason"], "unchanged since run 1");
    assert_eq!(runs(), 1);
    p.write("src/main.c", "int main(void);\n");
    let (_, run) = p.json(&["pipeline", "--local"]);
    assert_eq!(stage(&run, "build")["status"], "passed");
    assert_eq!(runs(), 2);
    let (_, run) = p.json(&["pipeline", "--local", "--force"]);
    assert_eq!(stage(&run, "build")["status"], "passed");
    assert_eq!(runs(), 3);
}

#[test]
fn list_show_and_logs_read_stored_runs() {
    let p = Project::new(
        "    - name: hello\n      command: echo hello from the stage; echo to stderr >&2\n    - name: other\n      command: 'true'\n",
    );
    assert_eq!(p.run(&["pipeline", "--local"]).status.code(), Some(0));
    assert_eq!(
        p.run(&["pipeline", "--local", "--stage", "other"])
            .status
            .code(),
        Some(0)
    );
    let (code, list) = p.json(&["pipeline", "list"]);
    assert_eq!(code, 0);
    let ids: Vec<u64> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(list["runs"][1]["stages"], 1);
    let table = stdout(&p.run(&["pipeline", "list"]));
    assert!(
        table.contains("STATUS") && table.contains("passed"),
        "{table}"
    );
    let show = stdout(&p.run(&["pipeline", "show", "1"]));
    assert!(show.contains("hello") && show.contains("other"), "{show}");
    let logs = stdout(&p.run(&["pipeline", "logs", "1", "--stage", "hello"]));
    assert!(
        logs.contains("hello from the stage") && logs.contains("to stderr"),
        "{logs}"
    );
    let (_, doc) = p.json(&["pipeline", "logs", "1", "--stage", "hello"]);
    assert_eq!(doc["stage"], "hello");
    assert!(doc["log"]
        .as_str()
        .unwrap()
        .contains("hello from the stage"));
    let (code, doc) = p.json(&["pipeline", "show", "99"]);
    assert_eq!(code, 1);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no pipeline run 99"),
        "{doc}"
    );
    let bad = p.run(&["pipeline", "logs", "1", "--stage", "nope"]);
    assert_eq!(bad.status.code(), Some(64));
    let bad = p.run(&["pipeline", "--local", "--stage", "nope"]);
    assert_eq!(bad.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no stage named `nope`"));
}

#[test]
fn a_run_left_running_by_a_dead_process_is_interrupted() {
    let p = Project::new("    - name: a\n      command: 'true'\n");
    assert_eq!(p.run(&["pipeline", "--local"]).status.code(), Some(0));
    let file = p.state.join("pipelines/1/run.json");
    let mut run: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    run["status"] = "running".into();
    run["pid"] = 0.into();
    run["stages"][0]["status"] = "running".into();
    std::fs::write(&file, run.to_string()).unwrap();
    let (_, list) = p.json(&["pipeline", "list"]);
    assert_eq!(list["runs"][0]["status"], "interrupted");
    let (_, next) = p.json(&["pipeline", "--local"]);
    assert_eq!(next["id"], 2);
}

#[test]
fn pipeline_without_local_is_refused_with_the_reason() {
    let p = Project::new("    - name: a\n      command: 'true'\n");
    let out = p.run(&["pipeline"]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--local"));
}

#[test]
fn a_long_stage_log_is_bounded_and_says_how_much_it_dropped() {
    let p = Project::new("    - name: noisy\n      command: seq 1 6000\n");
    let (code, run) = p.json(&["pipeline", "--local"]);
    assert_eq!(code, 0, "{run}");
    let s = stage(&run, "noisy");
    assert_eq!(
        (s["log_lines"].as_u64(), s["log_dropped"].as_u64()),
        (Some(6000), Some(1000))
    );
    let logs = stdout(&p.run(&["pipeline", "logs", "1", "--stage", "noisy"]));
    assert!(
        logs.contains("… 1000 lines dropped"),
        "{}",
        &logs[..200.min(logs.len())]
    );
    assert!(logs.starts_with("1\n") && logs.ends_with("6000\n"));
    // Lines 1001..=2000 are the ones dropped: the head ends at 1000, the tail starts at 2001.
    assert!(logs.contains("\n1000\n… 1000 lines dropped"), "head");
    assert!(
        logs.contains("…\n2001\n") && !logs.contains("\n1500\n"),
        "tail"
    );
}

#[test]
fn coverage_and_severity_gates_and_broken_result_files_fail_their_stage() {
    let p = Project::new(concat!(
        "    - name: cov\n      command: cp fixtures/lcov.info lcov.info\n      coverage: [lcov.info]\n      min_coverage: 80\n",
        "    - name: scan\n      parallel_group: g\n      command: cp fixtures/trivy.json trivy.json\n      trivy: [trivy.json]\n      max_severity: MEDIUM\n",
        "    - name: broken\n      parallel_group: g\n      command: printf '<testsuite>\\n<testcase name=\"a\">\\n</testsuite>' > broken.xml\n      junit: [broken.xml]\n",
    ));
    p.write("fixtures/lcov.info", "SF:a.c\nLF:10\nLH:5\nend_of_record\n");
    p.write(
        "fixtures/trivy.json",
        r#"{"Results":[{"Target":"Cargo.lock","Vulnerabilities":[{"VulnerabilityID":"CVE-1","PkgName":"hyper","InstalledVersion":"0.1","Severity":"HIGH"}]}]}"#,
    );
    let mut run_args = vec!["pipeline", "--local"];
    let (code, run) = p.json(&run_args);
    assert_eq!(code, 1, "{run}");
    assert_eq!(stage(&run, "cov")["status"], "failed");
    assert_eq!(
        stage(&run, "cov")["reason"],
        "coverage 50.0% below min_coverage 80%"
    );
    // The failed first stage stops the rest: run the group on its own.
    run_args.extend(["--stage", "scan"]);
    let (_, run) = p.json(&run_args);
    let scan = stage(&run, "scan");
    assert_eq!(scan["status"], "failed");
    assert_eq!(
        scan["reason"],
        "1 findings above max_severity MEDIUM (worst HIGH)"
    );
    assert_eq!(scan["trivy"]["top"][0]["id"], "CVE-1");
    let (_, run) = p.json(&["pipeline", "--local", "--stage", "broken"]);
    let broken = stage(&run, "broken");
    assert_eq!(broken["status"], "failed");
    let reason = broken["reason"].as_str().unwrap();
    assert!(reason.contains("broken.xml: line 3:"), "{reason}");
}

#[test]
fn read_only_refuses_to_run_stages_but_reads_runs() {
    let p = Project::new("    - name: a\n      command: touch ran\n");
    let out = p.run(&["--read-only", "pipeline", "--local"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--read-only"));
    assert!(!p.root.join("ran").exists());
    assert_eq!(
        p.run(&["--read-only", "pipeline", "list"]).status.code(),
        Some(0)
    );
}

#[path = "pipeline_local/pane.rs"]
mod pane;
