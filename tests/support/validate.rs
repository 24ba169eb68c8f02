//! `../shared/tools/validate-manifests` for tests: the script, the Python
//! venv it runs in (`target/validate-venv`, or `$VALIDATE_VENV`, created
//! with `../shared/tools/setup-validators` when missing), and small process
//! helpers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A tool on the PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Run with stdin closed; panics only when the program cannot start.
pub fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"))
}

/// What a command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Say on stderr that a check was skipped, and why.
pub fn skip(what: &str, why: &str) {
    eprintln!("SKIPPED {what}: {why}");
}

/// The validate-manifests script and the venv it runs in, or why not.
fn validator() -> Result<(PathBuf, PathBuf), String> {
    let script = Path::new(ROOT).join("../shared/tools/validate-manifests");
    if !script.is_file() {
        return Err(format!("{} not found", script.display()));
    }
    which("python3").ok_or("python3 is not installed")?;
    let venv = std::env::var_os("VALIDATE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/validate-venv"));
    static SETUP: OnceLock<()> = OnceLock::new();
    SETUP.get_or_init(|| {
        if !venv.join("bin/python").is_file()
            || run(Command::new(venv.join("bin/python")).args(["-c", "import kubernetes_validate"]))
                .status
                .code()
                != Some(0)
        {
            let setup = Path::new(ROOT).join("../shared/tools/setup-validators");
            let o = run(Command::new("sh").arg(&setup).arg(&venv));
            assert!(
                o.status.success(),
                "setup-validators failed (it needs PyPI once):\n{}",
                text(&o)
            );
        }
    });
    Ok((script, venv))
}

/// validate-manifests with `extra` options on `args`; `Err` says why it
/// cannot run here.
pub fn validate(args: &[&Path], extra: &[&str]) -> Result<Output, String> {
    let (script, venv) = validator()?;
    let mut cmd = Command::new(venv.join("bin/python"));
    cmd.arg(&script).args(extra).args(args);
    cmd.env("VALIDATE_VENV", &venv);
    Ok(run(&mut cmd))
}

/// Check the JSON document `doc` against the JSON Schema (2020-12) at
/// `schema` with the venv's `jsonschema`; the output lists every error.
pub fn json_schema(schema: &Path, doc: &Path) -> Result<Output, String> {
    let (_, venv) = validator()?;
    const CHECK: &str = "import json, sys, jsonschema\n\
schema = json.load(open(sys.argv[1])); doc = json.load(open(sys.argv[2]))\n\
jsonschema.Draft202012Validator.check_schema(schema)\n\
errors = list(jsonschema.Draft202012Validator(schema).iter_errors(doc))\n\
for e in errors: print('/'.join(map(str, e.absolute_path)) + ': ' + e.message)\n\
sys.exit(1 if errors else 0)\n";
    Ok(run(Command::new(venv.join("bin/python"))
        .args(["-c", CHECK])
        .arg(schema)
        .arg(doc)))
}
