//! Every fuzz target, briefly, on the stable toolchain: the seed corpus, then mutations of it
//! (bit flips, byte edits, splices, dictionary tokens) for `FLUORO_FUZZ_SECS` seconds per target
//! (default 3). A panic, an input that runs for more than `HANG` or one that allocates more
//! than `MAX_LIVE_BYTES` fails the test and leaves the input under `fuzz/artifacts/<target>/`.
//! The coverage-guided long runs are `cargo fuzz run` (fuzz/README.md).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Tracks live heap bytes; each input runs under a cap, and an allocation beyond it aborts the
/// run (Rust's allocation-failure handler), with the input left as `artifacts/<target>/last-input`.
#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// Longest one input may run (debug build).
const HANG: Duration = Duration::from_secs(10);
/// Most heap one input may hold at once beyond what was live before it (the cap).
const MAX_LIVE_BYTES: usize = 256 << 20;
/// Largest mutated input.
const MAX_INPUT: usize = 16 << 10;

/// Tokens the mutator inserts: the syntax of the languages and formats under test.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"(",
    b")",
    b"\"",
    b"\\",
    b"%",
    b"|",
    b",",
    b":",
    b"=",
    b"!=",
    b">=",
    b"&&",
    b"||",
    b"$.",
    b"*",
    b"?",
    b"\n",
    b" ",
    b"\t",
    b"\x00",
    b"\xff",
    b"-1",
    b"0",
    b"1e309",
    b"4294967296",
    b"18446744073709551616",
    b"NaN",
    b"null",
    b"true",
    b"stats count(*) by bin(5m)",
    b" | ",
    b"filter ",
    b"parse @message ",
    b"SELECT ",
    b" FROM logs",
    b"service(\"a\")",
    b"annotation.",
    b"ALARM(",
    b"METRICS()",
    b"SUM(",
    b"{\"format\":\"json\",\"version\":1}\n",
    b"\"trace_id\":\"1-5759e988-bd862e3fe1be46a994272793\"",
    b"\"_aws\":{\"CloudWatchMetrics\":[",
    b"REPORT RequestId: ",
    b"&MetricData.member.1.",
    b"\xa1\x63",
    b"\xbf",
    b"\x9f",
    b"\x1f\x8b\x08\x00",
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, corpus: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(16)).min(len);
                input.drain(start..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(64)).min(len);
                let copy = input[start..end].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                if !other.is_empty() {
                    let start = rng.below(other.len());
                    let end = (start + 1 + rng.below(other.len() - start)).min(other.len());
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[start..end].iter().copied());
                }
            }
            6 => {
                let token = DICTIONARY[rng.below(DICTIONARY.len())];
                let at = rng.below(len + 1);
                input.splice(at..at, token.iter().copied());
            }
            _ if len > 0 => {
                let at = rng.below(len);
                input.truncate(at);
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input.truncate(MAX_INPUT);
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(target);
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the seed corpus {} is missing: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    entries.iter().map(|path| std::fs::read(path).expect("a corpus file")).collect()
}

/// Keeps a failing input and describes it.
fn keep(target: &str, input: &[u8], why: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let hash = input.iter().fold(0xcbf29ce484222325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100000001b3));
    let path = dir.join(format!("crash-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    let shown: String = String::from_utf8_lossy(&input[..input.len().min(300)]).escape_debug().collect();
    format!("{target}: {why} on {} bytes, kept as {}: \"{shown}\"", input.len(), path.display())
}

/// Runs one input with the panic, time and allocation checks.
fn run_one(target: &str, run: fluoro_fuzz::Target, input: &[u8], running: &AtomicBool) -> Result<(), String> {
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(target);
    // Kept before the run: an allocation beyond the cap aborts the process.
    let _ = std::fs::create_dir_all(&artifacts);
    let _ = std::fs::write(artifacts.join("last-input"), input);
    let _ = ALLOCATOR.set_limit(ALLOCATOR.allocated() + MAX_LIVE_BYTES);
    running.store(true, Ordering::Release);
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| run(input));
    let took = started.elapsed();
    running.store(false, Ordering::Release);
    let _ = ALLOCATOR.set_limit(usize::MAX);
    if let Err(panic) = outcome {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        return Err(keep(target, input, &format!("panic ({message})")));
    }
    if took > HANG {
        return Err(keep(target, input, &format!("ran for {took:?}")));
    }
    Ok(())
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let seconds: u64 = std::env::var("FLUORO_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    let seed: u64 = std::env::var("FLUORO_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_f100);
    // A stuck input would stop the test silently: a watchdog ends the process instead.
    static RUNNING: AtomicBool = AtomicBool::new(false);
    static CURRENT: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());
    std::thread::spawn(|| {
        let mut busy_since: Option<Instant> = None;
        loop {
            std::thread::sleep(Duration::from_millis(500));
            if RUNNING.load(Ordering::Acquire) {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() > HANG * 6 {
                    eprintln!("hang: {}", CURRENT.lock().map(|c| c.clone()).unwrap_or_default());
                    std::process::abort();
                }
            } else {
                busy_since = None;
            }
        }
    });
    // A target's panics are caught and reported once, not printed for every input.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !RUNNING.load(Ordering::Acquire) {
            default_hook(info);
        }
    }));
    let mut failures = Vec::new();
    for (target, run) in fluoro_fuzz::TARGETS {
        let corpus = corpus(target);
        assert!(!corpus.is_empty(), "{target} has no seed corpus");
        let mut rng = Rng(seed ^ (target.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let started = Instant::now();
        let mut runs = 0usize;
        let mut failed = None;
        for input in &corpus {
            runs += 1;
            if let Err(e) = run_one(target, *run, input, &RUNNING) {
                failed = Some(e);
                break;
            }
        }
        while failed.is_none() && started.elapsed() < Duration::from_secs(seconds) {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &corpus, &mut input);
            if let Ok(mut current) = CURRENT.lock() {
                *current = format!("{target}: {:?}", String::from_utf8_lossy(&input));
            }
            runs += 1;
            if let Err(e) = run_one(target, *run, &input, &RUNNING) {
                failed = Some(e);
            }
        }
        let rate = runs as f64 / started.elapsed().as_secs_f64();
        println!("{target:>15}: {runs:>7} inputs ({rate:.0}/s), {} seeds", corpus.len());
        failures.extend(failed);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
