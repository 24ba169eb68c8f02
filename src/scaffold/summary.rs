//! What `create` tells the user afterwards: the files table and next steps.

use super::cmd::CreateReport;
use super::render::Plan;
use crate::report::Table;

/// The commands to run next, in order.
pub fn next_steps(plan: &Plan, shown_dir: &str) -> Vec<String> {
    let c = &plan.context;
    let mut v = vec![format!("cd {}", shell_word(shown_dir))];
    match (&plan.backend, &plan.frontend) {
        (Some(_), Some(f)) => {
            v.push(format!(
                "(cd backend && {} && {})",
                c.native_setup, c.test_command
            ));
            v.push(format!(
                "(cd frontend && {} && {})",
                f.native_setup, f.test_command
            ));
        }
        _ => {
            v.push(c.native_setup.clone());
            v.push(c.test_command.clone());
        }
    }
    v.push("blissful-infra    # the console: runs the service natively in the sandbox".into());
    v.push(
        "docker compose up --build    # the service with Kafka (and its database) in containers"
            .into(),
    );
    if c.kubernetes {
        v.push("kubectl apply -k k8s/overlays/ephemeral    # or let Argo CD sync argocd/".into());
    }
    v
}

/// `s` as one POSIX shell word (quoted only when it has to be).
pub fn shell_word(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn human_bytes(n: usize) -> String {
    if n < 1024 {
        format!("{n} B")
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// The report as the table shown to a person.
pub fn report_table(r: &CreateReport) -> String {
    let mut s = String::new();
    let from = match (&r.backend, &r.frontend) {
        (Some(b), Some(f)) => format!("{} ({b} + {f})", r.template),
        _ => r.template.clone(),
    };
    s.push_str(&format!(
        "Created {} from {from} (database: {}, target: {}) in {}\n\n",
        r.project, r.database, r.target, r.directory
    ));
    let mut t = Table::new(&["FILE", "BYTES"]);
    for f in &r.files {
        t.row([f.path.clone(), f.bytes.to_string()]);
    }
    s.push_str(&t.render());
    s.push_str(&format!(
        "{} files, {}\n\nNext steps:\n",
        r.files.len(),
        human_bytes(r.total_bytes)
    ));
    for step in &r.next_steps {
        s.push_str(&format!("  {step}\n"));
    }
    s
}
