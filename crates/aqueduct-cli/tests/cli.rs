//! Black-box tests of the `aqueduct` binary: exit codes and outputs.

use assert_cmd::Command;
use std::path::Path;

/// The binary, with a fixed terminal width and no colour.
fn aqueduct() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aqueduct"));
    cmd.env("COLUMNS", "100").env("NO_COLOR", "1");
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let out = cmd.output().expect("the binary runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, rel: &str, bytes: &[u8]) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, bytes).expect("write");
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("valid JSON")
}

#[test]
fn help_is_stable() {
    let r = run(aqueduct().arg("--help"));
    assert_eq!(r.code, 0);
    insta::assert_snapshot!("help", r.stdout);
}

#[test]
fn subcommand_help_lists_the_sketched_flags() {
    let r = run(aqueduct().args(["run", "--help"]));
    assert_eq!(r.code, 0);
    for flag in ["--flow", "--env", "--admin", "--log-format"] {
        assert!(r.stdout.contains(flag), "run --help mentions {flag}");
    }
    let r = run(aqueduct().args(["build", "--help"]));
    for flag in [
        "--out",
        "--flow",
        "--runtime-path",
        "--runtime-version",
        "--compile",
    ] {
        assert!(r.stdout.contains(flag), "build --help mentions {flag}");
    }
    let r = run(aqueduct().args(["test", "--help"]));
    assert!(r.stdout.contains("--filter") && r.stdout.contains("junit"));
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(run(aqueduct().arg("frobnicate")).code, 2);
    assert_eq!(run(aqueduct().args(["check", "--format", "xml"])).code, 2);
    assert_eq!(run(aqueduct().arg("explain")).code, 2);
}

#[test]
fn missing_path_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().arg("check").arg(dir.path().join("nope")));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("cannot read") && r.stderr.contains("nope"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_path_that_is_not_aq_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "notes.txt", b"hi");
    let r = run(aqueduct().arg("check").arg(dir.path().join("notes.txt")));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("neither a directory nor a `.aq` file"),
        "{}",
        r.stderr
    );
}

#[test]
fn empty_project_is_aq0904() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "target/skipped.aq", b"\xff");
    write(dir.path(), ".hidden/skipped.aq", b"\xff");
    let r = run(aqueduct().arg("check").arg(dir.path()));
    assert_eq!(r.code, 1);
    assert!(r.stdout.contains("AQ0904"), "{}", r.stdout);
    assert!(
        r.stderr.contains("checked 0 files: 1 error"),
        "{}",
        r.stderr
    );
    let r = run(aqueduct().arg("-q").arg("check").arg(dir.path()));
    assert!(r.stderr.is_empty(), "-q hides the summary: {}", r.stderr);
}

#[test]
fn non_utf8_file_is_aq0106_at_the_first_bad_byte() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "flows/bad.aq", b"// ok\n// caf\xe9\n");
    let r = run(aqueduct()
        .args(["check", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(r.code, 1);
    let diags = json(&r.stdout);
    assert_eq!(diags[0]["code"], "AQ0106");
    assert_eq!(diags[0]["file"], "flows/bad.aq");
    assert_eq!(diags[0]["labels"][0]["start"], 12);
    assert_eq!(diags[0]["start"]["line"], 2);
}

#[test]
fn oversized_file_is_aq0108() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "big.aq", &vec![b' '; 16 * 1024 * 1024 + 1]);
    let r = run(aqueduct()
        .args(["check", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(r.code, 1);
    assert_eq!(json(&r.stdout)[0]["code"], "AQ0108");
}

#[test]
fn manifest_unknown_key_points_at_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "aqueduct.yaml",
        b"name: shop\nstaet: sqlite://s.db\n",
    );
    write(dir.path(), "main.aq", b"");
    let r = run(aqueduct()
        .args(["check", "--format", "json"])
        .arg(dir.path()));
    assert_eq!(r.code, 1);
    let d = &json(&r.stdout)[0];
    assert_eq!(d["code"], "AQ0902");
    assert_eq!(
        (
            d["labels"][0]["start"].as_u64(),
            d["labels"][0]["end"].as_u64()
        ),
        (Some(11), Some(16))
    );
    let r = run(aqueduct().arg("check").arg(dir.path()));
    insta::assert_snapshot!("manifest_unknown_key", r.stdout);
}

#[test]
fn github_and_sarif_paths_include_the_project_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "proj/bad.aq", b"\xff");
    let r = run(aqueduct()
        .current_dir(dir.path())
        .args(["check", "--format", "github", "proj"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .starts_with("::error file=proj/bad.aq,line=1,col=1,"),
        "{}",
        r.stdout
    );
    let r = run(aqueduct()
        .current_dir(dir.path())
        .args(["check", "--format", "sarif", "proj"]));
    let sarif = json(&r.stdout);
    let uri = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
        ["uri"];
    assert_eq!(uri, "proj/bad.aq");
}

#[test]
fn graph_of_a_broken_project_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().arg("graph").arg(dir.path()));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("AQ0904"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn explain_prints_a_page() {
    let r = run(aqueduct().args(["explain", "aq0902"]));
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("# AQ0902"), "{}", r.stdout);
    assert_eq!(run(aqueduct().args(["explain", "904"])).code, 0);
}

#[test]
fn explain_unknown_code_suggests_one() {
    let r = run(aqueduct().args(["explain", "AQ0299"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean `AQ0209`?"), "{}", r.stderr);
}

#[test]
fn explain_list_has_every_code() {
    let r = run(aqueduct().args(["explain", "--list"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.lines().any(|l| l == "AQ0101  syntax error"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.lines().count(),
        aqueduct_diagnostics::codes::REGISTRY.len()
    );
}

#[test]
fn connectors_list_and_json() {
    let r = run(aqueduct().arg("connectors"));
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("KIND"), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("file ") && l.contains("embedded"))
    );
    let r = run(aqueduct().args(["connectors", "--format", "json"]));
    let kinds = json(&r.stdout);
    assert!(
        kinds
            .as_array()
            .is_some_and(|k| k.iter().any(|c| c["kind"] == "sqlite"))
    );
    let r = run(aqueduct().args(["connectors", "file", "--format", "json"]));
    assert_eq!(json(&r.stdout)["kind"], "file");
}

#[test]
fn connectors_kind_shows_options_and_operations() {
    let r = run(aqueduct().args(["connectors", "sqlite"]));
    assert_eq!(r.code, 0);
    for part in [
        "options:",
        "path",
        "required",
        "operations:",
        "sqlite.upsert(table, key)",
        "record:",
    ] {
        assert!(r.stdout.contains(part), "missing {part}: {}", r.stdout);
    }
    let r = run(aqueduct().args(["connectors", "sqlit"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("did you mean `sqlite`?"), "{}", r.stderr);
}

#[test]
fn build_checks_the_project_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let args = ["build", ".", "--out", out.to_str().expect("utf-8 path")];
    let r = run(aqueduct().current_dir(dir.path()).args(args));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(format!("{}{}", r.stdout, r.stderr).contains("AQ0904"));
    assert!(
        !out.exists(),
        "nothing is written for a project with errors"
    );
}

/// Issue 12: `build` defaults its PATH to `.` like every other command.
#[test]
fn build_defaults_its_path_to_the_current_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().current_dir(dir.path()).args(["new", "proj"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let project = dir.path().join("proj");
    let r = run(aqueduct()
        .current_dir(&project)
        .args(["build", "--out", "services"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(project.join("services/Cargo.toml").exists());
}

/// Issue 12: what `aqueduct new` writes holds no placeholder link, no
/// pointer to a docs file the project does not have, and no unused
/// environment entry: the `dev` profile's variable is used by the flows.
#[test]
fn a_new_project_has_no_dead_links_and_its_profile_is_used() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().current_dir(dir.path()).args(["new", "proj"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let project = dir.path().join("proj");
    let read = |rel: &str| std::fs::read_to_string(project.join(rel)).expect("written");
    let (readme, manifest) = (read("README.md"), read("aqueduct.yaml"));
    assert!(!readme.contains("example.invalid"), "{readme}");
    assert!(!readme.contains("](http"), "{readme}");
    assert!(!manifest.contains("docs/"), "{manifest}");
    assert!(!manifest.contains("LOG_LEVEL"), "{manifest}");
    let r = run(aqueduct()
        .current_dir(&project)
        .args(["run", "--env", "dev"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(project.join("dev-warehouse.db").exists(), "{}", r.stderr);
    assert!(!project.join("warehouse.db").exists());
}

/// D28: the profile `--env` selects wins over the process environment;
/// without `--env` the process environment is read.
#[test]
fn the_selected_profile_wins_over_the_process_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().current_dir(dir.path()).args(["new", "proj"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let project = dir.path().join("proj");
    let r = run(aqueduct()
        .current_dir(&project)
        .env("WAREHOUSE_DB", "process.db")
        .args(["run", "--env", "dev"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(project.join("dev-warehouse.db").exists(), "{}", r.stderr);
    assert!(!project.join("process.db").exists());
    let r = run(aqueduct()
        .current_dir(&project)
        .env("WAREHOUSE_DB", "process.db")
        .arg("run"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(project.join("process.db").exists(), "{}", r.stderr);
}

#[test]
fn run_and_test_check_the_project_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    for command in ["run", "test"] {
        let r = run(aqueduct().current_dir(dir.path()).arg(command));
        assert_eq!(r.code, 1, "{command}: {}{}", r.stdout, r.stderr);
        assert!(
            format!("{}{}", r.stdout, r.stderr).contains("AQ0904"),
            "{command}: {}{}",
            r.stdout,
            r.stderr
        );
    }
}

#[test]
fn new_creates_a_clean_project_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let r = run(aqueduct().current_dir(dir.path()).args(["new", "shop"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let project = dir.path().join("shop");
    for file in ["aqueduct.yaml", "flows.aq", "input/orders.csv", "README.md"] {
        assert!(project.join(file).is_file(), "{file} written");
    }
    let manifest = std::fs::read_to_string(project.join("aqueduct.yaml")).expect("read");
    assert!(manifest.contains("name: shop") && manifest.contains("shop/{flow}"));
    let r = run(aqueduct().arg("check").arg(&project));
    assert_eq!(
        r.code, 0,
        "the new project checks clean: {}{}",
        r.stdout, r.stderr
    );
    let r = run(aqueduct().args(["fmt", "--check"]).arg(&project));
    assert_eq!(
        r.code, 0,
        "the new project is formatted: {}{}",
        r.stdout, r.stderr
    );
    let r = run(aqueduct().current_dir(dir.path()).args(["new", "shop"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not empty"), "{}", r.stderr);
    let r = run(aqueduct()
        .current_dir(dir.path())
        .args(["new", "other", "--dir", "shop"]));
    assert_eq!(r.code, 2);
    assert_eq!(
        run(aqueduct().current_dir(dir.path()).args(["new", "bad name"])).code,
        2
    );
}

#[test]
fn single_file_path_is_checked_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "one.aq", b"\xfe");
    write(dir.path(), "two.aq", b"");
    let r = run(aqueduct()
        .args(["check", "--format", "json"])
        .arg(dir.path().join("one.aq")));
    assert_eq!(r.code, 1);
    let diags = json(&r.stdout);
    assert_eq!(diags.as_array().map(Vec::len), Some(1));
    assert_eq!(diags[0]["file"], "one.aq");
}

#[test]
fn deny_warnings_turns_a_warning_into_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "proj/a.aq",
        b"type A { id: string }\nchannel spare: A\n",
    );
    let proj = dir.path().join("proj");
    let r = run(aqueduct().arg("check").arg(&proj));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AQ0310"), "{}", r.stdout);
    for format in ["human", "json", "sarif", "github"] {
        let r = run(aqueduct()
            .args(["check", "--deny-warnings", "--format", format])
            .arg(&proj));
        assert_eq!(r.code, 1, "{format}: {}{}", r.stdout, r.stderr);
    }
}

#[test]
fn deny_warnings_passes_a_project_whose_only_finding_is_a_note() {
    // Issue 8: reading core NATS at most once is a deliberate choice, so
    // AQ0420 is a note that `--deny-warnings` does not fail on.
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "proj/a.aq",
        br#"system bus: nats { url = secret("NATS_URL") }
system out: file { root = "out" }

type Event { id: string }

flow metrics {
  mode async
  from bus.subscribe("metrics.>") as Event
  to out.append("metrics.jsonl")
  dead_letter out.append("metrics.dead.jsonl")
}
"#,
    );
    let proj = dir.path().join("proj");
    let r = run(aqueduct().args(["check", "--deny-warnings"]).arg(&proj));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("AQ0420"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("☞ flow `metrics` reads `bus.subscribe` at most once"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("checked 1 file: 1 note"), "{}", r.stderr);
    let r = run(aqueduct()
        .args(["check", "--deny-warnings", "--format", "json"])
        .arg(&proj));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let diags = json(&r.stdout);
    assert_eq!(diags.as_array().map(Vec::len), Some(1), "{diags}");
    assert_eq!(diags[0]["code"], "AQ0420");
    assert_eq!(diags[0]["severity"], "note");
    let r = run(aqueduct()
        .args(["check", "--deny-warnings", "--format", "sarif"])
        .arg(&proj));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(json(&r.stdout)["runs"][0]["results"][0]["level"], "note");
    let r = run(aqueduct()
        .args(["check", "--deny-warnings", "--format", "github"])
        .arg(&proj));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.starts_with("::notice "), "{}", r.stdout);
    // a warning next to the note still fails, and each is counted
    write(dir.path(), "proj/b.aq", b"channel spare: Event\n");
    let r = run(aqueduct().args(["check", "--deny-warnings"]).arg(&proj));
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("checked 2 files: 1 warning, 1 note"),
        "{}",
        r.stderr
    );
}

#[test]
fn sarif_has_the_2_1_0_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "proj/a.aq",
        b"type A { id: strng }\nchannel spare: A\nsystem s: postgres { url = \"postgres://u:pw@h/db\" }\n",
    );
    let r = run(aqueduct()
        .current_dir(dir.path())
        .args(["check", "--format", "sarif", "proj"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let sarif = json(&r.stdout);
    assert_eq!(sarif["version"], "2.1.0");
    let run0 = &sarif["runs"][0];
    let rules = run0["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(run0["tool"]["driver"]["name"].is_string());
    let ids: Vec<&str> = rules
        .iter()
        .map(|r| r["id"].as_str().expect("rule id"))
        .collect();
    assert!(ids.contains(&"AQ0203") && ids.contains(&"AQ0904"));
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string(), "{rule}");
    }
    let results = run0["results"].as_array().expect("results");
    let mut seen = Vec::new();
    for result in results {
        let id = result["ruleId"].as_str().expect("ruleId");
        assert!(ids.contains(&id), "{id} is not a rule");
        assert!(result["message"]["text"].is_string());
        let level = result["level"].as_str().expect("level");
        seen.push((id.to_string(), level.to_string()));
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "proj/a.aq");
        assert!(
            location["region"]["startLine"]
                .as_u64()
                .is_some_and(|l| l >= 1)
        );
        assert!(
            location["region"]["startColumn"]
                .as_u64()
                .is_some_and(|c| c >= 1)
        );
    }
    assert!(
        seen.contains(&("AQ0203".into(), "error".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("AQ0310".into(), "warning".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("AQ0403".into(), "warning".into())),
        "{seen:?}"
    );
}

/// Issue 12, the stub rules language.md states: `stub db.query()` without
/// arguments answers every `db.query` call, and a sync test expects the
/// request `where` rejects with `expect error "request rejected by `where`"`.
#[test]
fn a_stub_without_arguments_answers_every_call_and_where_rejections_are_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "main.aq",
        br#"
system api: endpoint { listen = "127.0.0.1:8080" }
system db: sqlite { path = "x.db" }
type Q { id: string }
type Row { id: string, n: int }

flow get_row {
  mode sync
  from api.get("/rows/:id") as Q
  enrich row = db.query("select * from rows where id = {.id}") as Row?
  where $row != null
  reply { id = .id, n = $row.n ?? 0 }
}

test found for get_row {
  given Q { id = "a" }
  stub db.query() => Row { id = "a", n = 2 }
  expect reply { id = "a", n = 2 }
}

test absent for get_row {
  given Q { id = "b" }
  stub db.query() => null
  expect error "request rejected by `where`"
}
"#,
    );
    let r = run(aqueduct().current_dir(dir.path()).arg("test"));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("2 passed, 0 failed"), "{}", r.stdout);
}
