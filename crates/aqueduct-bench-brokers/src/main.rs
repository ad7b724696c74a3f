//! `aqueduct-bench-brokers`: messages/s from each broker (RabbitMQ, NATS
//! JetStream, Redis streams, MQTT QoS 1, Kafka) through `aqueduct run` into
//! a `file.append` target, side by side in one run with a hand-written
//! consumer on the same client crate with the same acknowledgement
//! discipline (a message is acknowledged only after its record was written
//! and synced).
//!
//! For each broker and run, each contender gets a fresh queue (stream,
//! topic, session) holding the same pre-published backlog and is timed as
//! a child process from spawn until its output file holds every message;
//! then it is stopped with SIGTERM and the benchmark checks that every id
//! landed and that the broker holds nothing unacknowledged. The order of
//! the contenders alternates between runs. Build and run:
//!
//! ```text
//! cargo build --release -p aqueduct-cli -p aqueduct-bench-brokers && target/release/aqueduct-bench-brokers
//! ```
//!
//! Broker addresses come from the `AQUEDUCT_TEST_*_URL` variables of the
//! tests (defaults: the local services); MQTT runs against a Mosquitto the
//! benchmark starts itself ([`mqtt`]).

mod amqp;
mod harness;
mod kafka;
mod mqtt;
mod nats;
mod redis;
mod sink;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The record type every flow declares (the fields of [`sink::Item`]).
const ITEM_TYPE: &str =
    "type Item { id: int, name: string, device: string, reading: int, ok: bool }\n";

/// Longest one contender may take to drain the backlog.
const LIMIT: Duration = Duration::from_secs(600);

#[derive(Parser)]
#[command(about = "Broker throughput: aqueduct run against hand-written consumers")]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    /// Messages in each backlog.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Runs of each contender per broker.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Brokers to measure (comma separated).
    #[arg(long, value_delimiter = ',', default_values = ["amqp", "nats", "redis", "mqtt", "kafka"])]
    brokers: Vec<Broker>,
    /// The `aqueduct` binary (default: next to this one).
    #[arg(long)]
    aqueduct: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// The hand-written consumer (run by the benchmark as a child).
    #[command(hide = true)]
    Consume {
        #[arg(long)]
        broker: Broker,
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Broker {
    Amqp,
    Nats,
    Redis,
    Mqtt,
    Kafka,
}

impl Broker {
    fn name(self) -> &'static str {
        match self {
            Broker::Amqp => "amqp",
            Broker::Nats => "nats",
            Broker::Redis => "redis",
            Broker::Mqtt => "mqtt",
            Broker::Kafka => "kafka",
        }
    }

    /// What the flow reads, as the table says it.
    fn operation(self) -> &'static str {
        match self {
            Broker::Amqp => "amqp.consume (prefetch 100)",
            Broker::Nats => "nats.subscribe, durable (JetStream)",
            Broker::Redis => "redis.stream (group)",
            Broker::Mqtt => "mqtt.subscribe, QoS 1",
            Broker::Kafka => "kafka.consume (1 partition)",
        }
    }

    /// The URL variable of the tests, its default, and the one the flow reads.
    fn url_vars(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Broker::Amqp => (
                "AQUEDUCT_TEST_AMQP_URL",
                "amqp://guest:guest@127.0.0.1:5672/%2f",
                "AMQP_URL",
            ),
            Broker::Nats => (
                "AQUEDUCT_TEST_NATS_URL",
                "nats://127.0.0.1:4222",
                "NATS_URL",
            ),
            Broker::Redis => (
                "AQUEDUCT_TEST_REDIS_URL",
                "redis://127.0.0.1:6379",
                "REDIS_URL",
            ),
            Broker::Mqtt => (
                "AQUEDUCT_TEST_MQTT_URL",
                "mqtt://127.0.0.1:1883",
                "MQTT_URL",
            ),
            Broker::Kafka => (
                "AQUEDUCT_TEST_KAFKA_URL",
                "kafka://127.0.0.1:9092",
                "KAFKA_URL",
            ),
        }
    }

    async fn prepare(self, url: &str, name: &str, n: u64) -> Result<(), String> {
        match self {
            Broker::Amqp => amqp::prepare(url, name, n).await,
            Broker::Nats => nats::prepare(url, name, n).await,
            Broker::Redis => redis::prepare(url, name, n).await,
            Broker::Mqtt => mqtt::prepare(url, name, n).await,
            Broker::Kafka => kafka::prepare(url, name, n).await,
        }
    }

    fn flow(self, name: &str) -> String {
        match self {
            Broker::Amqp => amqp::flow(name),
            Broker::Nats => nats::flow(name),
            Broker::Redis => redis::flow(name),
            Broker::Mqtt => mqtt::flow(name),
            Broker::Kafka => kafka::flow(name),
        }
    }

    async fn left(self, url: &str, name: &str) -> Result<u64, String> {
        match self {
            Broker::Amqp => amqp::left(url, name).await,
            Broker::Nats => nats::left(url, name).await,
            Broker::Redis => redis::left(url, name).await,
            Broker::Mqtt => mqtt::left(url, name).await,
            Broker::Kafka => kafka::left(url, name).await,
        }
    }

    async fn cleanup(self, url: &str, name: &str) {
        match self {
            Broker::Amqp => amqp::cleanup(url, name).await,
            Broker::Nats => nats::cleanup(url, name).await,
            Broker::Redis => redis::cleanup(url, name).await,
            Broker::Mqtt => {}
            Broker::Kafka => kafka::cleanup(url, name).await,
        }
    }
}

/// Runs the hand-written consumer until SIGTERM.
fn consume(broker: Broker, name: &str, url: &str, out: &Path) -> Result<(), String> {
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            term.recv().await;
            let _ = stop_tx.send(true);
        });
        let mut sink = sink::Sink::open(out)?;
        match broker {
            Broker::Amqp => amqp::consume(url, name, &mut sink, stop).await,
            Broker::Nats => nats::consume(url, name, &mut sink, stop).await,
            Broker::Redis => redis::consume(url, name, &mut sink, stop).await,
            Broker::Mqtt => mqtt::consume(url, name, &mut sink, stop).await,
            Broker::Kafka => kafka::consume(url, name, &mut sink, stop).await,
        }
    })
}

/// One timed run of one contender.
struct Sample {
    rate: f64,
    wall: Duration,
    cpu: Duration,
    peak_mib: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Contender {
    Baseline,
    Aqueduct,
}

struct Bench<'a> {
    rt: tokio::runtime::Runtime,
    dir: &'a Path,
    aqueduct: PathBuf,
    count: u64,
}

impl Bench<'_> {
    fn once(&self, broker: Broker, url: &str, who: Contender, run: u32) -> Result<Sample, String> {
        let tag = match who {
            Contender::Baseline => "hand",
            Contender::Aqueduct => "aq",
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        let name = format!("aqbench_{}_{tag}_{run}_{stamp}", broker.name());
        self.rt.block_on(broker.prepare(url, &name, self.count))?;
        let project = self.dir.join(&name);
        std::fs::create_dir_all(project.join("out")).map_err(|e| e.to_string())?;
        let out = project.join("out/items.jsonl");
        let cmd = match who {
            Contender::Baseline => {
                let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
                cmd.arg("consume")
                    .args(["--broker", broker.name(), "--name", &name, "--url", url])
                    .arg("--out")
                    .arg(&out);
                cmd
            }
            Contender::Aqueduct => {
                std::fs::write(project.join("main.aq"), broker.flow(&name))
                    .map_err(|e| e.to_string())?;
                let mut cmd = Command::new(&self.aqueduct);
                cmd.arg("run")
                    .arg(&project)
                    .env(broker.url_vars().2, url)
                    .env("RUST_LOG", "warn")
                    .env("NO_COLOR", "1");
                cmd
            }
        };
        let log = project.join(format!("{tag}.log"));
        let result = harness::measure(cmd, &out, self.count, LIMIT, &log);
        let checked = result.and_then(|outcome| {
            let lines = harness::verify(&out, self.count)?;
            let left = self.rt.block_on(broker.left(url, &name))?;
            if left > 0 {
                return Err(format!(
                    "{left} messages not acknowledged after the consumer stopped"
                ));
            }
            if lines > self.count {
                eprintln!("  note: {} duplicates in the output", lines - self.count);
            }
            Ok(outcome)
        });
        self.rt.block_on(broker.cleanup(url, &name));
        let outcome = checked?;
        let _ = std::fs::remove_dir_all(&project);
        Ok(Sample {
            rate: self.count as f64 / outcome.wall.as_secs_f64(),
            wall: outcome.wall,
            cpu: outcome.cpu,
            peak_mib: outcome.peak_rss_kib as f64 / 1024.0,
        })
    }
}

fn best(samples: &[Sample]) -> Option<&Sample> {
    samples.iter().max_by(|a, b| a.rate.total_cmp(&b.rate))
}

fn median(samples: &[Sample]) -> f64 {
    let mut rates: Vec<f64> = samples.iter().map(|s| s.rate).collect();
    rates.sort_by(f64::total_cmp);
    rates.get(rates.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let cli = Cli::parse();
    if let Some(Cmd::Consume {
        broker,
        name,
        url,
        out,
    }) = &cli.command
    {
        if let Err(e) = consume(*broker, name, url, out) {
            eprintln!("consumer failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = bench(&cli) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}

fn bench(cli: &Cli) -> Result<(), String> {
    let aqueduct = match &cli.aqueduct {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("aqueduct"),
    };
    if !aqueduct.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --release -p aqueduct-cli`",
            aqueduct.display()
        ));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let bench = Bench {
        rt: tokio::runtime::Runtime::new().map_err(|e| e.to_string())?,
        dir: dir.path(),
        aqueduct,
        count: cli.count,
    };
    println!(
        "{} messages per backlog, {} runs per contender, aqueduct: {}",
        cli.count,
        cli.runs,
        bench.aqueduct.display()
    );
    let mut rows = Vec::new();
    for &broker in &cli.brokers {
        let (var, default, _) = broker.url_vars();
        // MQTT: a broker of our own that queues the whole backlog
        let private = match broker {
            Broker::Mqtt => Some(aqueduct_test_support::Mosquitto::start(
                aqueduct_test_support::KEEP_EVERYTHING,
            )?),
            _ => None,
        };
        let url = match &private {
            Some(b) => b.url(),
            None => std::env::var(var).unwrap_or_else(|_| default.to_string()),
        };
        let mut hand = Vec::new();
        let mut aq = Vec::new();
        let mut failed = None;
        for run in 0..cli.runs {
            let order = if run % 2 == 0 {
                [Contender::Baseline, Contender::Aqueduct]
            } else {
                [Contender::Aqueduct, Contender::Baseline]
            };
            for who in order {
                let tag = if who == Contender::Baseline {
                    "hand"
                } else {
                    "aqueduct"
                };
                match bench.once(broker, &url, who, run) {
                    Ok(s) => {
                        println!(
                            "{:6} run {run} {tag:9}: {:>9.0} msgs/s  {:>7.3} s  cpu {:>6.2} s  peak RSS {:>6.1} MiB",
                            broker.name(),
                            s.rate,
                            s.wall.as_secs_f64(),
                            s.cpu.as_secs_f64(),
                            s.peak_mib
                        );
                        match who {
                            Contender::Baseline => hand.push(s),
                            Contender::Aqueduct => aq.push(s),
                        }
                    }
                    Err(e) => {
                        println!("{:6} run {run} {tag:9}: FAILED: {e}", broker.name());
                        failed = Some(e);
                    }
                }
            }
            // the other contender of this run still ran: a failed baseline
            // leaves aqueduct's own figure known
            if failed.is_some() {
                break;
            }
        }
        rows.push((broker, hand, aq, failed));
    }
    println!();
    println!(
        "| broker, operation | hand-written, best | aqueduct run, best | ratio (best) | ratio (median) | peak RSS aqueduct / hand |"
    );
    println!("|---|---|---|---|---|---|");
    for (broker, hand, aq, failed) in &rows {
        match (best(hand), best(aq), failed) {
            (Some(h), Some(a), None) => println!(
                "| {} | {:.0} msgs/s | {:.0} msgs/s | **{:.2}×** | {:.2}× | {:.1} / {:.1} MiB |",
                broker.operation(),
                h.rate,
                a.rate,
                a.rate / h.rate,
                median(aq) / median(hand),
                aq.iter().map(|s| s.peak_mib).fold(0.0, f64::max),
                hand.iter().map(|s| s.peak_mib).fold(0.0, f64::max),
            ),
            (h, a, failed) => {
                let rate = |s: Option<&Sample>| s.map(|s| format!("{:.0} msgs/s", s.rate));
                println!(
                    "| {} | {} | {} | failed: {} | | |",
                    broker.operation(),
                    rate(h).unwrap_or_else(|| "no sample".to_string()),
                    rate(a).unwrap_or_else(|| "no sample".to_string()),
                    failed.as_deref().unwrap_or("no samples")
                )
            }
        }
    }
    Ok(())
}
