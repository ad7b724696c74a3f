//! Inputs that once made the binary panic (exit 101): every command that
//! renders diagnostics must report them instead.

use assert_cmd::Command;

fn aqueduct() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aqueduct"));
    cmd.env("COLUMNS", "100").env("NO_COLOR", "1");
    cmd
}

/// A syntax error and a checker error far past column 65,535: the human
/// renderer must draw them (exit 1), in every command that reports them.
#[test]
fn diagnostics_past_column_65535_are_rendered_by_every_command() {
    let padding = " ".repeat(70_000);
    let cases = [
        ("syntax", format!("flow x {{\n  from a {padding}@@@ }}\n")),
        (
            "check",
            format!("type T {{ id: string }}\n{padding}flow x {{ from nowhere.read() as T }}\n"),
        ),
    ];
    for (name, text) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("main.aq"), &text).expect("write");
        for command in [
            vec!["check", "--color", "never"],
            vec!["fmt", "--check", "--color", "never"],
            vec!["graph", "--color", "never"],
            vec!["test", "--color", "never"],
            vec!["run", "--color", "never"],
        ] {
            let out = aqueduct()
                .current_dir(dir.path())
                .args(&command)
                .timeout(std::time::Duration::from_secs(120))
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(!stderr.contains("panicked"), "{name} {command:?}: {stderr}");
            if name == "check" && command[0] == "fmt" {
                // a file that parses formats fine: no diagnostics to draw
                assert_ne!(out.status.code(), Some(101), "{name} {command:?}");
                continue;
            }
            assert_eq!(
                out.status.code(),
                Some(1),
                "{name} {command:?}: {stdout}{stderr}"
            );
            assert!(
                format!("{stdout}{stderr}").contains("main.aq:"),
                "{name} {command:?}: {stdout}{stderr}"
            );
        }
    }
}

/// A flat chain of operators as long as the parser accepts (a tree 1,024
/// high) goes through every stage that recurses over expressions without
/// overflowing the stack; one operator more is refused, not overflowed.
#[test]
fn the_longest_accepted_operator_chain_checks_formats_tests_and_runs() {
    let project = |ops: usize| {
        let dir = tempfile::tempdir().expect("tempdir");
        let chain = " + .n".repeat(ops);
        let text = format!(
            "type R {{ n: int }}\n\
             system inbox: file {{ root = \"in\" }}\n\
             system outbox: file {{ root = \"out\" }}\n\
             flow f {{\n  mode batch\n  from inbox.read(\"*.jsonl\") as R\n  let total = .n{chain}\n  to outbox.write(\"o.jsonl\")\n}}\n\
             test t for f {{\n  given R {{ n = 1 }}\n  expect R {{ n = 1 }}\n}}\n"
        );
        std::fs::write(dir.path().join("main.aq"), text).expect("write");
        std::fs::create_dir_all(dir.path().join("in")).expect("mkdir");
        std::fs::write(dir.path().join("in/a.jsonl"), "{\"n\":1}\n").expect("write");
        dir
    };
    let dir = project(1023);
    for command in [
        vec!["check"],
        vec!["graph"],
        vec!["test"],
        vec!["run"],
        vec!["fmt"],
        vec!["check"],
    ] {
        let out = aqueduct()
            .current_dir(dir.path())
            .args(&command)
            .timeout(std::time::Duration::from_secs(300))
            .output()
            .expect("runs");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let written = std::fs::read_to_string(dir.path().join("out/o.jsonl")).expect("output");
    assert_eq!(written, "{\"n\":1}\n");

    let dir = project(1024);
    let out = aqueduct()
        .current_dir(dir.path())
        .args(["check", "--color", "never"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("this expression is too long"), "{text}");
}

/// A 6 MB file whose formatted text is 18 MB (each line of a `"""` string
/// gets indented): `fmt` must not write a file `check` then refuses.
#[test]
fn fmt_refuses_to_grow_a_file_past_the_size_check_enforces() {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "system s: http {{\n  base_url = \"\"\"\n{}\"\"\"\n}}\n",
        "x\n".repeat(3_000_000)
    );
    let path = dir.path().join("main.aq");
    std::fs::write(&path, &text).expect("write");
    let out = aqueduct()
        .current_dir(dir.path())
        .args(["fmt", "--color", "never"])
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("formatted, `main.aq` would be larger than 16 MiB (18000044 bytes)"),
        "{stderr}"
    );
    assert!(stderr.contains("AQ0108"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        text,
        "untouched"
    );
    let check = aqueduct()
        .current_dir(dir.path())
        .args(["check", "--color", "never"])
        .output()
        .expect("runs");
    assert_eq!(
        check.status.code(),
        Some(0),
        "the file as it is still checks"
    );
}
