//! The `kassa` binary as a newcomer runs it: from an empty directory, with no configuration and
//! no `KASSA__` variables, on the embedded SQLite default (whatever `TEST_DATABASE_URL` says:
//! the child's environment is cleared). `kassa seed` fills a demo shop, `kassa serve` listens on
//! the documented default 127.0.0.1:8080 and stops cleanly on SIGTERM.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Where `kassa serve` listens when nothing is configured (docs and config/default.toml).
const DEFAULT_ADDRESS: &str = "127.0.0.1:8080";
/// How long `kassa serve` may take to answer `/readyz`.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `kassa serve` may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The fewest products the demo seed must create.
const SEEDED_PRODUCTS_MIN: usize = 24;

/// `kassa` in `dir` with an empty environment except `PATH` and `HOME`.
fn kassa(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kassa"));
    command.current_dir(dir).env_clear();
    for name in ["PATH", "HOME"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[track_caller]
fn run_ok(dir: &Path, args: &[&str]) -> Output {
    let output = kassa(dir)
        .args(args)
        .output()
        .expect("run the kassa binary");
    assert!(
        output.status.success(),
        "kassa {args:?} failed: {}",
        describe(&output)
    );
    output
}

/// Waits for `child` to exit, at most `timeout`.
fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `kassa serve`; killed on drop if a failing test left it running.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Starts `kassa serve` in `dir` with no configuration, after checking the default port is
    /// free (a taken port fails the test, saying so), and waits for `/readyz`.
    async fn start(dir: &Path, log: PathBuf, client: &reqwest::Client) -> Server {
        if let Err(err) = TcpListener::bind(DEFAULT_ADDRESS) {
            panic!(
                "{DEFAULT_ADDRESS} is taken by another process ({err}); this test needs kassa's \
                 documented default port free"
            );
        }
        let file = File::create(&log).expect("create the server log");
        let child = kassa(dir)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("share the log file"))
            .stderr(file)
            .spawn()
            .expect("spawn kassa serve");
        let mut server = Server { child, log };
        server.wait_until_ready(client).await;
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + READY_TIMEOUT;
        let url = format!("http://{DEFAULT_ADDRESS}/readyz");
        loop {
            if let Some(status) = self.child.try_wait().expect("poll kassa serve") {
                panic!(
                    "kassa serve exited with {status} before it was ready:\n{}",
                    self.log_text()
                );
            }
            if let Ok(res) = client.get(&url).send().await {
                if res.status().as_u16() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "kassa serve did not answer {url} within {READY_TIMEOUT:?}:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM and asserts a clean exit (status 0) within the stop timeout.
    fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let kill = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(kill.success(), "kill -TERM {pid} failed");
        let status = wait_for_exit(&mut self.child, STOP_TIMEOUT);
        let log = self.log_text();
        match status {
            Some(status) => assert!(
                status.success(),
                "kassa serve exited with {status} after SIGTERM:\n{log}"
            ),
            None => panic!("kassa serve did not exit within {STOP_TIMEOUT:?} of SIGTERM:\n{log}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn get_json(client: &reqwest::Client, path: &str) -> (u16, Value) {
    let res = client
        .get(format!("http://{DEFAULT_ADDRESS}{path}"))
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    let status = res.status().as_u16();
    let body = res
        .json()
        .await
        .unwrap_or_else(|err| panic!("GET {path}: not JSON: {err}"));
    (status, body)
}

/// The handles of every active product, from one page of up to 100.
async fn product_handles(client: &reqwest::Client) -> Vec<String> {
    let (status, body) = get_json(client, "/v1/products?limit=100").await;
    assert_eq!(status, 200, "{body:#}");
    assert_eq!(body["next_cursor"], Value::Null, "more than 100 products");
    let mut handles: Vec<String> = body["items"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| p["handle"].as_str().expect("a handle").to_owned())
        .collect();
    handles.sort();
    handles
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("an HTTP client")
}

#[tokio::test]
async fn serve_starts_with_no_configuration_and_seed_fills_it_idempotently() {
    // Arrange
    let dir = tempfile::tempdir().expect("a working directory");
    let logs = tempfile::tempdir().expect("a log directory");
    let client = client();

    // Act: serve from the empty directory.
    let server = Server::start(dir.path(), logs.path().join("fresh.log"), &client).await;
    let empty = product_handles(&client).await;
    server.terminate();

    // Assert
    assert!(
        empty.is_empty(),
        "a fresh directory has products: {empty:?}"
    );
    assert!(dir.path().join("data").is_dir(), "no ./data was created");

    // Act: seed, and look.
    run_ok(dir.path(), &["seed"]);
    assert!(dir.path().join("data/catalog.db").is_file());
    let server = Server::start(dir.path(), logs.path().join("seeded.log"), &client).await;
    let seeded = product_handles(&client).await;
    server.terminate();

    // Act: seed again, and look again.
    run_ok(dir.path(), &["seed"]);
    let server = Server::start(dir.path(), logs.path().join("reseeded.log"), &client).await;
    let reseeded = product_handles(&client).await;
    let (status, aurora) = get_json(&client, "/v1/products/tee-aurora").await;
    server.terminate();

    // Assert
    assert!(
        seeded.len() >= SEEDED_PRODUCTS_MIN,
        "only {} products seeded: {seeded:?}",
        seeded.len()
    );
    assert_eq!(reseeded, seeded, "the second seed changed the products");
    assert_eq!(status, 200, "{aurora:#}");
    let variants = aurora["variants"].as_array().expect("variants");
    assert!(!variants.is_empty(), "{aurora:#}");
    for variant in variants {
        let mut currencies: Vec<&str> = variant["prices"]
            .as_array()
            .expect("prices")
            .iter()
            .filter_map(|p| p["currency"].as_str())
            .collect();
        currencies.sort_unstable();
        assert_eq!(currencies, ["EUR", "USD"], "{variant:#}");
    }
}

#[test]
fn help_lists_the_serve_migrate_and_seed_commands() {
    // Arrange
    let dir = tempfile::tempdir().expect("a working directory");

    // Act
    let output = run_ok(dir.path(), &["--help"]);

    // Assert
    let help = String::from_utf8_lossy(&output.stdout);
    for command in ["serve", "migrate", "seed"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "--help does not list {command}:\n{help}"
        );
    }
}

#[test]
fn a_port_that_is_not_a_number_stops_serve_with_a_message_naming_the_setting() {
    // Arrange
    let dir = tempfile::tempdir().expect("a working directory");
    let mut child = kassa(dir.path())
        .arg("serve")
        .env("KASSA__SERVER__PORT", "abc")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kassa serve");

    // Act
    let status = wait_for_exit(&mut child, STOP_TIMEOUT);
    if status.is_none() {
        let _ = child.kill();
    }
    let output = child.wait_with_output().expect("collect the output");

    // Assert
    assert!(
        status.is_some(),
        "kassa serve kept running: {}",
        describe(&output)
    );
    assert!(!output.status.success(), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.port"), "{}", describe(&output));
}
