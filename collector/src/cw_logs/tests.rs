//! Unit tests of the PutLogEvents rules that need no store.

use super::put_log_events::{Classified, classify};

const NOW: i64 = 1_714_564_800_000;
const DAY: i64 = 86_400_000;

#[test]
fn spec_example_with_retention() {
    let ts = [NOW - 20 * DAY, NOW - 10 * DAY, NOW - 3_600_000, NOW + 3 * 3_600_000];
    assert_eq!(
        classify(&ts, NOW, Some(NOW - 7 * DAY)),
        Classified { accepted: 2..3, too_old_end: Some(1), expired_end: Some(2), too_new_start: Some(3) }
    );
}

#[test]
fn without_retention_and_all_valid() {
    let ts = [NOW - 20 * DAY, NOW, NOW + 2 * 3_600_000];
    assert_eq!(
        classify(&ts, NOW, None),
        Classified { accepted: 1..3, too_old_end: Some(1), expired_end: None, too_new_start: None }
    );
    assert_eq!(
        classify(&[NOW, NOW], NOW, Some(NOW - DAY)),
        Classified { accepted: 0..2, too_old_end: None, expired_end: None, too_new_start: None }
    );
    let all_new = classify(&[NOW + 3 * 3_600_000], NOW, None);
    assert_eq!(all_new.accepted, 0..0);
    assert_eq!(all_new.too_new_start, Some(0));
}
