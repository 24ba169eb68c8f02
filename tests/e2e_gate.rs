//! End to end in tmux: the console's promote passes the resilience gate.
//! staging's last FMEA scored 50 (below the minimum 80): `p` on staging,
//! confirmed, does not promote but opens the override dialog with the
//! score; only typing the target's name lets it through, and the override
//! is in the audit journal before the promotion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::time::Duration;

use support::tmux::TmuxSession;

const BIN: &str = env!("CARGO_BIN_EXE_blissful-infra");

const CONFIG: &str = "
project: gate
environments:
  - { name: staging, replicas: 1, router_port: 0, metrics_port: 0 }
  - { name: qa, replicas: 1, router_port: 0, metrics_port: 0 }
traffic:
  rate_per_sec: 10
comparison:
  thresholds: { min_resilience_score: 80 }
";

#[test]
fn a_low_fmea_score_stops_the_consoles_promote_until_a_typed_override() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blissful-infra.yaml"), CONFIG).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(state.join("knowledge")).unwrap();
    std::fs::write(
        state.join("knowledge").join("chaos.jsonl"),
        "{\"env\":\"staging\",\"started_at\":1,\"score\":50.0}\n",
    )
    .unwrap();
    let script = dir.path().join("console.sh");
    std::fs::write(
        &script,
        format!(
            "cd {d}\nexport BLISSFUL_INFRA_STATE_DIR={d}/state TERM=xterm-256color\n{BIN}\necho CONSOLE-EXITED\nsleep 60\n",
            d = dir.path().display()
        ),
    )
    .unwrap();
    let t = TmuxSession::start(160, 45, &format!("sh {}", script.display()));
    t.wait_for("the sandbox to be healthy", Duration::from_secs(60), |s| {
        s.matches("Healthy").count() >= 2
    });
    // staging is selected first; `p` promotes it to the next environment.
    t.keys(&["p"]);
    t.wait_for("the promote confirmation", Duration::from_secs(10), |s| {
        s.contains("from staging to qa")
    });
    t.keys(&["y"]);
    let gate = t.wait_for("the gate's override dialog", Duration::from_secs(15), |s| {
        s.contains("Type qa to override")
    });
    assert!(gate.contains("scored 50/100"), "{gate}");
    let audit = state.join("audit.jsonl");
    let overrides = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("override resilience gate"))
            .count()
    };
    assert_eq!(
        overrides(),
        0,
        "nothing is overridden before the name is typed"
    );
    // `y` alone is a typed letter here, not a yes.
    t.keys(&["y", "Enter"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(overrides(), 0);
    t.keys(&["BSpace"]);
    t.literal("qa");
    t.keys(&["Enter"]);
    t.wait_for("the promotion to start", Duration::from_secs(15), |s| {
        s.contains("promote staging → qa")
    });
    let journal = std::fs::read_to_string(&audit).unwrap();
    assert_eq!(overrides(), 1, "{journal}");
    assert!(journal.contains("scored 50/100"), "{journal}");
    t.keys(&["q"]);
}
