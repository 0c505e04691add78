//! Audit benchmark: the corpus beside trivy (and checkov), and a generated 100,000-Pod list.
//!
//! `cargo bench --bench audit` (or `make bench`). Each command runs as its own process; wall time
//! is the median of several runs, memory is the peak RSS the kernel reports for that process.
//! Peers are found on PATH or under $PEERS (default /tmp/peers, see ../shared/tools/install-peers.sh).
//! Environment: BENCH_PODS (default 100000), BENCH_RUNS (default 5), BENCH_CHECKOV=1, and
//! BENCH_KOMPLIANCE=path to measure another build of `kompliance` (an older tree's, say) against
//! the same decode baseline.
//! The measured commands' stderr is appended to $TMPDIR/kompliance-bench-stderr.log.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkube::synth::{Shape, write_pod_list};

struct Run {
    wall: Duration,
    max_rss_kb: u64,
    code: i32,
}

/// Spawns `cmd`, waits with wait4 and returns its wall time, peak RSS and exit code.
// The child is reaped by wait4 (which also gives its rusage), not by Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(cmd: &mut Command) -> Run {
    let start = Instant::now();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(std::env::temp_dir().join("kompliance-bench-stderr.log"))
        .expect("stderr log");
    let child = cmd.stdout(Stdio::null()).stderr(log).spawn().expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: a zeroed rusage is a valid value to be filled in by wait4 for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for the child spawned above; pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    let wall = start.elapsed();
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Run { wall, max_rss_kb: usage.ru_maxrss as u64, code }
}

fn median(mut runs: Vec<Run>) -> Run {
    runs.sort_by_key(|r| r.wall);
    let max_rss_kb = runs.iter().map(|r| r.max_rss_kb).max().unwrap_or(0);
    let mid = runs.swap_remove(runs.len() / 2);
    Run { max_rss_kb, ..mid }
}

fn repeat(n: usize, mut make: impl FnMut() -> Command) -> Run {
    median((0..n).map(|_| measure(&mut make())).collect())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn find_peer(name: &str) -> Option<PathBuf> {
    let peers = std::env::var("PEERS").unwrap_or_else(|_| "/tmp/peers".into());
    let venv = Path::new(&peers).join(format!("{name}-venv/bin/{name}"));
    if venv.is_file() {
        return Some(venv);
    }
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

fn peer_command(bin: &Path) -> Command {
    let peers = std::env::var("PEERS").unwrap_or_else(|_| "/tmp/peers".into());
    let offline = Command::new("unshare").args(["-n", "true"]).status().map(|s| s.success()).unwrap_or(false);
    let mut c = if offline {
        let mut c = Command::new("unshare");
        c.arg("-n").arg(bin);
        c
    } else {
        Command::new(bin)
    };
    c.env("TRIVY_SKIP_CHECK_UPDATE", "true")
        .env("TRIVY_SKIP_VERSION_CHECK", "true")
        .env("TRIVY_DISABLE_TELEMETRY", "true")
        .env("TRIVY_CACHE_DIR", format!("{peers}/trivy-cache"))
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true");
    c
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    let kompliance = std::env::var("BENCH_KOMPLIANCE").unwrap_or_else(|_| env!("CARGO_BIN_EXE_kompliance").into());
    println!("kompliance binary: {kompliance}");
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let n_pods: usize = std::env::var("BENCH_PODS").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let work = PathBuf::from(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp/kompliance-bench".into()));
    std::fs::create_dir_all(&work).expect("bench dir");
    println!("machine: {} cores; kompliance {}", std::thread::available_parallelism().map_or(1, |n| n.get()), kompliance::VERSION);

    // Canonical: checkov silently finds nothing under a path that contains `..`.
    let corpus = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/manifests")).unwrap_or_default();
    if corpus.is_dir() {
        println!("\n== corpus: {} ==", corpus.display());
        let ours = repeat(runs, || {
            let mut c = Command::new(&kompliance);
            c.arg("audit").arg(&corpus);
            c
        });
        println!(
            "kompliance audit    median {:>8.3} s   peak RSS {:>7.1} MiB   exit {}",
            ours.wall.as_secs_f64(),
            mb(ours.max_rss_kb),
            ours.code
        );
        match find_peer("trivy") {
            Some(trivy) => {
                let empty = work.join("empty");
                std::fs::create_dir_all(&empty).expect("empty dir");
                let startup = repeat(3, || {
                    let mut c = peer_command(&trivy);
                    c.args(["config", "--quiet", "--misconfig-scanners", "kubernetes", "-f", "json"]).arg(&empty);
                    c
                });
                let t = repeat(3, || {
                    let mut c = peer_command(&trivy);
                    c.args(["config", "--quiet", "--misconfig-scanners", "kubernetes", "-f", "json"]).arg(&corpus);
                    c
                });
                println!(
                    "trivy config        median {:>8.3} s   peak RSS {:>7.1} MiB   exit {}",
                    t.wall.as_secs_f64(),
                    mb(t.max_rss_kb),
                    t.code
                );
                println!(
                    "trivy start-up      median {:>8.3} s   peak RSS {:>7.1} MiB   (empty folder)",
                    startup.wall.as_secs_f64(),
                    mb(startup.max_rss_kb)
                );
                println!(
                    "ratio: kompliance is {:.0}x faster than trivy ({:.0}x after trivy's start-up), using {:.1}% of its peak memory",
                    t.wall.as_secs_f64() / ours.wall.as_secs_f64(),
                    (t.wall.as_secs_f64() - startup.wall.as_secs_f64()).max(0.0) / ours.wall.as_secs_f64(),
                    100.0 * ours.max_rss_kb as f64 / t.max_rss_kb.max(1) as f64
                );
            }
            None => println!("trivy not found (run ../shared/tools/install-peers.sh): no side-by-side figure"),
        }
        if std::env::var_os("BENCH_CHECKOV").is_some() {
            match find_peer("checkov") {
                Some(checkov) => {
                    let c = repeat(1, || {
                        let mut c = peer_command(&checkov);
                        c.args(["-d"]).arg(&corpus).args([
                            "--framework",
                            "kubernetes",
                            "-o",
                            "json",
                            "--skip-download",
                            "--soft-fail",
                            "--quiet",
                        ]);
                        c
                    });
                    println!(
                        "checkov             single   {:>8.3} s   peak RSS {:>7.1} MiB   exit {}",
                        c.wall.as_secs_f64(),
                        mb(c.max_rss_kb),
                        c.code
                    );
                }
                None => println!("checkov not found"),
            }
        }
    } else {
        println!("corpus not present: skipping the side-by-side part");
    }

    println!("\n== {n_pods} Pods as one JSON list ==");
    let list = work.join(format!("pods-{n_pods}.json"));
    if !list.is_file() {
        let t = Instant::now();
        let mut f = std::io::BufWriter::new(std::fs::File::create(&list).expect("create list"));
        let shape = Shape { pods: n_pods, namespaces: (n_pods / 100).max(1), replicas: 5, seed: 42 };
        write_pod_list(shape, &mut f).expect("write list");
        drop(f);
        println!("generated {} in {:.1} s (seed 42)", list.display(), t.elapsed().as_secs_f64());
    }
    let size = std::fs::metadata(&list).expect("list").len();
    println!("input: {:.1} MiB, {:.0} bytes per Pod", size as f64 / 1048576.0, size as f64 / n_pods as f64);
    let big = repeat(runs.min(3), || {
        let mut c = Command::new(&kompliance);
        c.args(["audit", "-o", "json"]).arg(&list);
        c
    });
    let stdin_run = repeat(1, || {
        let mut c = Command::new(&kompliance);
        c.args(["audit", "-", "-o", "json"]).stdin(std::fs::File::open(&list).expect("open list"));
        c
    });
    let rate = n_pods as f64 / big.wall.as_secs_f64();
    println!(
        "kompliance audit    median {:>8.3} s   peak RSS {:>7.1} MiB   {:>8.0} Pods/s   memory {:.1}% of input   exit {}",
        big.wall.as_secs_f64(),
        mb(big.max_rss_kb),
        rate,
        100.0 * big.max_rss_kb as f64 * 1024.0 / size as f64,
        big.code
    );
    println!("  same, from stdin  single {:>8.3} s   peak RSS {:>7.1} MiB", stdin_run.wall.as_secs_f64(), mb(stdin_run.max_rss_kb));

    // The floor: only decoding the same list, item by item, into k8s-openapi Pods, in this process.
    let t = Instant::now();
    let decoded = decode_only(&list);
    let floor = t.elapsed();
    println!(
        "decode only (k8s-openapi Pods, streamed, 1 thread): {:.3} s for {decoded} Pods; audit/decode = {:.2}",
        floor.as_secs_f64(),
        big.wall.as_secs_f64() / floor.as_secs_f64()
    );
}

fn decode_only(path: &Path) -> usize {
    use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
    struct Items;
    impl<'de> Visitor<'de> for Items {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("pods")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while seq.next_element::<k8s_openapi::api::core::v1::Pod>()?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
    impl<'de> DeserializeSeed<'de> for Items {
        type Value = usize;
        fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
            d.deserialize_seq(self)
        }
    }
    struct Top;
    impl<'de> Visitor<'de> for Top {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("list")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while let Some(k) = m.next_key::<String>()? {
                if k == "items" {
                    n = m.next_value_seed(Items)?;
                } else {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(n)
        }
    }
    let f = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path).expect("open"));
    let mut de = serde_json::Deserializer::from_reader(f);
    serde::Deserializer::deserialize_map(&mut de, Top).expect("decode")
}
