//! Tests of `create`: choices, files, report and next steps.
#![cfg(test)] // test code only

use super::*;
use crate::scaffold::prompt::PlainPrompter;
use crate::scaffold::source::MemorySource;

const META: &str = "description = \"d\"\nlanguage = \"python\"\nkind = \"backend\"\nport = 9000\nnative_command = \"run $PORT\"\nnative_setup = \"setup\"\ntest_command = \"test\"\n";

fn src() -> MemorySource {
    MemorySource::new()
        .with(
            "fastapi/template.toml",
            &format!("name = \"fastapi\"\n{META}"),
        )
        .with(
            "express/template.toml",
            &format!("name = \"express\"\n{META}"),
        )
        .with(
            "fastapi/files/app.py.j2",
            "# {{ project }} {{ database }}\n",
        )
        .with("express/files/app.js", "//\n")
}

#[test]
fn flags_need_no_questions() {
    let tmp = tempfile::tempdir().unwrap();
    let args = CreateArgs {
        name: Some("svc".into()),
        template: Some("express".into()),
        database: Some(Database::Redis),
        target: Some("local-only".into()),
        ..Default::default()
    };
    let r = run_create(&args, &src(), None, tmp.path()).unwrap();
    assert_eq!(r.template, "express");
    assert_eq!(
        r.files,
        vec![FileEntry {
            path: "app.js".into(),
            bytes: 3
        }]
    );
    assert_eq!(r.next_steps[0], "cd svc");
    assert!(!r.next_steps.iter().any(|s| s.contains("kubectl")));
    assert!(tmp.path().join("svc/app.js").is_file());
    let table = report_table(&r);
    assert!(
        table.contains("FILE") && table.contains("Next steps:\n  cd svc\n"),
        "{table}"
    );
}

#[test]
fn plain_questions_fill_the_gaps() {
    let tmp = tempfile::tempdir().unwrap();
    // name, template (fastapi is listed first), database (postgres), target (local-only)
    let input = "shop\n1\n2\n2\n";
    let mut p = PlainPrompter::new(std::io::Cursor::new(input.as_bytes().to_vec()), Vec::new());
    let r = run_create(&CreateArgs::default(), &src(), Some(&mut p), tmp.path()).unwrap();
    assert_eq!(
        (r.project.as_str(), r.template.as_str()),
        ("shop", "fastapi")
    );
    assert_eq!(r.database, Database::Postgres);
    assert_eq!(r.target, Target::LocalOnly);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("shop/app.py")).unwrap(),
        "# shop postgres\n"
    );
}

#[test]
fn yes_takes_the_defaults_and_no_name_without_questions_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let args = CreateArgs {
        yes: true,
        ..Default::default()
    };
    let r = run_create(&args, &src(), None, tmp.path()).unwrap();
    assert_eq!(r.project, DEFAULT_NAME);
    assert_eq!(r.template, DEFAULT_TEMPLATE);
    assert_eq!(r.target, Target::Kubernetes);
    let e = run_create(&CreateArgs::default(), &src(), None, tmp.path()).unwrap_err();
    assert!(e.to_string().contains("project name is required"), "{e}");
}

#[test]
fn errors_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: Vec<(CreateArgs, &str)> = vec![
        (
            CreateArgs {
                name: Some("Bad_Name".into()),
                yes: true,
                ..Default::default()
            },
            "invalid project name",
        ),
        (
            CreateArgs {
                name: Some("svc".into()),
                template: Some("rails".into()),
                yes: true,
                ..Default::default()
            },
            "unknown template `rails` (available: fastapi, express)",
        ),
        (
            CreateArgs {
                name: Some("svc".into()),
                backend: Some("express".into()),
                yes: true,
                ..Default::default()
            },
            "only applies to the fullstack template",
        ),
        (
            CreateArgs {
                name: Some("svc".into()),
                target: Some("cloud".into()),
                ..Default::default()
            },
            "create --target cloud: not supported yet; supported targets: kubernetes, local-only; nothing was created",
        ),
        (
            CreateArgs {
                name: Some("svc".into()),
                target: Some("k8s\u{1b}[2J".into()),
                yes: true,
                ..Default::default()
            },
            "create --target k8s: not a known target; supported targets: kubernetes, local-only",
        ),
    ];
    for (args, want) in cases {
        let e = run_create(&args, &src(), None, tmp.path()).unwrap_err();
        if args.target.is_some() {
            assert_eq!(
                (e.kind(), e.exit_code()),
                ("unsupported_target", exit::REFUSED)
            );
        }
        assert!(e.to_string().contains(want), "{e}");
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0, "{want}");
    }
    std::fs::create_dir(tmp.path().join("svc")).unwrap();
    std::fs::write(tmp.path().join("svc/keep.txt"), "mine").unwrap();
    let args = CreateArgs {
        name: Some("svc".into()),
        yes: true,
        ..Default::default()
    };
    let e = run_create(&args, &src(), None, tmp.path()).unwrap_err();
    assert_eq!(e.exit_code(), exit::REFUSED);
    assert!(e.to_string().contains("not empty"), "{e}");
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("svc")).unwrap().collect();
    assert_eq!(left.len(), 1);
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "no staging folder"
    );
}

#[test]
fn dir_places_the_project_and_is_shown_as_given() {
    let tmp = tempfile::tempdir().unwrap();
    let args = CreateArgs {
        name: Some("svc".into()),
        dir: Some(PathBuf::from("nested/place")),
        yes: true,
        ..Default::default()
    };
    let r = run_create(&args, &src(), None, tmp.path()).unwrap();
    assert!(tmp.path().join("nested/place/app.py").is_file());
    assert_eq!(r.directory, "nested/place");
    assert_eq!(r.next_steps[0], "cd nested/place");
    let odd = CreateArgs {
        name: Some("svc".into()),
        dir: Some(PathBuf::from("with space")),
        yes: true,
        ..Default::default()
    };
    let r = run_create(&odd, &src(), None, tmp.path()).unwrap();
    assert_eq!(r.next_steps[0], "cd 'with space'");
}

#[test]
fn hostile_template_names_are_not_echoed_raw() {
    let tmp = tempfile::tempdir().unwrap();
    let args = CreateArgs {
        name: Some("svc".into()),
        template: Some("x\u{1b}]0;pwned\u{7}".into()),
        yes: true,
        ..Default::default()
    };
    let e = run_create(&args, &src(), None, tmp.path())
        .unwrap_err()
        .to_string();
    assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e:?}");
}

#[test]
fn a_render_error_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let s = src().with("fastapi/files/z.txt.j2", "{{ nope }}");
    let args = CreateArgs {
        name: Some("svc".into()),
        yes: true,
        ..Default::default()
    };
    let e = run_create(&args, &s, None, tmp.path()).unwrap_err();
    assert!(
        e.to_string().contains("templates/fastapi/files/z.txt.j2:1"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}
