//! In-process: what SigV4 verification costs per request, for PutLogEvents bodies of a few
//! sizes (the body's SHA-256 is most of it at the top end).

use std::time::Instant;

use fluoro_proto::sigv4::{AccessKey, Request, authorization, verify};

#[derive(clap::Args)]
pub struct SigV4Args {
    /// Verifications per body size.
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
}

pub fn run(args: SigV4Args) -> anyhow::Result<()> {
    let key = AccessKey { id: "AKIDBENCH".into(), secret: "bench-secret".into(), account_id: "000000000000".into() };
    let amz_date = "20261122T180000Z";
    let now = 1_795_370_400;
    for size in [1 << 10, 64 << 10, 1 << 20] {
        let body = format!(
            r#"{{"logGroupName":"/bench","logStreamName":"s","logEvents":[{{"timestamp":1,"message":"{}"}}]}}"#,
            "x".repeat(size)
        );
        let mut headers = vec![
            ("content-type".to_owned(), "application/x-amz-json-1.1".to_owned()),
            ("host".to_owned(), "127.0.0.1:4566".to_owned()),
            ("x-amz-date".to_owned(), amz_date.to_owned()),
            ("x-amz-target".to_owned(), "Logs_20140328.PutLogEvents".to_owned()),
        ];
        let signed = ["content-type", "host", "x-amz-date", "x-amz-target"];
        let unsigned = Request { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
        let auth = authorization(&unsigned, &key, amz_date, "us-east-1", "logs", &signed);
        headers.push(("authorization".to_owned(), auth));
        let request = Request { method: "POST", path: "/", query: "", headers: &headers, body: body.as_bytes() };
        let lookup = |id: &str| (id == key.id).then_some(&key);
        verify(&request, lookup, now).map_err(|e| anyhow::anyhow!("the benchmark's own signature failed: {e:?}"))?;
        let mut best = f64::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            for _ in 0..args.iterations {
                std::hint::black_box(verify(std::hint::black_box(&request), lookup, now).is_ok());
            }
            best = best.min(started.elapsed().as_secs_f64() / args.iterations as f64);
        }
        println!(
            "sigv4 verify, {:>7} byte body: {:>8.1} µs per request ({:.0} MB/s of body, best of 3 × {})",
            body.len(),
            best * 1e6,
            body.len() as f64 / best / 1e6,
            args.iterations
        );
    }
    Ok(())
}
