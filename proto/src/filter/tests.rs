//! The test vectors of spec/logs.md §5.6, plus parser edge cases.

use super::*;

const CLOUDTRAIL: &str = r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111"}"#;
const OBJECT_LIST: &str = r#"{"objectList":[{"name":"a","id":1},{"name":"b","id":2}]}"#;
const USER: &str =
    r#"{"user":{"id":1,"email":"John.Stiles@example.com"},"coordinates":[[0,1,2]],"actions":["GET","PUT","DELETE"]}"#;
const ACCESS: &str = r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

#[track_caller]
fn check(pattern: &str, message: &str, want: bool) {
    let parsed = FilterPattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    assert_eq!(parsed.matches(message), want, "pattern {pattern:?} on {message:?}");
}

#[track_caller]
fn check_values(pattern: &str, message: &str, want: &[(&str, &str)]) {
    let parsed = FilterPattern::parse(pattern).unwrap();
    let got = parsed.extract(message).unwrap_or_else(|| panic!("{pattern} should match {message}"));
    let want: Vec<(String, String)> = want.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    assert_eq!(got, want, "pattern {pattern:?}");
}

#[track_caller]
fn check_error(pattern: &str) {
    assert!(FilterPattern::parse(pattern).is_err(), "{pattern:?} should be refused");
}

#[test]
fn term_vectors() {
    check("ERROR", "[ERROR 400] BAD REQUEST", true); // 1
    check("ERROR", "error: disk full", false); // 2
    check("Exception", "Unhanded exception: InvalidQueryException", true); // 3
    check("ERROR ARGUMENTS", "[ERROR 419] MISSING ARGUMENTS", true); // 4
    check("ERROR ARGUMENTS", "[ERROR 400] BAD REQUEST", false); // 5
    check("?ERROR ?WARN", "WARN disk at 91%", true); // 6
    check("?ERROR ?WARN", "INFO all good", false); // 7
    check("ERROR -ARGUMENTS", "[ERROR 420] INVALID ARGUMENTS", false); // 8
    check("ERROR -ARGUMENTS", "[ERROR 401] UNAUTHORIZED REQUEST", true); // 9
    check("\"INTERNAL SERVER ERROR\"", "[ERROR 500] INTERNAL SERVER ERROR", true); // 10
    check("\"INTERNAL SERVER ERROR\"", "INTERNAL ERROR SERVER", false); // 11
    check("\"\"", "anything", true); // 12
    check("", "anything", true);
    check("\" \"", "anything", true);
}

#[test]
fn regex_vectors() {
    check("%AUTHORIZED%", "[ERROR 401] UNAUTHORIZED REQUEST", true); // 13
    check(r"%^\[ERROR 4[0-9]{2}\]%", "[ERROR 404] NOT FOUND", true); // 14
    check(r"%^\[ERROR 4[0-9]{2}\]%", "x [ERROR 404]", false); // 15
    check_error("%(ERROR)%"); // 16
    assert_eq!(FilterPattern::parse("%(ERROR)%").unwrap_err().to_string(), "Invalid character(s) in term '%(ERROR)%'");
    check(r"%\x28x\x29%", "a (x) b", true);
}

#[test]
fn json_vectors() {
    check(r#"{ $.eventType = "UpdateTrail" }"#, CLOUDTRAIL, true); // 17
    check("{ $.sourceIPAddress != 123.123.* }", CLOUDTRAIL, true); // 18
    check("{ $.sourceIPAddress != 123.123.* }", r#"{"eventType":"X"}"#, false); // 19
    check("{ $.latency > 1000 }", r#"{"latency":1300}"#, true); // 20
    check("{ $.latency > 1000 }", r#"{"latency":"1300"}"#, false); // 21
    check("{ $.latency > 1000 }", "latency=1300", false); // 22
    check(r#"{ $.arrayKey[0] = "value" }"#, r#"{"arrayKey":["value","another value"]}"#, true); // 23
    check("{ $.objectList[1].id = 2 }", OBJECT_LIST, true); // 24
    check("{ $.objectList = * }", OBJECT_LIST, false); // 25
    check("{ $.SomeObject IS NULL }", r#"{"SomeObject":null}"#, true); // 26
    check("{ $.SomeObject IS NULL }", "{}", false); // 27
    check("{ $.SomeOtherObject NOT EXISTS }", r#"{"SomeObject":null}"#, true); // 28
    check("{ $.ok IS TRUE }", r#"{"ok":true}"#, true); // 29
    check(
        r#"{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch" && $.actions[2] = "nonmatch" }"#,
        USER,
        true,
    ); // 30
    check(
        r#"{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch") && $.actions[2] = "nonmatch" }"#,
        USER,
        false,
    ); // 31
    check("{ $.eventType = %Update.*% }", r#"{"eventType":"UpdateTrail"}"#, true); // 32
}

#[test]
fn json_edge_cases() {
    check(r#"{ $.level = "ERROR" }"#, r#"  {"level":"ERROR","msg":"x"}  "#, true);
    check(r#"{ $.level = "ERR*" }"#, r#"{"level":"ERROR"}"#, true);
    check("{ $.n = 5 }", r#"{"n":"5"}"#, true);
    check("{ $.n = 5 }", r#"{"n":5.0}"#, true);
    check("{ $.n >= 5 && $.n <= 5 }", r#"{"n":5}"#, true);
    check("{ $.n != 5 }", r#"{"n":null}"#, false);
    check("{ $.ok is false }", r#"{"ok":false}"#, true);
    check(r#"{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }"#, CLOUDTRAIL, true);
    check_error("{ $.a IS NOT NULL }");
    check_error("{ $.a EXISTS }");
    check_error("{ $.a = 1 ");
    check_error("{ a = 1 }");
    check_error("{ $.a = 1 } trailing");
    check_error("{ ($.a = 1 }");
    check("{ $.a = 1 }", "[1,2]", false);
}

#[test]
fn delimited_vectors() {
    let v33 = "[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]";
    check(v33, ACCESS, true); // 33
    check_values(
        v33,
        ACCESS,
        &[
            ("$ip", "127.0.0.1"),
            ("$user", "Prod"),
            ("$username", "frank"),
            ("$timestamp", "10/Oct/2000:13:25:15 -0700"),
            ("$request", "GET /index.html HTTP/1.0"),
            ("$status_code", "404"),
            ("$bytes", "1534"),
        ],
    );
    let v34 = "[..., status_code = 404 || status_code = 410, bytes > 1000]";
    check_values(
        v34,
        ACCESS,
        &[
            ("$1", "127.0.0.1"),
            ("$2", "Prod"),
            ("$3", "frank"),
            ("$4", "10/Oct/2000:13:25:15 -0700"),
            ("$5", "GET /index.html HTTP/1.0"),
            ("$status_code", "404"),
            ("$bytes", "1534"),
        ],
    ); // 34
    check("[..., status_code, bytes > 2000]", ACCESS, false); // 35
    check_error("[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]"); // 36
    check_values(
        "[w1=ERROR, w2]",
        "ERROR disk full on /dev/sda1",
        &[("$w1", "ERROR"), ("$w2", "disk full on /dev/sda1")],
    ); // 37
    check("[w1=ERROR]", "ERROR disk full", false); // 38
    check("[w1!=ERROR && w1!=WARNING, w2]", "INFO started", true); // 39
    check("[w1!=ERROR && w1!=WARNING, w2]", "WARNING started", false);
    check("[a, b, c]", "x y", false); // 40
    check_values("[]", r#"a b "c d""#, &[("$1", "a"), ("$2", "b"), ("$3", "c d")]); // 41
    check("[ip, user, status = %4[0-9]{2}%, bytes]", "10.0.0.1 bob 404 17", true); // 42
    check("[ip, user, status = %4[0-9]{2}%, bytes]", "10.0.0.1 bob 200 17", false);
}

#[test]
fn delimited_edge_cases() {
    check("[a, ..., b = end]", "x y z end", true);
    check("[a, ..., b = end]", "x end", true);
    check("[a, ..., b = end]", "x", false);
    check("[..., x = 3, ...]", "1 2 3 4 5", true);
    check_values("[, b]", "one two", &[("$1", "one"), ("$b", "two")]);
    check("[a = 1e3]", "1000", true);
    check("[a = \"x,y\", b]", "x,y z", true);
}

#[test]
fn term_edge_cases() {
    check("-DEBUG", "INFO ok", true);
    check("-DEBUG", "DEBUG ok", false);
    check("?\"a b\" ?zzz", "xx a b", true);
    check("ERROR ?WARN", "ERROR only", true); // optional ignored with required
    check("\"say \\\"hi\\\"\"", "they say \"hi\" now", true);
    check("/api/v1", "GET /api/v1/cart 200", true);
    check_error("ERROR {");
    check_error("\"unterminated");
    assert_eq!(FilterPattern::parse("ERROR \"a b\"").unwrap().required_literals(), vec!["ERROR", "a b"]);
}

#[test]
fn regex_limit() {
    check_error("{ $.a = %a% || $.b = %b% || $.c = %c% }");
    assert!(FilterPattern::parse("{ $.a = %a% || $.b = %b% }").is_ok());
}

/// `lookup` through resolved references finds what `extract` copies, for patterns with and
/// without an ellipsis, with remainder absorption and unnamed slots.
fn lookup(p: &super::DelimitedPattern, line: &str, keys: &[&str]) -> Option<Vec<Option<String>>> {
    let refs: Vec<super::FieldRef> = keys.iter().map(|k| p.field_ref(k)).collect();
    let mut out = vec![None; keys.len()];
    p.lookup(&super::Tokens::new(line), &refs, &mut out).then(|| out.iter().map(|v| v.map(str::to_owned)).collect())
}

#[test]
fn delimited_lookup_borrows_the_same_values_extract_copies() {
    let line = r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;
    for (pattern, line) in [
        ("[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]", line),
        ("[ip, user, username, timestamp, request = *.html*, status_code = 4*, bytes]", &format!("{line} tail x ")),
        ("[ip, , username, timestamp, , status_code = 4*, ]", line),
        ("[..., status_code = 404 || status_code = 410, bytes > 1000]", line),
        ("[ip, ..., , bytes > 1000]", line),
        ("[]", line),
    ] {
        let FilterPattern::Delimited(p) = FilterPattern::parse(pattern).unwrap() else { panic!("{pattern}") };
        let extracted = p.extract(line).unwrap();
        let keys: Vec<&str> = extracted.iter().map(|(k, _)| k.as_str()).chain(["$nope", "$99", "$1", "$2"]).collect();
        let found = lookup(&p, line, &keys).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let want = extracted.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            assert_eq!(found[i], want, "{pattern}: {key}");
        }
    }
    let FilterPattern::Delimited(p) = FilterPattern::parse("[a, b = x]").unwrap() else { panic!() };
    assert_eq!(lookup(&p, line, &["$a"]), None);
}
