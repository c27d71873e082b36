//! AWS Signature Version 4 verification: the `Authorization` header form and the query-string
//! (presigned) form, with the payload hash, the signed headers, the credential scope and a
//! clock-skew window. Pure: the caller hands over the request's parts and the current time.
//!
//! The canonical request follows the AWS documentation and botocore's signer for services
//! other than S3: the path as sent, encoded once more (`%` → `%25`); query parameters decoded
//! and re-encoded with only `A-Za-z0-9-_.~` left bare, sorted; the signed headers lower-cased
//! with values trimmed and inner runs of spaces collapsed.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's time may be from the server's (AWS: 15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// Longest lifetime of a presigned request (AWS: 7 days).
const MAX_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Characters encoded in canonical query strings: all but the unreserved ones.
const QUERY: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, with `/` kept (canonical paths).
const PATH: &AsciiSet = &QUERY.remove(b'/');

/// One access key: who signs with it, and the account whose data it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    /// The 12-digit account the key belongs to; every request it signs acts in that account.
    pub account_id: String,
}

/// The parts of a request the signature covers.
pub struct Request<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded as the client sent it).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header (lower-case name, value) pairs; a name may repeat.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Why a request is refused, in the terms of AWS's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No `Authorization` header and no signed query: `MissingAuthenticationTokenException`.
    Missing,
    /// An access key fluoro does not know: `UnrecognizedClientException`.
    UnknownKey,
    /// A signature that does not match, a malformed authorization, or a request outside the
    /// time window: `InvalidSignatureException`, with the detail.
    Invalid(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Failure::Missing => "Missing Authentication Token".into(),
            Failure::UnknownKey => "The security token included in the request is invalid.".into(),
            Failure::Invalid(detail) => detail.clone(),
        }
    }

    /// A metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Failure::Missing => "missing",
            Failure::UnknownKey => "unknown_key",
            Failure::Invalid(_) => "invalid_signature",
        }
    }

    /// As CloudWatch Logs (AWS JSON 1.1) answers it.
    pub fn to_aws(&self) -> crate::AwsError {
        let code = match self {
            Failure::Missing => crate::ErrorCode::MissingAuthenticationToken,
            Failure::UnknownKey => crate::ErrorCode::UnrecognizedClient,
            Failure::Invalid(_) => crate::ErrorCode::InvalidSignature,
        };
        crate::AwsError::new(code, self.message())
    }

    /// As X-Ray (rest-json) answers it.
    pub fn to_xray(&self) -> crate::xray::XrayError {
        crate::xray::XrayError::new(self.to_aws().code.as_str(), 403, self.message())
    }

    /// As CloudWatch answers it, in every protocol (the awsQuery codes).
    pub fn to_cloudwatch(&self) -> crate::cloudwatch::CwError {
        let code = match self {
            Failure::Missing => "MissingAuthenticationToken",
            Failure::UnknownKey => "InvalidClientTokenId",
            Failure::Invalid(_) => "SignatureDoesNotMatch",
        };
        crate::cloudwatch::CwError::new(code, None, 403, self.message())
    }
}

fn invalid(detail: impl Into<String>) -> Failure {
    Failure::Invalid(detail.into())
}

/// What the client claims: from the `Authorization` header or the `X-Amz-*` query parameters.
struct Claim {
    key_id: String,
    /// `date/region/service/aws4_request`.
    scope: String,
    signed_headers: Vec<String>,
    signature: String,
    /// `YYYYMMDD'T'HHMMSS'Z'`.
    amz_date: String,
    /// Presigned requests: their lifetime in seconds.
    expires: Option<i64>,
}

fn header<'a>(request: &'a Request<'_>, name: &str) -> Option<&'a str> {
    request.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (decode(key), decode(value))
        })
        .collect()
}

fn claim(request: &Request<'_>) -> Result<Claim, Failure> {
    if let Some(authorization) = header(request, "authorization") {
        let rest = authorization
            .strip_prefix(ALGORITHM)
            .ok_or_else(|| invalid(format!("Authorization header requires the {ALGORITHM} algorithm")))?;
        let mut credential = None;
        let mut signed = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
            match name {
                "Credential" => credential = Some(value),
                "SignedHeaders" => signed = Some(value),
                "Signature" => signature = Some(value),
                _ => {}
            }
        }
        let missing = |what: &str| invalid(format!("Authorization header requires '{what}' parameter."));
        let (credential, signed, signature) = (
            credential.ok_or_else(|| missing("Credential"))?,
            signed.ok_or_else(|| missing("SignedHeaders"))?,
            signature.ok_or_else(|| missing("Signature"))?,
        );
        let amz_date = header(request, "x-amz-date").ok_or_else(|| {
            invalid("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        })?;
        let (key_id, scope) = credential.split_once('/').ok_or_else(|| invalid("Credential should be scoped"))?;
        return Ok(Claim {
            key_id: key_id.to_owned(),
            scope: scope.to_owned(),
            signed_headers: signed.split(';').map(str::to_owned).collect(),
            signature: signature.to_owned(),
            amz_date: amz_date.to_owned(),
            expires: None,
        });
    }
    let pairs = query_pairs(request.query);
    let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(algorithm) = get("X-Amz-Algorithm") else { return Err(Failure::Missing) };
    if algorithm != ALGORITHM {
        return Err(invalid(format!("X-Amz-Algorithm must be {ALGORITHM}")));
    }
    let missing = |what: &str| invalid(format!("the signed query requires '{what}'"));
    let credential = get("X-Amz-Credential").ok_or_else(|| missing("X-Amz-Credential"))?;
    let (key_id, scope) = credential.split_once('/').ok_or_else(|| invalid("Credential should be scoped"))?;
    let expires = get("X-Amz-Expires")
        .ok_or_else(|| missing("X-Amz-Expires"))?
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=MAX_EXPIRES_SECS).contains(e))
        .ok_or_else(|| invalid(format!("X-Amz-Expires must be between 1 and {MAX_EXPIRES_SECS} seconds")))?;
    Ok(Claim {
        key_id: key_id.to_owned(),
        scope: scope.to_owned(),
        signed_headers: get("X-Amz-SignedHeaders")
            .ok_or_else(|| missing("X-Amz-SignedHeaders"))?
            .split(';')
            .map(str::to_owned)
            .collect(),
        signature: get("X-Amz-Signature").ok_or_else(|| missing("X-Amz-Signature"))?,
        amz_date: get("X-Amz-Date").ok_or_else(|| missing("X-Amz-Date"))?,
        expires: Some(expires),
    })
}

/// `YYYYMMDD'T'HHMMSS'Z'` as epoch seconds.
fn parse_amz_date(text: &str) -> Option<i64> {
    if text.len() != 16 {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ").ok().map(|t| t.and_utc().timestamp())
}

fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The canonical request's text.
fn canonical_request(request: &Request<'_>, claim: &Claim, payload_hash: &str) -> Result<String, Failure> {
    let path = if request.path.is_empty() { "/" } else { request.path };
    let path = utf8_percent_encode(path, PATH).to_string();
    let mut pairs: Vec<(String, String)> = query_pairs(request.query)
        .into_iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (utf8_percent_encode(&k, QUERY).to_string(), utf8_percent_encode(&v, QUERY).to_string()))
        .collect();
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in &claim.signed_headers {
        let values: Vec<String> = request
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(invalid(format!("the signed header '{name}' is not in the request")));
        }
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    Ok(format!(
        "{}\n{path}\n{}\n{headers}\n{}\n{payload_hash}",
        request.method,
        query.join("&"),
        claim.signed_headers.join(";")
    ))
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    key
}

/// The `Authorization` header that signs `request` (whose headers must include `host`,
/// `x-amz-date` = `amz_date` and the others in `signed_headers`): for benchmarks and tests.
pub fn authorization(
    request: &Request<'_>,
    key: &AccessKey,
    amz_date: &str,
    region: &str,
    service: &str,
    signed_headers: &[&str],
) -> String {
    let date = &amz_date[..amz_date.len().min(8)];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let claim = Claim {
        key_id: key.id.clone(),
        scope: scope.clone(),
        signed_headers: signed_headers.iter().map(|h| (*h).to_owned()).collect(),
        signature: String::new(),
        amz_date: amz_date.to_owned(),
        expires: None,
    };
    let canonical = canonical_request(request, &claim, &sha256_hex(request.body)).unwrap_or_default();
    let string_to_sign = format!("{ALGORITHM}\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let signature: String = hmac(&signing_key(&key.secret, date, region, service), string_to_sign.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        key.id,
        signed_headers.join(";")
    )
}

/// Checks `request`'s signature against the key `lookup` finds for its access key id, at
/// `now` (epoch seconds). Returns the key that signed it.
pub fn verify<'k>(
    request: &Request<'_>,
    lookup: impl Fn(&str) -> Option<&'k AccessKey>,
    now: i64,
) -> Result<&'k AccessKey, Failure> {
    let claim = claim(request)?;
    let key = lookup(&claim.key_id).ok_or(Failure::UnknownKey)?;
    let signed_at = parse_amz_date(&claim.amz_date)
        .ok_or_else(|| invalid(format!("X-Amz-Date '{}' is not of the form YYYYMMDD'T'HHMMSS'Z'", claim.amz_date)))?;
    match claim.expires {
        None if (now - signed_at).abs() > MAX_SKEW_SECS => {
            return Err(invalid(format!(
                "Signature expired: {} is outside the {} minute window around the server's time",
                claim.amz_date,
                MAX_SKEW_SECS / 60
            )));
        }
        Some(expires) if now > signed_at + expires || signed_at > now + MAX_SKEW_SECS => {
            return Err(invalid(format!("Signature expired: the request was signed at {}", claim.amz_date)));
        }
        _ => {}
    }
    let scope: Vec<&str> = claim.scope.split('/').collect();
    let [date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(invalid("Credential should be scoped with date/region/service/aws4_request"));
    };
    if !claim.amz_date.starts_with(date) {
        return Err(invalid("Credential should be scoped to the date of X-Amz-Date"));
    }
    if !claim.signed_headers.iter().any(|h| h == "host") {
        return Err(invalid("'Host' must be a signed header"));
    }
    // The payload hash signed: the header's, or the body's; a presigned request may also have
    // been signed with UNSIGNED-PAYLOAD (as S3-style signers do).
    let payload_hashes = match header(request, "x-amz-content-sha256") {
        Some("UNSIGNED-PAYLOAD") => vec!["UNSIGNED-PAYLOAD".to_owned()],
        Some(streaming) if streaming.starts_with("STREAMING-") => {
            return Err(invalid("streaming (chunked) payload signatures are for S3; send the body whole"));
        }
        Some(claimed) => {
            let actual = sha256_hex(request.body);
            if !claimed.eq_ignore_ascii_case(&actual) {
                return Err(invalid("The provided 'x-amz-content-sha256' header does not match what was computed."));
            }
            vec![actual]
        }
        None if claim.expires.is_some() => vec![sha256_hex(request.body), "UNSIGNED-PAYLOAD".to_owned()],
        None => vec![sha256_hex(request.body)],
    };
    let signing_key = signing_key(&key.secret, date, region, service);
    let provided = decode_hex(&claim.signature).ok_or_else(|| invalid("the signature is not hexadecimal"))?;
    for payload_hash in &payload_hashes {
        let canonical = canonical_request(request, &claim, payload_hash)?;
        let string_to_sign =
            format!("{ALGORITHM}\n{}\n{}\n{}", claim.amz_date, claim.scope, sha256_hex(canonical.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(&signing_key).expect("HMAC takes any key length");
        mac.update(string_to_sign.as_bytes());
        // Constant-time comparison.
        if mac.verify_slice(&provided).is_ok() {
            return Ok(key);
        }
    }
    Err(invalid(
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret \
         Access Key and signing method. Consult the service documentation for details.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AccessKey {
        AccessKey {
            id: "AKIDEXAMPLE".into(),
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            account_id: "000000000000".into(),
        }
    }

    /// The AWS documentation's example (IAM ListUsers, GET with a query, no body).
    fn example(signature: &str) -> Vec<(String, String)> {
        vec![
            (
                "authorization".into(),
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
                     SignedHeaders=content-type;host;x-amz-date, Signature={signature}"
                ),
            ),
            ("content-type".into(), "application/x-www-form-urlencoded; charset=utf-8".into()),
            ("host".into(), "iam.amazonaws.com".into()),
            ("x-amz-date".into(), "20150830T123600Z".into()),
        ]
    }

    const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn check(headers: &[(String, String)], now: i64) -> Result<(), Failure> {
        let request =
            Request { method: "GET", path: "/", query: "Action=ListUsers&Version=2010-05-08", headers, body: b"" };
        let k = key();
        verify(&request, |id| (id == k.id).then_some(&k), now).map(|_| ())
    }

    #[test]
    fn the_documented_example_verifies() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(now, 1_440_938_160);
        assert_eq!(check(&example(SIGNATURE), now), Ok(()));
        assert_eq!(check(&example(SIGNATURE), now + MAX_SKEW_SECS), Ok(()));
    }

    #[test]
    fn wrong_signatures_keys_and_times_are_refused() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        let wrong = SIGNATURE.replace('5', "6");
        assert!(matches!(check(&example(&wrong), now), Err(Failure::Invalid(m)) if m.contains("does not match")));
        let mut unknown = example(SIGNATURE);
        unknown[0].1 = unknown[0].1.replace("AKIDEXAMPLE", "AKIDOTHER");
        assert_eq!(check(&unknown, now), Err(Failure::UnknownKey));
        assert!(
            matches!(check(&example(SIGNATURE), now + MAX_SKEW_SECS + 1), Err(Failure::Invalid(m)) if m.contains("expired"))
        );
        assert!(
            matches!(check(&example(SIGNATURE), now - MAX_SKEW_SECS - 1), Err(Failure::Invalid(m)) if m.contains("expired"))
        );
        // A signed header changed in transit.
        let mut tampered = example(SIGNATURE);
        tampered[2].1 = "evil.example.com".into();
        assert!(matches!(check(&tampered, now), Err(Failure::Invalid(_))));
        assert_eq!(check(&example(SIGNATURE)[1..], now), Err(Failure::Missing));
        let mut garbled = example(SIGNATURE);
        garbled[0].1 = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE".into();
        assert!(matches!(check(&garbled, now), Err(Failure::Invalid(m)) if m.contains("SignedHeaders")));
    }

    #[test]
    fn what_authorization_signs_verifies_and_a_changed_body_does_not() {
        let k = key();
        let mut headers = vec![
            ("content-type".to_owned(), "application/x-amz-json-1.1".to_owned()),
            ("host".to_owned(), "127.0.0.1:4566".to_owned()),
            ("x-amz-date".to_owned(), "20261122T180000Z".to_owned()),
            ("x-amz-target".to_owned(), "Logs_20140328.PutLogEvents".to_owned()),
        ];
        let body = br#"{"logGroupName":"/a b","logEvents":[]}"#;
        let request = |headers: &'static [(String, String)], body: &'static [u8]| Request {
            method: "POST",
            path: "/a%20b/",
            query: "x=1&a=%2F",
            headers,
            body,
        };
        let signed = ["content-type", "host", "x-amz-date", "x-amz-target"];
        let auth = authorization(
            &request(Box::leak(headers.clone().into_boxed_slice()), body),
            &k,
            "20261122T180000Z",
            "us-east-1",
            "logs",
            &signed,
        );
        headers.push(("authorization".to_owned(), auth));
        let headers: &'static [(String, String)] = Box::leak(headers.into_boxed_slice());
        let now = parse_amz_date("20261122T180000Z").unwrap();
        let lookup = |id: &str| (id == k.id).then_some(&k);
        assert!(verify(&request(headers, body), lookup, now).is_ok());
        assert!(verify(&request(headers, b"{}"), lookup, now).is_err());
    }

    #[test]
    fn amz_dates_parse_or_not() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20261122T180000Z"), Some(1_795_370_400));
        for bad in ["", "2026-11-22T18:00:00Z", "20261322T180000Z", "20261122T180000", "2026112XT180000Z"] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
