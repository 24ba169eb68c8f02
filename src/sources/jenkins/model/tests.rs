use super::*;

#[test]
fn runs_map_with_their_stages() {
    let body = br##"[{"id":"12","name":"#12","status":"IN_PROGRESS","startTimeMillis":1000,
        "durationMillis":500,"stages":[{"id":"6","name":"Build","status":"SUCCESS",
        "startTimeMillis":1001,"durationMillis":200},{"id":"9","name":"Test",
        "status":"IN_PROGRESS","startTimeMillis":1201,"durationMillis":-3}]},
        {"id":"","name":"#11","status":"FAILED","stages":[]},
        {"id":"x","name":"no number"}]"##;
    let runs = parse_runs(body).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].number, 12);
    assert_eq!(runs[0].status, Status::InProgress);
    assert_eq!(runs[0].stages[1].name, "Test");
    assert_eq!(runs[0].stages[1].duration_ms, 0, "negative durations are 0");
    assert_eq!(runs[1].number, 11);
    assert_eq!(runs[1].status, Status::Failed);
}

#[test]
fn hostile_names_are_cleaned_and_bounded() {
    let long = "x".repeat(1000);
    let body = format!(
        r##"{{"id":"3","name":"#3\u001b]0;pwn\u0007","status":"\u001b[31mWEIRD","stages":[{{"id":"1","name":"{long}\u001b[2J","status":"SUCCESS"}}]}}"##
    );
    let run = parse_describe(body.as_bytes()).unwrap().unwrap();
    assert!(!run.name.contains('\u{1b}') && !run.name.contains('\u{7}'));
    assert_eq!(run.status, Status::Other("WEIRD".into()));
    assert!(run.stages[0].name.chars().count() <= MAX_TEXT + 1);
    assert!(!run.stages[0].name.contains('\u{1b}'));
}

#[test]
fn build_parameters_come_from_the_parameters_action() {
    let body = br#"{"_class":"org.jenkinsci.plugins.workflow.job.WorkflowRun","number":12,
        "result":null,"building":true,"timestamp":5,"duration":0,"actions":[{},null,
        {"_class":"hudson.model.ParametersAction","parameters":[
        {"_class":"hudson.model.StringParameterValue","name":"ENV","value":"staging"},
        {"_class":"hudson.model.BooleanParameterValue","name":"DRY","value":true}]}]}"#;
    let b = parse_build(body).unwrap();
    assert!(b.building);
    assert_eq!(b.result, None);
    assert_eq!(
        b.params,
        vec![
            Param {
                name: "ENV".into(),
                value: "staging".into()
            },
            Param {
                name: "DRY".into(),
                value: "true".into()
            }
        ]
    );
}

#[test]
fn a_queue_location_gives_its_id() {
    let q = queued("http://j:8080/queue/item/42/");
    assert_eq!(q.queue_id, Some(42));
    assert_eq!(queued("http://j/queue/").queue_id, None);
}

#[test]
fn statuses_read_both_vocabularies() {
    assert_eq!(Status::parse("FAILURE"), Status::Failed);
    assert_eq!(
        Status::parse("PAUSED_PENDING_INPUT"),
        Status::PausedPendingInput
    );
    assert!(Status::parse("PAUSED_PENDING_INPUT").is_running());
    assert!(!Status::parse("UNSTABLE").is_running());
}
