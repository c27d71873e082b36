//! A throwaway PostgreSQL server for the shared-metastore tests: a fresh cluster in a
//! temporary directory on a free loopback port, stopped when dropped. It needs Debian's
//! `postgresql` package (tests/run.sh installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TestPostgres {
    pub url: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("FLUORO_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (Debian's postgresql package; tests/run.sh installs it)")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect("no /usr/lib/postgresql/*/bin/initdb")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root (the server refuses
/// to run as root).
fn run(bin: &Path, program: &str, args: &[&str]) {
    let program = bin.join(program);
    let status = if is_root() {
        Command::new("runuser").args(["-u", "postgres", "--"]).arg(&program).args(args).status()
    } else {
        Command::new(&program).args(args).status()
    }
    .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(status.success(), "{} {args:?} failed: {status}", program.display());
}

fn is_root() -> bool {
    std::env::var("USER").is_ok_and(|u| u == "root")
        || Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl TestPostgres {
    pub fn start() -> Self {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("fluoro-pg").tempdir().unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        run(&bin, "initdb", &["-D", data.to_str().unwrap(), "-U", "fluoro", "--auth=trust", "-E", "UTF8", "--no-sync"]);
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let options = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", dir.path().display());
        let log = dir.path().join("log");
        run(
            &bin,
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        let url = format!("postgres://fluoro@127.0.0.1:{port}/postgres");
        Self { url, bin, dir }
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        run(&self.bin, "pg_ctl", &["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]);
    }
}
