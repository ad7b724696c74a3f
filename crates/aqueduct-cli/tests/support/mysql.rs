//! The MariaDB/MySQL command-line client as the tests use it beside a
//! running flow: one SQL text on the server of a `mysql://` URL.

/// Runs `sql` through the command-line client on `url`
/// (`mysql://user[:password]@host:port/db`); rows tab-separated, one per line.
pub fn mysql(url: &str, sql: &str) -> String {
    try_mysql(url, sql).unwrap_or_else(|e| panic!("mysql failed on {sql}: {e}"))
}

/// [`mysql`], with the client's error instead of a panic (a statement that
/// may fail by design, like `KILL` of a connection that just closed).
pub fn try_mysql(url: &str, sql: &str) -> Result<String, String> {
    let rest = url.trim_start_matches("mysql://");
    let rest = rest.split('?').next().unwrap_or(rest);
    let (auth, rest) = rest.split_once('@').unwrap_or(("root", rest));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (hostport, db) = rest.split_once('/').unwrap_or((rest, "test"));
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    let mut cmd = std::process::Command::new("mysql");
    cmd.args([
        "-N", "-B", "-h", host, "-P", port, "-u", user, db, "-e", sql,
    ]);
    if !password.is_empty() {
        cmd.env("MYSQL_PWD", password);
    }
    let out = cmd.output().expect("runs the mysql client");
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).to_string());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// Creates `table (id BIGINT PRIMARY KEY, pad TEXT)` holding ids 1 to
/// `rows`, each with `pad` bytes of padding (a result to stream).
pub fn padded_rows(url: &str, table: &str, rows: u64, pad: usize) {
    mysql(
        url,
        &format!(
            "CREATE TABLE {table} (id BIGINT PRIMARY KEY, pad TEXT NOT NULL);
             SET SESSION max_recursive_iterations = {rows};
             INSERT INTO {table}
               WITH RECURSIVE seq (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {rows})
               SELECT n, REPEAT('x', {pad}) FROM seq;"
        ),
    );
}
