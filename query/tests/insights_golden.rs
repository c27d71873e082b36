//! Every worked query of insights.md §10 against data sets A and B, with the exact rows and
//! statistics; run once with the events in the memtable and once after a flush to Parquet.

use std::sync::Arc;

use fluoro_query::insights::run::{Progress, Request, check, run};
use fluoro_store::{GroupMeta, LogStore, Metrics, PreparedBatch, StoreConfig};

const ACCOUNT: &str = "123456789012";
const START: i64 = 1714564800000;
const END: i64 = 1714565400999;
const NOW: i64 = 1714566000000;

const A: &[(&str, i64, &str)] = &[
    (
        "web-1",
        1714564805000,
        r#"{"level":"INFO","method":"GET","path":"/users","status":200,"latency":120,"user":{"id":"u1","tier":"gold"},"ip":"10.0.1.5"}"#,
    ),
    (
        "web-2",
        1714564820000,
        r#"{"level":"ERROR","method":"POST","path":"/orders","status":500,"latency":950,"user":{"id":"u2","tier":"free"},"ip":"10.0.2.9","error":"Timeout after 900 ms"}"#,
    ),
    (
        "web-1",
        1714564870000,
        r#"{"level":"INFO","method":"GET","path":"/orders","status":200,"latency":80,"user":{"id":"u1","tier":"gold"},"ip":"192.168.1.20"}"#,
    ),
    (
        "web-2",
        1714564950000,
        r#"{"level":"WARN","method":"GET","path":"/users","status":404,"latency":15,"user":{"id":"u3","tier":"free"},"ip":"10.0.1.77"}"#,
    ),
    (
        "web-1",
        1714565085000,
        r#"{"level":"ERROR","method":"DELETE","path":"/users","status":503,"latency":1300,"user":{"id":"u2","tier":"free"},"ip":"2001:db8::1","error":"Upstream unavailable"}"#,
    ),
    ("web-2", 1714565100000, "plain text: cache warmup finished in 42 ms"),
    (
        "web-1",
        1714565190000,
        r#"{"level":"INFO","method":"POST","path":"/orders","status":201,"latency":310,"user":{"id":"u4","tier":"gold"},"ip":"10.0.3.3","items":[{"sku":"A1","qty":2},{"sku":"B7","qty":1}]}"#,
    ),
];

const B_STREAM: &str = "2024/05/01/[$LATEST]0123456789abcdef0123456789abcdef";
const B: &[(i64, &str)] = &[
    (1714564800000, "START RequestId: 11111111-aaaa-bbbb-cccc-000000000001 Version: $LATEST\n"),
    (1714564800100, "2024-05-01T12:00:00.100Z\t11111111-aaaa-bbbb-cccc-000000000001\tINFO\tcharging card\n"),
    (1714564800250, "END RequestId: 11111111-aaaa-bbbb-cccc-000000000001\n"),
    (
        1714564800251,
        "REPORT RequestId: 11111111-aaaa-bbbb-cccc-000000000001\tDuration: 150.25 ms\tBilled Duration: 151 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 210.50 ms\t\nXRAY TraceId: 1-6632301f-0123456789abcdef01234567\tSegmentId: 0aa1b2c3d4e5f607\tSampled: true\t\n",
    ),
    (
        1714564980000,
        "REPORT RequestId: 11111111-aaaa-bbbb-cccc-000000000002\tDuration: 48.00 ms\tBilled Duration: 48 ms\tMemory Size: 128 MB\tMax Memory Used: 72 MB\t\n",
    ),
];

fn group(name: &str) -> GroupMeta {
    GroupMeta::standard(name, NOW)
}

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<LogStore>,
    a: Arc<GroupMeta>,
    b: Arc<GroupMeta>,
}

async fn fixture(flush: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(StoreConfig::new(dir.path()), Metrics::new()).unwrap();
    let a = store.catalog().create_group(group("/app/api")).unwrap();
    let b = store.catalog().create_group(group("/aws/lambda/checkout")).unwrap();
    for stream in ["web-1", "web-2"] {
        let s = store.catalog().create_stream("/app/api", stream, NOW).unwrap();
        let events: Vec<_> = A.iter().filter(|(st, _, _)| *st == stream).collect();
        store
            .append(PreparedBatch::new(
                a.id,
                s.id,
                NOW,
                events.iter().map(|e| e.1).collect(),
                events.iter().map(|e| Some(e.2.to_owned())).collect(),
            ))
            .await
            .unwrap();
    }
    let s = store.catalog().create_stream("/aws/lambda/checkout", B_STREAM, NOW).unwrap();
    store
        .append(PreparedBatch::new(
            b.id,
            s.id,
            NOW,
            B.iter().map(|e| e.0).collect(),
            B.iter().map(|e| Some(e.1.to_owned())).collect(),
        ))
        .await
        .unwrap();
    if flush {
        assert!(store.flush().await.unwrap());
    }
    Fixture { _dir: dir, store, a, b }
}

struct Outcome {
    rows: Vec<String>,
    scanned: f64,
    matched: f64,
    bytes: f64,
}

async fn query(f: &Fixture, lambda: bool, text: &str) -> Outcome {
    let request = Request {
        account_id: ACCOUNT.into(),
        groups: vec![if lambda { f.b.clone() } else { f.a.clone() }],
        start_ms: START,
        end_ms: END,
        query: text.into(),
        max_rows: 10_000,
        now_ms: NOW,
    };
    let parsed = check(&f.store, &request).unwrap_or_else(|e| panic!("{text}: {e}"));
    let progress = Progress::default();
    let mut rows = Vec::new();
    run(&f.store, &request, &parsed, &progress, |batch| rows.extend(batch))
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"));
    let stats = progress.statistics();
    let rows = rows
        .into_iter()
        .map(|row| {
            let has_ptr = row.last().is_some_and(|(k, _)| &**k == "@ptr");
            let fields: Vec<String> =
                row.iter().filter(|(k, _)| &**k != "@ptr").map(|(k, v)| format!("{k}={v}")).collect();
            let mut line = fields.join(", ");
            if has_ptr {
                line.push_str(" +ptr");
            }
            line
        })
        .collect();
    Outcome { rows, scanned: stats.records_scanned, matched: stats.records_matched, bytes: stats.bytes_scanned }
}

/// (query, lambda data set?, expected rows; `+ptr` marks rows that end with `@ptr`).
const CASES: &[(&str, bool, &[&str])] = &[
    (
        "fields @timestamp, status, path | filter level = \"ERROR\" | sort @timestamp asc",
        false,
        &[
            "@timestamp=2024-05-01 12:00:20.000, status=500, path=/orders +ptr",
            "@timestamp=2024-05-01 12:04:45.000, status=503, path=/users +ptr",
        ],
    ),
    (
        "filter status >= 400 | stats count(*) as errors by path | sort path asc",
        false,
        &["path=/orders, errors=1", "path=/users, errors=2"],
    ),
    (
        "stats avg(latency) as avgLat, max(latency) as maxLat, min(latency) as minLat, sum(latency) as total, count(latency) as n",
        false,
        &["avgLat=462.5, maxLat=1300, minLat=15, total=2775, n=6"],
    ),
    (
        "stats count(*) as c by bin(5m) as t | sort t asc",
        false,
        &["t=2024-05-01 12:00:00.000, c=5", "t=2024-05-01 12:05:00.000, c=2"],
    ),
    (
        "parse @message \"*: cache * finished in * ms\" as kind, what, ms | filter ispresent(ms) | display kind, what, ms",
        false,
        &["kind=plain text, what=warmup, ms=42 +ptr"],
    ),
    (
        "parse @message /\"error\":\"(?<errMsg>[^\"]+)\"/ | filter ispresent(errMsg) | fields errMsg | sort @timestamp desc",
        false,
        &["errMsg=Upstream unavailable +ptr", "errMsg=Timeout after 900 ms +ptr"],
    ),
    ("filter path like \"/ord\" | stats count(*) as n", false, &["n=3"]),
    ("filter @message like /(?i)timeout/ | fields @timestamp", false, &["@timestamp=2024-05-01 12:00:20.000 +ptr"]),
    (
        "filter status in [404, 503] | fields status, user.id | sort status asc",
        false,
        &["status=404, user.id=u3 +ptr", "status=503, user.id=u2 +ptr"],
    ),
    ("filter isIpv4InSubnet(ip, \"10.0.0.0/16\") | stats count(*) as n", false, &["n=4"]),
    ("filter isValidIpV6(ip) | fields ip", false, &["ip=2001:db8::1 +ptr"]),
    (
        "filter ispresent(user.tier) | stats count_distinct(user.id) as users, count(*) as events by user.tier | sort user.tier asc",
        false,
        &["user.tier=free, users=2, events=3", "user.tier=gold, users=2, events=3"],
    ),
    (
        "filter ispresent(latency) | stats pct(latency, 50) as p50, pct(latency, 90) as p90",
        false,
        &["p50=120, p90=1300"],
    ),
    ("stats stddev(latency) as sd", false, &["sd=534.0763054096296"]),
    (
        "stats earliest(path) as firstPath, latest(path) as lastPath, sortsFirst(path) as minPath, sortsLast(path) as maxPath",
        false,
        &["firstPath=/users, lastPath=/orders, minPath=/orders, maxPath=/users"],
    ),
    (
        "fields concat(method, \" \", path) as req, strlen(path) as len, toupper(level) as lvl, substr(path, 1, 3) as p3 | filter status = 201",
        false,
        &["req=POST /orders, len=7, lvl=INFO, p3=ord +ptr"],
    ),
    (
        "fields replace(path, \"/\", \"_\") as p, trim(\"  x  \") as t, ltrim(\"xxabcxx\", \"x\") as l, rtrim(\"xxabcxx\", \"x\") as r | filter status = 404",
        false,
        &["p=_users, t=x, l=abcxx, r=xxabc +ptr"],
    ),
    (
        "fields floor(latency / 100) as h, ceil(latency / 100) as c2, abs(15 - latency) as d, latency % 7 as m, 2 ^ 3 as e, greatest(latency, 500) as g, least(latency, 500) as le | filter path = \"/users\" | sort @timestamp asc",
        false,
        &[
            "h=1, c2=2, d=105, m=1, e=8, g=500, le=120 +ptr",
            "h=0, c2=1, d=0, m=1, e=8, g=500, le=15 +ptr",
            "h=13, c2=13, d=1285, m=5, e=8, g=1300, le=500 +ptr",
        ],
    ),
    (
        "fields toMillis(@timestamp) as ms, datefloor(@timestamp, 1h) as hr, dateceil(@timestamp, 1m) as mc | filter status = 201",
        false,
        &["ms=1714565190000, hr=2024-05-01 12:00:00.000, mc=2024-05-01 12:07:00.000 +ptr"],
    ),
    (
        "filter status = 201 | fields jsonParse(@message) as js | unnest js.items into it | display it.sku, it.qty",
        false,
        &["it.sku=A1, it.qty=2 +ptr", "it.sku=B7, it.qty=1 +ptr"],
    ),
    (
        "fields @timestamp, user.id, path | sort @timestamp desc | dedup user.id",
        false,
        &[
            "@timestamp=2024-05-01 12:06:30.000, user.id=u4, path=/orders +ptr",
            "@timestamp=2024-05-01 12:05:00.000 +ptr",
            "@timestamp=2024-05-01 12:04:45.000, user.id=u2, path=/users +ptr",
            "@timestamp=2024-05-01 12:02:30.000, user.id=u3, path=/users +ptr",
            "@timestamp=2024-05-01 12:01:10.000, user.id=u1, path=/orders +ptr",
        ],
    ),
    (
        "filter @type = \"REPORT\" | stats avg(@duration) as avgDur, max(@maxMemoryUsed / 1000 / 1000) as maxMemMB, count(*) as invocations, count(@initDuration) as coldStarts",
        true,
        &["avgDur=99.125, maxMemMB=72, invocations=2, coldStarts=1"],
    ),
    (
        "fields @requestId, @billedDuration, @memorySize, @xrayTraceId | filter @type = \"REPORT\" and ispresent(@xrayTraceId)",
        true,
        &[
            "@requestId=11111111-aaaa-bbbb-cccc-000000000001, @billedDuration=151, @memorySize=128000000, @xrayTraceId=1-6632301f-0123456789abcdef01234567 +ptr",
        ],
    ),
    ("fields @logStream, @log | filter status = 404", false, &["@logStream=web-2, @log=123456789012:/app/api +ptr"]),
    ("filter level = \"INFO\" and latency > 100 or status = 404 | stats count(*) as n", false, &["n=3"]),
    (
        "filter not ispresent(status) | fields @message",
        false,
        &["@message=plain text: cache warmup finished in 42 ms +ptr"],
    ),
    (
        "fields coalesce(error, level) as why | filter status >= 400 | sort @timestamp asc",
        false,
        &["why=Timeout after 900 ms +ptr", "why=WARN +ptr", "why=Upstream unavailable +ptr"],
    ),
    (
        "stats count(*) as c by bin(1m) | stats max(c) as peak, avg(c) as avgPerMin",
        false,
        &["peak=2, avgPerMin=1.1666666666666667"],
    ),
    (
        "fields path, latency | filter ispresent(latency) | sort latency desc | limit 2",
        false,
        &["path=/users, latency=1300 +ptr", "path=/orders, latency=950 +ptr"],
    ),
    (
        "filter status = 404",
        false,
        &[
            "@timestamp=2024-05-01 12:02:30.000, @message={\"level\":\"WARN\",\"method\":\"GET\",\"path\":\"/users\",\"status\":404,\"latency\":15,\"user\":{\"id\":\"u3\",\"tier\":\"free\"},\"ip\":\"10.0.1.77\"} +ptr",
        ],
    ),
    ("stats count(*) as all, count(error) as withErr", false, &["all=7, withErr=2"]),
    ("stats sum(latency) / count(latency) as manualAvg", false, &["manualAvg=462.5"]),
    ("stats count(*) as c by path | filter c > 2", false, &["path=/orders, c=3", "path=/users, c=3"]),
    (
        "stats count(*) as c by level | sort c desc, level asc",
        false,
        &["level=INFO, c=3", "level=ERROR, c=2", "level=WARN, c=1", "c=1"],
    ),
    (
        "fields strcontains(@message, \"cache\") as hasCache, isempty(error) as noErr | filter status = 200 or not ispresent(status) | sort @timestamp asc",
        false,
        &["hasCache=0, noErr=1 +ptr", "hasCache=0, noErr=1 +ptr", "hasCache=1, noErr=1 +ptr"],
    ),
    (
        "fields isValidIpV4(ip) as v4 | filter path = \"/users\" | sort @timestamp asc",
        false,
        &["v4=1 +ptr", "v4=1 +ptr", "v4=0 +ptr"],
    ),
    ("fields path | fields status | filter status = 201", false, &["path=/orders, status=201 +ptr"]),
    ("fields path, status | display status | filter status = 201", false, &["status=201 +ptr"]),
    ("fields @message | filter @message not like /Exception|ERROR/ | stats count(*) as n", false, &["n=5"]),
    ("filter level = \"ERROR\" | stats count(*) as n by bin(1h)", false, &["bin(1h)=2024-05-01 12:00:00.000, n=2"]),
];

/// Beyond the spec's vectors: every other function and command once.
const MORE: &[(&str, bool, &[&str])] = &[
    (
        "filter status = 201 | fields sqrt(16) as s, log(1) as l, sqrt(-1) as bad, fromMillis(0) as epoch, now() > 1700000000 as later, isblank(\"  \") as b, isblank(path) as b2, tolower(\"AbC\") as lo",
        false,
        &["s=4, l=0, epoch=1970-01-01 00:00:00.000, later=1, b=1, b2=0, lo=abc +ptr"],
    ),
    (
        "filter isIpInSubnet(ip, \"2001:db8::/32\") or isIpv6InSubnet(ip, \"10.0.0.0/8\") | fields ip",
        false,
        &["ip=2001:db8::1 +ptr"],
    ),
    (
        "filter status = 201 | fields jsonParse(@message) as js | fields jsonStringify(js.items[1]) as second, js.user.tier as tier",
        false,
        &[
            "js={\"ip\":\"10.0.3.3\",\"items\":[{\"qty\":2,\"sku\":\"A1\"},{\"qty\":1,\"sku\":\"B7\"}],\"latency\":310,\"level\":\"INFO\",\"method\":\"POST\",\"path\":\"/orders\",\"status\":201,\"user\":{\"id\":\"u4\",\"tier\":\"gold\"}}, second={\"qty\":1,\"sku\":\"B7\"}, tier=gold +ptr",
        ],
    ),
    ("filter path =~ /^\\/us/ and ispresent(user.id) | stats count(*) as n", false, &["n=3"]),
    (
        "filterIndex level in [\"WARN\", \"ERROR\"] | unmask | stats count(*) as n by level | sort level",
        false,
        &["level=ERROR, n=2", "level=WARN, n=1"],
    ),
    ("filter level != \"INFO\" | fields level", false, &["level=ERROR +ptr", "level=WARN +ptr", "level=ERROR +ptr"]),
    ("filter status not in [200, 201] and latency not like /0/ | fields latency", false, &["latency=15 +ptr"]),
    ("sort status desc | limit 1 | fields status", false, &["status=503 +ptr"]),
    ("fields @ingestionTime | limit 1", false, &["@ingestionTime=2024-05-01 12:20:00.000 +ptr"]),
    (
        "stats count(*) as n by datefloor(@timestamp, 1w) as week, datefloor(@timestamp, 1mo) as month",
        false,
        &["week=2024-04-29 00:00:00.000, month=2024-05-01 00:00:00.000, n=7"],
    ),
    (
        "filter @message like \"cache\" | pattern @message",
        false,
        &["@pattern=plain text: cache warmup finished in <*> ms, @sampleCount=1, @ratio=1, @severityLabel=Unknown"],
    ),
    (
        "filter user.tier = \"gold\" | fields path | sort @timestamp asc | dedup user.tier, path | limit 5",
        false,
        &["path=/users +ptr", "path=/orders +ptr"],
    ),
    (
        "filter @type = \"REPORT\" | fields @duration * 2 as twice, @initDuration | sort @timestamp asc",
        true,
        &["twice=300.5, @initDuration=210.5 +ptr", "twice=96 +ptr"],
    ),
    ("SOURCE \"/app/api\" | stats count(*) as n", false, &["n=7"]),
    (
        "stats count(*) as n by bin(1m) | sort @timestamp desc | limit 1 | fields n",
        false,
        &["bin(1m)=2024-05-01 12:06:00.000, n=1"],
    ),
    ("stats count(*) as c by path | display c", false, &["c=3", "c=3", "c=1"]),
];

async fn all_cases(flush: bool) {
    let f = fixture(flush).await;
    let mut failures = Vec::new();
    for (i, (text, lambda, want)) in CASES.iter().chain(MORE).enumerate() {
        let got = query(&f, *lambda, text).await;
        if got.rows != *want {
            failures.push(format!("Q{}: {text}\n  want {want:?}\n  got  {:?}", i + 1, got.rows));
        }
    }
    assert!(failures.is_empty(), "flush={flush}\n{}", failures.join("\n"));
}

#[tokio::test]
async fn spec_queries_on_the_memtable() {
    all_cases(false).await;
}

#[tokio::test]
async fn spec_queries_on_parquet() {
    all_cases(true).await;
}

#[tokio::test]
async fn spec_statistics() {
    let f = fixture(true).await;
    for (text, lambda, scanned, matched, bytes) in [
        ("fields @timestamp, status, path | filter level = \"ERROR\" | sort @timestamp asc", false, 7.0, 2.0, 911.0),
        ("filter status >= 400 | stats count(*) as errors by path | sort path asc", false, 7.0, 3.0, 911.0),
        (
            "parse @message \"*: cache * finished in * ms\" as kind, what, ms | filter ispresent(ms) | display kind, what, ms",
            false,
            7.0,
            1.0,
            911.0,
        ),
        ("fields path, latency | filter ispresent(latency) | sort latency desc | limit 2", false, 7.0, 6.0, 911.0),
        (
            "filter @type = \"REPORT\" | stats avg(@duration) as avgDur, max(@maxMemoryUsed / 1000 / 1000) as maxMemMB, count(*) as invocations, count(@initDuration) as coldStarts",
            true,
            5.0,
            2.0,
            606.0,
        ),
    ] {
        let got = query(&f, lambda, text).await;
        // The term index may skip whole blocks; with 7 events there is one block, never skipped.
        assert_eq!((got.scanned, got.matched, got.bytes), (scanned, matched, bytes), "{text}");
    }
}

#[tokio::test]
async fn malformed_queries_are_refused_with_a_location() {
    let f = fixture(false).await;
    for text in [
        "fields @message | bogus x",
        "parse @message \"a * b *\" as one",
        "stats avg(latency) | stats max(x) | stats min(y)",
        "filter latency >",
        "fields @message | dedup path | sort path",
        "fields nosuchfn(x)",
        "fields count(*)",
        "filter x = ",
        "fields bin(5m) | filter bin(1m) > 0",
        "limit 0",
        "parse @message /(no named group)/",
        "parse @message /(?<x>unclosed/",
        "stats latency",
    ] {
        let request = Request {
            account_id: ACCOUNT.into(),
            groups: vec![f.a.clone()],
            start_ms: START,
            end_ms: END,
            query: text.into(),
            max_rows: 10_000,
            now_ms: NOW,
        };
        let error = check(&f.store, &request).expect_err(text);
        assert!(error.end_char >= error.start_char && error.end_char <= text.chars().count(), "{text}: {error:?}");
    }
}
