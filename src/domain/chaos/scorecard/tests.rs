use super::*;

fn read(evidence: &str) -> Finding {
    Finding::Present {
        basis: Basis::Read,
        evidence: evidence.into(),
    }
}

#[test]
fn a_measurement_wins_over_a_read_and_anything_found_over_absent() {
    let measured = Finding::Present {
        basis: Basis::Measured,
        evidence: "circuit_breaker_state on 127.0.0.1:8080".into(),
    };
    let absent = Finding::Absent {
        looked: "12 source files".into(),
    };
    let c = merge(
        Practice::CircuitBreakers,
        &[
            absent.clone(),
            read("app/resilience.py:18"),
            measured.clone(),
        ],
    );
    assert_eq!(c.finding, measured);
    assert_eq!(c.mark(), "yes");
    let c = merge(Practice::Caching, std::slice::from_ref(&absent));
    assert_eq!(c.mark(), "no");
    assert!(c.describe().contains("missing (looked in 12 source files)"));
    let none = merge(Practice::GracefulShutdown, &[]);
    assert_eq!(none.mark(), "?");
    assert!(
        !none.present(),
        "an unchecked practice is never counted as present"
    );
}

#[test]
fn each_scenario_names_the_practices_that_mitigate_it() {
    for k in ScenarioKind::every() {
        assert!(!Practice::mitigating(k).is_empty(), "{k} has no mitigation");
    }
    assert!(
        Practice::mitigating(ScenarioKind::DependencyTimeout).contains(&Practice::CircuitBreakers)
    );
    assert!(Practice::mitigating(ScenarioKind::PodKill).contains(&Practice::DisruptionBudget));
    let all: Vec<PracticeCheck> = Practice::CHECKLIST
        .iter()
        .map(|p| merge(*p, &[read("x.py:1")]))
        .collect();
    let pod_kill = mitigations_for(ScenarioKind::PodKill, &all);
    // The budget was not among the findings: it is left out, not invented.
    assert_eq!(
        pod_kill.iter().map(|c| c.practice).collect::<Vec<_>>(),
        vec![Practice::HealthChecks, Practice::GracefulShutdown]
    );
}

#[test]
fn the_tally_counts_only_what_was_seen() {
    let card = Scorecard {
        score: Some(75.0),
        checklist: vec![
            merge(Practice::CircuitBreakers, &[read("a.go:3")]),
            merge(Practice::Caching, &[]),
        ],
    };
    assert_eq!(card.tally(), "1/2 practices seen");
}
