//! Tests of `render.rs`.
#![cfg(test)] // test code only

use super::*;
use crate::scaffold::source::MemorySource;
use crate::scaffold::{Database, Target};

const META: &str = "name = \"demo\"\ndescription = \"d\"\nlanguage = \"python\"\nkind = \"backend\"\nport = 9000\nnative_command = \"run $PORT\"\nnative_setup = \"setup\"\ntest_command = \"test\"\nbuild_command = \"docker build -t {{image}} .\"\n";

fn choices(db: Database) -> Choices {
    Choices {
        name: "my-service".into(),
        template: "demo".into(),
        backend: None,
        database: db,
        target: Target::Kubernetes,
    }
}

fn src() -> MemorySource {
    MemorySource::new()
        .with("demo/template.toml", META)
        .with("_common/files/README.md.j2", "common {{ project }}\n")
        .with("_common/files/shared.txt", "from common\n")
        .with("demo/files/shared.txt", "from demo\n")
        .with("demo/files/app/{{raw}}.txt", "{{ not rendered }}")
        .with(
            "demo/files/src/__package__/__project__.kt.j2",
            "package {{ package }} // {{ port }}\n",
        )
        .with(
            "demo/files/__if_postgres__/db/schema.sql",
            "create table t();\n",
        )
        .with("demo/files/__if_redis__/cache.txt.j2", "{{ database }}\n")
        .with("demo/files/_gitignore", ".venv/\n")
        .with("demo/files/ci/build.sh", "echo hi\n")
}

fn file<'a>(p: &'a Plan, path: &str) -> &'a str {
    let f = p
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} missing in {:?}", paths(p)));
    std::str::from_utf8(&f.contents).unwrap()
}

fn paths(p: &Plan) -> Vec<&str> {
    p.files.iter().map(|f| f.path.as_str()).collect()
}

#[test]
fn paths_are_mapped_and_j2_files_rendered() {
    let p = plan(&src(), &choices(Database::Postgres)).unwrap();
    assert_eq!(
        paths(&p),
        vec![
            ".gitignore",
            "README.md",
            "app/{{raw}}.txt",
            "ci/build.sh",
            "db/schema.sql",
            "shared.txt",
            "src/com/example/my_service/my-service.kt",
        ]
    );
    assert_eq!(file(&p, "README.md"), "common my-service\n");
    assert_eq!(file(&p, "app/{{raw}}.txt"), "{{ not rendered }}");
    assert_eq!(
        file(&p, "src/com/example/my_service/my-service.kt"),
        "package com.example.my_service // 9000\n"
    );
    assert_eq!(
        file(&p, "shared.txt"),
        "from demo\n",
        "the template overrides _common"
    );
    assert!(
        p.files
            .iter()
            .find(|f| f.path == "ci/build.sh")
            .unwrap()
            .executable
    );
    assert!(
        !p.files
            .iter()
            .find(|f| f.path == "README.md")
            .unwrap()
            .executable
    );
    assert_eq!(p.context.build_command, "docker build -t my-service .");
}

#[test]
fn condition_folders_follow_the_database() {
    let p = plan(&src(), &choices(Database::Redis)).unwrap();
    assert!(!paths(&p).contains(&"db/schema.sql"));
    assert_eq!(file(&p, "cache.txt"), "redis\n");
    let p = plan(&src(), &choices(Database::None)).unwrap();
    assert!(!paths(&p)
        .iter()
        .any(|x| x.contains("schema") || x.contains("cache")));
}

#[test]
fn a_render_error_names_the_file_and_line() {
    let s = src().with(
        "demo/files/config.yaml.j2",
        "a: 1\nb: {{ project }}\nc: {{ no_such_variable }}\n",
    );
    let e = plan(&s, &choices(Database::None)).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("templates/demo/files/config.yaml.j2:3:") && msg.contains("undefined"),
        "{msg}"
    );
    let s = src().with("demo/files/bad.txt.j2", "ok\n{% if %}\n");
    let msg = plan(&s, &choices(Database::None)).unwrap_err().to_string();
    assert!(msg.contains("templates/demo/files/bad.txt.j2:2:"), "{msg}");
}

#[test]
fn unknown_condition_folders_and_escaping_paths_are_refused() {
    let s = src().with("demo/files/__if_mongo__/x.txt", "x");
    let msg = plan(&s, &choices(Database::None)).unwrap_err().to_string();
    assert!(msg.contains("__if_mongo__"), "{msg}");
    let s = src().with("demo/files/../escape.txt", "x");
    let msg = plan(&s, &choices(Database::None)).unwrap_err().to_string();
    assert!(msg.contains("`..`"), "{msg}");
}

#[test]
fn includes_reach_partials_by_their_path() {
    let s = src()
        .with(
            "_common/partials/stages.j2",
            "{% set stages = ['build', 'deploy'] %}",
        )
        .with(
            "demo/files/stages.txt.j2",
            "{% from '_common/partials/stages.j2' import stages %}{{ stages | join(',') }}\n",
        );
    let p = plan(&s, &choices(Database::None)).unwrap();
    assert_eq!(file(&p, "stages.txt"), "build,deploy\n");
    assert!(!paths(&p).iter().any(|x| x.contains("partials")));
}

#[test]
fn names_and_templates_are_checked_before_rendering() {
    let mut c = choices(Database::None);
    c.name = "Bad Name".into();
    assert!(matches!(
        plan(&src(), &c),
        Err(ScaffoldError::InvalidName { .. })
    ));
    let mut c = choices(Database::None);
    c.template = "nope".into();
    let e = plan(&src(), &c).unwrap_err().to_string();
    assert!(
        e.contains("unknown template `nope`") && e.contains("demo"),
        "{e}"
    );
    let mut c = choices(Database::None);
    c.backend = Some("demo".into());
    assert!(matches!(
        plan(&src(), &c),
        Err(ScaffoldError::BackendWithoutFullstack { .. })
    ));
}

fn fullstack_src() -> MemorySource {
    let backend = META.replace("name = \"demo\"", "name = \"api\"");
    MemorySource::new()
            .with("api/template.toml", &backend)
            .with("api/files/main.py.j2", "# {{ template }} {{ kind }}\n")
            .with(
                "web/template.toml",
                "name = \"web\"\ndescription = \"d\"\nlanguage = \"typescript\"\nkind = \"frontend\"\nport = 5173\nnative_command = \"npm run dev\"\nnative_setup = \"npm ci\"\ntest_command = \"npm test\"\n",
            )
            .with("web/files/index.html.j2", "<title>{{ project }} {{ kind }} {{ port }}</title>\n")
            .with(
                "fullstack/template.toml",
                "name = \"fullstack\"\ndescription = \"d\"\nkind = \"fullstack\"\nfrontend = \"web\"\ndefault_backend = \"api\"\n",
            )
            .with("fullstack/files/shared/types.ts", "export {};\n")
            .with(
                "_common/files/stack.txt.j2",
                "{{ workdir }} {{ frontend_dir }} {{ \"yes\" if fullstack else \"no\" }} {{ port }} {{ frontend_port }} {{ native_command }} {{ frontend_setup }}\n",
            )
            .with("_common/files/__if_fullstack__/both.txt", "x")
}

#[test]
fn fullstack_composes_backend_frontend_and_shared() {
    let mut c = choices(Database::None);
    c.template = "fullstack".into();
    let p = plan(&fullstack_src(), &c).unwrap();
    assert_eq!(
        paths(&p),
        vec![
            "backend/main.py",
            "both.txt",
            "frontend/index.html",
            "shared/types.ts",
            "stack.txt"
        ],
        "_common is laid once, at the root"
    );
    assert_eq!(file(&p, "backend/main.py"), "# api backend\n");
    assert_eq!(
        file(&p, "frontend/index.html"),
        "<title>my-service frontend 5173</title>\n"
    );
    assert_eq!(
        file(&p, "stack.txt"),
        "backend frontend yes 9000 5173 run $PORT npm ci\n"
    );
    assert_eq!(p.backend.as_ref().map(|b| b.name.as_str()), Some("api"));

    c.backend = Some("web".into());
    let e = plan(&fullstack_src(), &c).unwrap_err().to_string();
    assert!(e.contains("it is a frontend template"), "{e}");
    c.backend = Some("nope".into());
    let e = plan(&fullstack_src(), &c).unwrap_err().to_string();
    assert!(e.contains("backends: api"), "{e}");
}

#[test]
fn tojson_quotes_for_yaml() {
    let s = src().with(
        "demo/files/q.yaml.j2",
        "command: {{ native_command | tojson }}\n",
    );
    let p = plan(&s, &choices(Database::None)).unwrap();
    assert_eq!(file(&p, "q.yaml"), "command: \"run $PORT\"\n");
}
