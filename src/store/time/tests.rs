use super::parse_rfc3339_micros as parse;

#[test]
fn epoch_and_known_instants() {
    assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse("2000-03-01T00:00:00Z"), Some(951_868_800_000_000));
    assert_eq!(parse("2026-11-26T12:34:56Z"), Some(1_795_696_496_000_000));
    assert_eq!(parse("1969-12-31T23:59:59Z"), Some(-1_000_000));
}

#[test]
fn fractions_and_offsets_compare_as_instants() {
    let whole = parse("2026-01-01T00:00:00Z").expect("valid");
    let half = parse("2026-01-01T00:00:00.5Z").expect("valid");
    assert_eq!(half - whole, 500_000);
    assert_eq!(
        parse("2026-01-01T00:00:00.123456789Z"),
        Some(whole + 123_456)
    );
    assert_eq!(parse("2026-01-01T01:30:00+01:30"), Some(whole));
    assert_eq!(parse("2025-12-31T23:00:00-01:00"), Some(whole));
    assert_eq!(parse("2026-01-01t00:00:00z"), Some(whole));
    assert_eq!(parse("2026-01-01 00:00:00Z"), Some(whole));
}

#[test]
fn leap_day_and_leap_second() {
    assert!(parse("2024-02-29T00:00:00Z").is_some());
    assert!(parse("2000-02-29T00:00:00Z").is_some());
    let before = parse("2016-12-31T23:59:59.999999Z").expect("valid");
    assert_eq!(parse("2016-12-31T23:59:60Z"), Some(before));
}

#[test]
fn rejects_what_is_not_rfc3339() {
    for bad in [
        "",
        "yesterday",
        "2026-01-01",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+0100",
        "2026-01-01T00:00:00+24:00",
        "2026-01-01T00:00:00Zjunk",
        "2026-01-01X00:00:00Z",
        "+026-01-01T00:00:00Z",
    ] {
        assert_eq!(parse(bad), None, "{bad:?} should not parse");
    }
}
