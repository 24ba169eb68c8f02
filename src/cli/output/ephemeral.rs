//! `status` on Kubernetes: the ephemeral environments under the
//! environments table, then one line per expired one with the command that
//! removes it.

use crate::domain::duration::age_text;
use crate::kubernetes::ephemeral::view::{EphemeralState, EphemeralView};
use crate::report::Table;

/// `EPHEMERAL NAMESPACE OWNER AGE TTL STATE`, or one line saying there is
/// none.
pub fn ephemeral_table(views: &[EphemeralView]) -> String {
    if views.is_empty() {
        return "no ephemeral environments (`blissful-infra up --ephemeral NAME` makes one)\n"
            .into();
    }
    let mut t = Table::new(&["EPHEMERAL", "NAMESPACE", "OWNER", "AGE", "TTL", "STATE"]);
    for v in views {
        t.row([
            v.name.clone(),
            v.namespace.clone(),
            v.owner.clone(),
            v.age_secs.map_or_else(|| "-".into(), age_text),
            v.ttl.clone().unwrap_or_else(|| "-".into()),
            v.state.label().to_string(),
        ]);
    }
    let mut out = t.render();
    for v in views.iter().filter(|v| v.state == EphemeralState::Expired) {
        out.push_str(&format!(
            "{}: expired (older than its TTL of {}): remove it with `{}`\n",
            v.name,
            v.ttl.as_deref().unwrap_or("-"),
            v.remove
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubernetes::ephemeral::view::view;
    use serde_json::json;

    #[test]
    fn expired_ones_say_how_to_remove_them() {
        let ns = |name: &str, ttl: &str| {
            json!({"metadata": {"name": name,
                "labels": {"blissful-infra/owner": "alice"},
                "annotations": {"blissful-infra/ttl": ttl, "blissful-infra/created-at": "2026-03-01T10:00:00Z"}}})
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-01T15:02:00Z")
            .unwrap()
            .timestamp_millis();
        let views = [
            view(&ns("orders-pr-42", "4h"), "orders", now),
            view(&ns("orders-pr-7", "2d"), "orders", now),
        ];
        let t = ephemeral_table(&views);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0],
            "EPHEMERAL  NAMESPACE     OWNER  AGE    TTL  STATE"
        );
        assert_eq!(
            lines[1],
            "pr-42      orders-pr-42  alice  5h02m  4h   expired"
        );
        assert_eq!(
            lines[2],
            "pr-7       orders-pr-7   alice  5h02m  2d   active"
        );
        assert_eq!(
            lines[3],
            "pr-42: expired (older than its TTL of 4h): remove it with `blissful-infra down --ephemeral pr-42`"
        );
        assert_eq!(lines.len(), 4);
        assert!(ephemeral_table(&[]).starts_with("no ephemeral environments"));
    }
}
