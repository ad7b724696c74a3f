//! The bulk-export example run exactly as its README documents it against
//! the emulator: the README's own `aqueduct emulate salesforce --seed …`
//! on the emulator's default port (which the example's `dev` profile
//! names), its `export SF_PRIVATE_KEY=…`, then its `aqueduct run … --env
//! dev --now`, from a copy of the repository's layout so the README's
//! relative paths hold; what it says `run` prints and the file holds are
//! read from the README too, so the test follows it.
//!
//! The port is fixed, so this test binary holds one test, and an
//! exclusive lock on a file in the temporary directory keeps any other
//! process running it (another clone's test run) off the port meanwhile.
//! A port taken by something else fails the test, never skips it.

use regex::Regex;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The emulator's default port (docs/emulator.md), the dev profile's.
const PORT: u16 = 8943;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/salesforce-bulk-export")
}

/// The commands, the environment and the results the README documents.
struct Documented {
    emulate: Vec<String>,
    env: Vec<(String, String)>,
    run: Vec<String>,
    summary: String,
    file: String,
    rows: Vec<String>,
}

/// Reads the README's "Against the local emulator" section.
fn documented() -> Documented {
    let readme = std::fs::read_to_string(example_dir().join("README.md")).expect("the README");
    let section = readme
        .split("## Against the local emulator")
        .nth(1)
        .expect("the README's emulator section");
    let blocks: Vec<&str> = Regex::new(r"(?s)```(?:sh|text)\n(.*?)```")
        .expect("regex")
        .captures_iter(section)
        .filter_map(|c| c.get(1).map(|m| m.as_str()))
        .collect();
    let command = |prefix: &str| -> Vec<String> {
        let line = blocks
            .iter()
            .flat_map(|b| b.lines())
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("the README shows no `{prefix}…`"));
        line.split_whitespace().skip(1).map(String::from).collect()
    };
    let export = Regex::new(r#"(?m)^export (\w+)="\$\(cat (\S+)\)"$"#).expect("regex");
    let env = blocks
        .iter()
        .flat_map(|b| export.captures_iter(b))
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let summary = Regex::new(r"`run` prints\s*`([^`]+)`")
        .expect("regex")
        .captures(section)
        .expect("the README's summary line")[1]
        .to_string();
    let file = Regex::new(r"and `([^`]+)` holds:")
        .expect("regex")
        .captures(section)
        .expect("the README's output file")[1]
        .to_string();
    let rows = blocks
        .iter()
        .find(|b| b.starts_with("opportunity_id,"))
        .expect("the README's CSV")
        .lines()
        .map(String::from)
        .collect();
    Documented {
        emulate: command("aqueduct emulate "),
        env,
        run: command("aqueduct run "),
        summary,
        file,
        rows,
    }
}

/// Copies the example to `root/examples/salesforce-bulk-export`, leaving
/// out what a run of it may have left in the repository.
fn copy_example(root: &Path) {
    let to = root.join("examples/salesforce-bulk-export");
    std::fs::create_dir_all(&to).expect("mkdir");
    for entry in std::fs::read_dir(example_dir()).expect("the example") {
        let path = entry.expect("entry").path();
        if path.is_file() {
            let name = path.file_name().expect("a name");
            std::fs::copy(&path, to.join(name)).expect("copies");
        }
    }
}

/// A child process killed (and reaped) whatever happens.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn aqueduct(root: &Path, args: &[String], tag: &str) -> (Command, PathBuf, PathBuf) {
    let (out, err) = (
        root.join(format!("{tag}.stdout")),
        root.join(format!("{tag}.stderr")),
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aqueduct"));
    cmd.args(args)
        .current_dir(root)
        .env("NO_COLOR", "1")
        // the dev profile, not the caller's environment, says where the org is
        .env_remove("SF_INSTANCE_URL")
        .env_remove("SF_CLIENT_ID")
        .env_remove("SF_USERNAME")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"));
    (cmd, out, err)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn the_bulk_export_readme_runs_as_written_against_the_emulator() {
    let doc = documented();
    let profile =
        std::fs::read_to_string(example_dir().join("aqueduct.yaml")).expect("aqueduct.yaml");
    assert!(
        profile.contains(&format!("SF_INSTANCE_URL: http://127.0.0.1:{PORT}")),
        "the dev profile names the emulator's default port:\n{profile}"
    );
    assert!(
        !doc.emulate.iter().any(|a| a == "--listen"),
        "the README starts the emulator on its default port"
    );

    // whoever else runs this test waits here until this one is done
    let lock_path = std::env::temp_dir().join(format!("aqueduct-emulator-port-{PORT}.lock"));
    let lock = std::fs::File::create(&lock_path).expect("the lock file");
    lock.lock().expect("locks the port's lock file");
    if let Err(e) = TcpListener::bind(("127.0.0.1", PORT)) {
        panic!(
            "port {PORT}, the emulator's default, which the example's README and dev profile use, \
             is taken by another process ({e}); stop it (`ss -ltnp 'sport = :{PORT}'` names it) and run again"
        );
    }

    let root = tempfile::tempdir().expect("a temporary directory");
    copy_example(root.path());
    let (mut cmd, out, err) = aqueduct(root.path(), &doc.emulate, "emulate");
    let emulator = Killed(cmd.spawn().expect("starts aqueduct emulate"));
    let addr = SocketAddr::from(([127, 0, 0, 1], PORT));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !read(&out).contains(&format!("listening on 127.0.0.1:{PORT}"))
        || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err()
    {
        assert!(
            Instant::now() < deadline,
            "the emulator did not start on {addr}; stdout:\n{}\nstderr:\n{}",
            read(&out),
            read(&err)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let (mut cmd, out, err) = aqueduct(root.path(), &doc.run, "run");
    for (name, file) in &doc.env {
        cmd.env(name, read(&root.path().join(file)));
    }
    assert!(
        doc.env.iter().any(|(n, _)| n == "SF_PRIVATE_KEY"),
        "the README exports the key"
    );
    let mut run = Killed(cmd.spawn().expect("starts aqueduct run"));
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = run.0.try_wait().expect("waits") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "`aqueduct run` did not end; stderr:\n{}",
            read(&err)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = read(&err);
    assert_eq!(
        status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{stderr}",
        read(&out)
    );
    assert!(
        stderr.lines().any(|l| l == doc.summary),
        "`{}` in:\n{stderr}",
        doc.summary
    );
    // the rows as the README lists them (Bulk API result order is not
    // promised, so compared as a set under the header)
    let csv = read(&root.path().join(&doc.file));
    let mut got: Vec<&str> = csv.lines().collect();
    let mut want: Vec<&str> = doc.rows.iter().map(String::as_str).collect();
    assert!(!got.is_empty(), "{} is empty; stderr:\n{stderr}", doc.file);
    got[1..].sort_unstable();
    want[1..].sort_unstable();
    assert_eq!(got, want, "{}", doc.file);
    assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    drop(emulator);
    drop(lock);
}
