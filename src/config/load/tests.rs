//! Tests of loading and validating `blissful-infra.yaml`.
#![cfg(test)] // test code only

use super::*;
use crate::config::check::{http_url, S};
use crate::config::locate::locate;
use crate::config::KeyBinding;
use crate::config::{OnDisconnect, RuntimeKind, TimestampMode};
use crate::domain::chaos::ScenarioKind;
use std::collections::BTreeMap;

const FULL: &str = r#"# blissful-infra.yaml: every section, realistic values
project: checkout
runtime: sandbox
theme: light
environments:
  - name: staging
    replicas: 2
    router_port: 8280
    metrics_port: 9280
    initial_version: v1
  - name: production
    replicas: 3
    router_port: 8281
    metrics_port: 9281
    initial_version: v1
    protected: true
service:
  command: ./target/release/checkout --port $PORT
  workdir: services/checkout
  ready_path: /healthz
  versions:
    v2: {}
    v3-slow:
      latency_ms: 400
    v4-buggy:
      error_rate: 0.3
    v5-leaky:
      memory_growth_mib_per_min: 80
traffic:
  rate_per_sec: 25
  paths: [/checkout, /cart]
rollout:
  max_extensions: 2
  steps:
    - weight: 10
      pause_secs: 30
    - weight: 50
      pause_secs: 60
    - weight: 100
      pause_secs: 0
  analysis:
    max_error_rate: 0.02
    min_success_rate: 0.98
    max_p95_ms: 250
    max_p99_ms: 600
    max_latency_ratio: 1.3
    latency_slack_ms: 10
    min_samples: 50
chaos:
  slo:
    max_error_rate: 0.1
    max_p99_ms: 400
    max_recovery_secs: 20
  defaults:
    duration_secs: 45
    latency_ms: 250
    rate: 0.5
    cpu_workers: 2
comparison:
  max_p95_regression_pct: 5
  max_p99_regression_pct: 8
  max_error_rate: 0.005
  min_throughput_ratio: 0.9
  auto_promote: true
agent:
  provider: ollama
  endpoint: http://127.0.0.1:11434
  model: qwen2.5:7b
  fallback_model: qwen2.5:0.5b
  embedding_model: nomic-embed-text
  context_window: 16384
  temperature: 0.1
console:
  log_buffer_lines: 200000
  timestamps: utc
  max_fps: 30
  metric_points: 600
  on_disconnect: undo_faults
keymap:
  deploy: D
  next_env: [n, right]
  prev_env: [N, left]
  focus_logs: 2
"#;

fn invalid(text: &str) -> Vec<ConfigProblem> {
    match Config::from_yaml_str(text, FILE_NAME) {
        Err(ConfigError::Invalid { file, problems }) => {
            assert_eq!(file, FILE_NAME);
            problems
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn parse_err(text: &str) -> (usize, usize, String, String) {
    match Config::from_yaml_str(text, FILE_NAME) {
        Err(e @ ConfigError::Parse { .. }) => {
            let shown = e.to_string();
            let ConfigError::Parse {
                line,
                column,
                message,
                ..
            } = e
            else {
                unreachable!()
            };
            (line, column, message, shown)
        }
        other => panic!("expected Parse, got {other:?}"),
    }
}

fn problem<'a>(ps: &'a [ConfigProblem], field: &str) -> &'a ConfigProblem {
    ps.iter()
        .find(|p| p.field == field)
        .unwrap_or_else(|| panic!("no problem for {field} in {ps:#?}"))
}

#[test]
fn perf_thresholds_are_checked() {
    let ps = invalid("perf:\n  p95_ms: 0\n  max_error_rate: 1.5\n");
    assert!(problem(&ps, "perf.p95_ms").message.contains("> 0"));
    assert!(problem(&ps, "perf.max_error_rate")
        .message
        .contains("0..=1"));
    let c =
        Config::from_yaml_str("perf: { p95_ms: 150, max_error_rate: 0.02 }\n", FILE_NAME).unwrap();
    assert_eq!(c.perf.p95_ms, 150.0);
    assert_eq!(c.perf.max_error_rate, 0.02);
}

#[test]
fn prometheus_analysis_needs_a_url() {
    let ps = invalid("rollout:\n  analysis_source: prometheus\n");
    let p = problem(&ps, "rollout.analysis_source");
    assert!(p.message.contains("prometheus.url"), "{}", p.message);
    let c = Config::from_yaml_str(
        "rollout:\n  analysis_source: prometheus\nprometheus:\n  url: http://127.0.0.1:9090\n",
        FILE_NAME,
    )
    .unwrap();
    assert_eq!(
        c.rollout.analysis_source,
        crate::config::AnalysisSource::Prometheus
    );
}

#[test]
fn defaults_validate() {
    assert_eq!(Config::default().validate(), Ok(()));
}

#[test]
fn empty_file_gives_defaults() {
    for text in ["", "\n", "# nothing here\n", "---\n"] {
        assert_eq!(
            Config::from_yaml_str(text, FILE_NAME).unwrap(),
            Config::default(),
            "{text:?}"
        );
    }
}

#[test]
fn partial_file_keeps_other_defaults() {
    let c = Config::from_yaml_str("project: shop\nconsole:\n  max_fps: 60\n", FILE_NAME).unwrap();
    assert_eq!(c.project, "shop");
    assert_eq!(c.console.max_fps, 60);
    assert_eq!(c.console.log_buffer_lines, 50_000);
    assert_eq!(c.environments, Config::default().environments);
}

#[test]
fn full_example_parses_and_round_trips() {
    let c = Config::from_yaml_str(FULL, FILE_NAME).unwrap();
    assert_eq!(c.project, "checkout");
    assert_eq!(c.runtime, RuntimeKind::Sandbox);
    assert_eq!(c.theme, "light");
    assert_eq!(c.environments.len(), 2);
    assert!(c.environments[1].protected);
    assert_eq!(c.environments[1].replicas, 3);
    assert_eq!(c.service.ready_path, "/healthz");
    assert_eq!(c.service.versions.len(), 4);
    assert_eq!(c.service.versions["v3-slow"].latency_ms, 400);
    assert_eq!(c.traffic.paths, vec!["/checkout", "/cart"]);
    assert_eq!(
        c.rollout
            .steps
            .steps
            .iter()
            .map(|s| s.weight)
            .collect::<Vec<_>>(),
        vec![10, 50, 100]
    );
    assert_eq!(c.rollout.analysis.min_samples, 50);
    assert_eq!(c.chaos.defaults.cpu_workers, 2);
    assert!(c.comparison.auto_promote);
    assert_eq!(c.agent.model, "qwen2.5:7b");
    assert_eq!(c.console.timestamps, TimestampMode::Utc);
    assert_eq!(c.console.on_disconnect, OnDisconnect::UndoFaults);
    assert_eq!(Config::default().console.on_disconnect, OnDisconnect::Keep);
    assert_eq!(
        c.keymap["next_env"],
        KeyBinding::Many(vec!["n".into(), "right".into()])
    );
    assert_eq!(c.keymap["focus_logs"], KeyBinding::One("2".into()));
    assert_ne!(c, Config::default());

    let yaml = serde_saphyr::to_string(&c).unwrap();
    let again = Config::from_yaml_str(&yaml, "round-trip").unwrap();
    assert_eq!(again, c, "round trip through:\n{yaml}");
}

#[test]
fn bad_type_names_line_column_and_field() {
    let text = "project: x\nrollout:\n  analysis:\n    max_error_rate: high\n";
    let (line, column, message, shown) = parse_err(text);
    assert_eq!((line, column), (4, 21));
    assert!(
        message.starts_with("rollout.analysis.max_error_rate: "),
        "{message}"
    );
    assert!(message.contains("`high`"), "{message}");
    assert!(
        shown.starts_with("blissful-infra.yaml:4:21: rollout.analysis.max_error_rate:"),
        "{shown}"
    );

    let (line, _, message, _) =
        parse_err("environments:\n  - name: a\n  - name: b\n    replicas: -3\n");
    assert_eq!(line, 4);
    assert!(
        message.starts_with("environments[1].replicas: "),
        "{message}"
    );
    assert!(message.contains("`-3`"), "{message}");

    let (line, _, message, _) = parse_err("rollout:\n  steps:\n    - weight: 30\n");
    assert_eq!(line, 3);
    assert!(
        message.contains("rollout.steps[0]") && message.contains("pause_secs"),
        "{message}"
    );
}

#[test]
fn a_bad_on_disconnect_names_line_field_and_the_choices() {
    let (line, column, message, shown) = parse_err("project: x\nconsole:\n  on_disconnect: undo\n");
    assert_eq!((line, column), (3, 18));
    assert!(message.starts_with("console.on_disconnect: "), "{message}");
    assert!(
        message.contains("unknown variant `undo`")
            && message.contains("expected one of keep, undo_faults"),
        "{message}"
    );
    assert!(
        shown.starts_with("blissful-infra.yaml:3:18: console.on_disconnect:"),
        "{shown}"
    );
}

#[test]
fn unknown_field_is_named_with_expected_ones() {
    let (line, column, message, _) = parse_err("console:\n  max_fps: 30\n  colour: red\n");
    assert_eq!((line, column), (3, 3));
    assert!(message.contains("console.colour"), "{message}");
    assert!(message.contains("unknown field `colour`"), "{message}");
    assert!(
        message.contains("log_buffer_lines") && message.contains("max_fps"),
        "{message}"
    );
    let (_, _, message, _) = parse_err("projet: typo\n");
    assert!(
        message.contains("`projet`") && message.contains("project"),
        "{message}"
    );
}

#[test]
fn syntax_error_is_located() {
    let (line, _, _, shown) = parse_err("project: x\nenvironments: [unclosed\n");
    assert!(line >= 2, "{shown}");
    assert!(shown.starts_with("blissful-infra.yaml:"), "{shown}");
    let (line, _, message, _) = parse_err("project: a\nproject: b\n");
    assert_eq!(line, 2);
    assert!(message.contains("duplicate"), "{message}");
}

#[test]
fn yaml_1_1_booleans_are_strings_in_keymap() {
    let c = Config::from_yaml_str(
        "keymap:\n  next_env: [n, right]\n  prev_env: y\n",
        FILE_NAME,
    )
    .unwrap();
    assert_eq!(c.keymap["prev_env"], KeyBinding::One("y".into()));
    let (_, _, message, _) = parse_err("keymap:\n  deploy: true\n");
    assert!(
        message.contains("keymap.deploy") && message.contains("quote"),
        "{message}"
    );
}

#[test]
fn duplicate_env_names_are_refused_with_line() {
    let text =
        "environments:\n  - name: staging\n  - name: qa\n  - name: staging\n    replicas: 1\n";
    let ps = invalid(text);
    let p = problem(&ps, "environments[2].name");
    assert_eq!(p.line, Some(4));
    assert!(p.message.contains("twice"), "{p:?}");
    assert_eq!(ps.len(), 1, "{ps:#?}");
    let shown = ConfigError::Invalid {
        file: FILE_NAME.into(),
        problems: ps,
    }
    .to_string();
    assert_eq!(
        shown,
        "blissful-infra.yaml:4: environments[2].name: environment `staging` is defined twice"
    );
}

#[test]
fn env_rules() {
    let ps = invalid(
            "environments:\n  - name: Prod_1\n    replicas: 0\n    router_port: 8000\n  - name: \"\"\n    router_port: 8000\n    metrics_port: 9000\n",
        );
    assert_eq!(problem(&ps, "environments[0].name").line, Some(2));
    assert_eq!(problem(&ps, "environments[0].replicas").line, Some(3));
    let port = problem(&ps, "environments[1].router_port");
    assert_eq!(port.line, Some(6));
    assert!(
        port.message.contains("environments[0].router_port"),
        "{port:?}"
    );
    assert!(problem(&ps, "environments[1].name")
        .message
        .contains("empty"));
    assert_eq!(ps.len(), 4, "{ps:#?}");
    let ps = invalid("environments: []\n");
    assert_eq!(problem(&ps, "environments").line, Some(1));
    let mut c = Config::default();
    c.environments[0].replicas = 21;
    c.environments[1].name = "-prod".into();
    let ps = c.validate().unwrap_err();
    assert_eq!(problem(&ps, "environments[0].replicas").line, None);
    assert!(problem(&ps, "environments[1].name")
        .message
        .contains("start or end"));
}

#[test]
fn invalid_canary_plans() {
    let ps = invalid("rollout:\n  steps:\n    - weight: 50\n      pause_secs: 5\n    - weight: 20\n      pause_secs: 5\n    - weight: 100\n      pause_secs: 5\n");
    let p = problem(&ps, "rollout.steps[1].weight");
    assert_eq!(p.line, Some(5));
    assert!(p.message.contains("not above"), "{p:?}");
    let ps = invalid("rollout:\n  steps:\n    - {weight: 10, pause_secs: 5}\n    - {weight: 90, pause_secs: 5000}\n");
    let p = problem(&ps, "rollout.steps[1].weight");
    assert!(p.message.contains("100%"), "{p:?}");
    assert_eq!(p.line, Some(4));
    assert!(problem(&ps, "rollout.steps[1].pause_secs")
        .message
        .contains("3600"));
    let ps = invalid("rollout:\n  steps: []\n");
    assert_eq!(problem(&ps, "rollout.steps").line, Some(2));
}

#[test]
fn numeric_ranges() {
    let ps = invalid(
            "rollout:\n  analysis:\n    max_error_rate: 1.5\n    min_success_rate: -0.1\n    max_p95_ms: 0\n    max_p99_ms: .nan\ntraffic:\n  rate_per_sec: 20000\nchaos:\n  slo:\n    max_error_rate: 2\n  defaults:\n    rate: 1.01\nagent:\n  temperature: 2.5\n  endpoint: localhost:11434\nconsole:\n  log_buffer_lines: 999\n  max_fps: 0\n",
        );
    for (field, line) in [
        ("rollout.analysis.max_error_rate", 3),
        ("rollout.analysis.min_success_rate", 4),
        ("rollout.analysis.max_p95_ms", 5),
        ("rollout.analysis.max_p99_ms", 6),
        ("traffic.rate_per_sec", 8),
        ("chaos.slo.max_error_rate", 11),
        ("chaos.defaults.rate", 13),
        ("agent.temperature", 15),
        ("agent.endpoint", 16),
        ("console.log_buffer_lines", 18),
        ("console.max_fps", 19),
    ] {
        assert_eq!(problem(&ps, field).line, Some(line), "{field}");
    }
    assert_eq!(ps.len(), 11, "{ps:#?}");
    // The edges themselves are fine.
    let ok = "rollout:\n  analysis:\n    max_error_rate: 1\n    min_success_rate: 0\ntraffic:\n  rate_per_sec: 10000\nagent:\n  temperature: 2\n  endpoint: https://[::1]:8443/api\nconsole:\n  log_buffer_lines: 1000\n  max_fps: 120\n";
    Config::from_yaml_str(ok, FILE_NAME).unwrap();
    let ok = "console:\n  log_buffer_lines: 5000000\n  max_fps: 1\n";
    Config::from_yaml_str(ok, FILE_NAME).unwrap();
}

#[test]
fn endpoint_check() {
    assert!(http_url("http://localhost:11434").is_ok());
    assert!(http_url("https://example.test/v1").is_ok());
    assert!(http_url("https://user@host").is_ok());
    for bad in [
        "localhost:11434",
        "ftp://x",
        "http://",
        "http://:80",
        "http://h:0",
        "http://h:99999",
        "http://a b",
    ] {
        assert!(http_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn locate_handles_block_styles() {
    let text = "a:\n  b:\n  - x: 1\n  - y: 2\n    z:\n      - 7\n      - 8\nc: {d: 1}\n";
    assert_eq!(
        locate(text, &[S::K("a"), S::K("b"), S::I(1), S::K("z"), S::I(1)]),
        Some(7)
    );
    assert_eq!(
        locate(text, &[S::K("a"), S::K("b"), S::I(0), S::K("x")]),
        Some(3)
    );
    assert_eq!(locate(text, &[S::K("c"), S::K("d")]), Some(8));
    assert_eq!(locate(text, &[S::K("missing")]), None);
    assert_eq!(locate(text, &[S::K("b")]), None);
}

#[test]
fn load_and_discover() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("services/checkout");
    std::fs::create_dir_all(&nested).unwrap();
    assert!(
        Config::discover(&nested).unwrap().is_none()
            || dir
                .path()
                .ancestors()
                .skip(1)
                .any(|d| d.join(FILE_NAME).is_file())
    );
    let file = dir.path().join(FILE_NAME);
    std::fs::write(&file, "project: found\n").unwrap();
    let (path, c) = Config::discover(&nested).unwrap().unwrap();
    assert_eq!(path, file);
    assert_eq!(c.project, "found");
    assert_eq!(Config::load(&file).unwrap().project, "found");

    std::fs::write(&file, "console:\n  max_fps: 500\n").unwrap();
    let err = Config::discover(&nested).unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}:2: console.max_fps", file.display())),
        "{err}"
    );

    let missing = dir.path().join("nope.yaml");
    let err = Config::load(&missing).unwrap_err();
    assert!(
        matches!(&err, ConfigError::Io { path, .. } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope.yaml"), "{err}");
}

#[test]
fn hostile_text_in_errors_is_sanitised() {
    let ps = invalid("environments:\n  - name: \"\\e]0;pwned\\a\\e[2J\"\n");
    let msg = ConfigError::Invalid {
        file: FILE_NAME.into(),
        problems: ps,
    }
    .to_string();
    assert!(!msg.contains('\x1b') && !msg.contains('\x07'), "{msg:?}");
    let _ = BTreeMap::<String, KeyBinding>::new();
}

#[test]
fn control_characters_in_names_and_versions_are_refused_with_their_place() {
    let text = "project: \"demo\\e]0;T\\a\"\nenvironments:\n  - name: staging\n    initial_version: \"v1\\e]52;c;aGVsbG8=\\a\\e]0;T\\a\"\nservice:\n  versions:\n    \"v2\\u202e\": {}\n";
    let e = Config::from_yaml_str(text, FILE_NAME).unwrap_err();
    let shown = e.to_string();
    for bad in ['\x1b', '\x07', '\u{202e}'] {
        assert!(!shown.contains(bad), "{shown:?}");
    }
    let ConfigError::Invalid { problems: ps, .. } = e else {
        panic!("expected Invalid, got {e:?}");
    };
    let p = problem(&ps, "environments[0].initial_version");
    assert_eq!(p.line, Some(4));
    assert!(
        p.message.contains("control characters") && p.message.contains("U+001B"),
        "{p:?}"
    );
    assert!(
        shown.contains("blissful-infra.yaml:4: environments[0].initial_version"),
        "{shown}"
    );
    assert_eq!(problem(&ps, "project").line, Some(1));
    assert!(
        problem(&ps, "service.versions.v2")
            .message
            .contains("U+202E"),
        "{ps:?}"
    );
}

#[test]
fn chaos_seed_keys_are_read_and_checked() {
    let c = Config::from_yaml_str(
        "chaos:\n  enabled: false\n  scenarios: [pod-kill, db-latency]\n  default_duration: 5m\n  load_during_chaos: 100\n  abort_on_critical_failure: true\n",
        FILE_NAME,
    )
    .unwrap();
    assert!(!c.chaos.enabled);
    assert_eq!(
        c.chaos.scenarios,
        vec![ScenarioKind::PodKill, ScenarioKind::DbLatency]
    );
    assert_eq!(c.chaos.params().duration_secs, 300);
    assert_eq!(c.chaos.load_during_chaos, 100);
    assert!(c.chaos.abort_on_critical_failure);
    let ps = invalid(
        "chaos:\n  default_duration: 5 parsecs\n  baseline_secs: 0\n  load_during_chaos: 5000\n",
    );
    assert_eq!(problem(&ps, "chaos.default_duration").line, Some(2));
    assert_eq!(problem(&ps, "chaos.baseline_secs").line, Some(3));
    assert_eq!(problem(&ps, "chaos.load_during_chaos").line, Some(4));
    // A scenario that does not exist names its line and the known ones.
    let (line, _, _, message) = parse_err("chaos:\n  scenarios:\n    - pod-kill\n    - meteor\n");
    assert_eq!(line, 4, "{message}");
    assert!(
        message.contains("meteor") && message.contains("dns-failure"),
        "{message}"
    );
}

#[test]
fn chaos_seed_slos_and_tool_are_read_checked_and_honoured() {
    let c = Config::from_yaml_str(
        "chaos:\n  tool: chaos-mesh\n  slos:\n    max_error_rate_percent: 2\n    max_p99_latency_ms: 800\n    max_recovery_time_s: 45\n",
        FILE_NAME,
    )
    .unwrap();
    assert_eq!(c.chaos.tool, crate::config::ChaosTool::ChaosMesh);
    assert!((c.chaos.slo.max_error_rate - 0.02).abs() < 1e-12);
    assert_eq!(c.chaos.slo.max_p99_ms, 800.0);
    assert_eq!(c.chaos.slo.max_recovery_secs, 45);
    assert!(c.chaos.slos.is_none(), "folded into chaos.slo");
    assert!(c.chaos.refusal("sandbox").is_some());
    assert!(c.chaos.refusal("kubernetes").is_none());

    let ps = invalid(
        "chaos:\n  slo: { max_error_rate: 0.1 }\n  slos:\n    max_error_rate_percent: 250\n    max_recovery_time_s: 0\n",
    );
    assert_eq!(problem(&ps, "chaos.slos").line, Some(3));
    let pct = problem(&ps, "chaos.slos.max_error_rate_percent");
    assert_eq!(pct.line, Some(4));
    assert!(pct.message.contains("0..=100"), "{pct:?}");
    assert_eq!(problem(&ps, "chaos.slos.max_recovery_time_s").line, Some(5));

    let (line, _, message, shown) = parse_err("chaos:\n  tool: litmus\n");
    assert_eq!(line, 2);
    assert!(shown.contains("chaos.tool"), "{shown}");
    assert!(message.contains("chaos-mesh"), "{message}");
}
