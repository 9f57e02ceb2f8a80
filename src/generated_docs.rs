//! Test support: a section of a doc generated from code stays in step with it.

/// Asserts that the text of `doc` (a path from the repository root) between the markers
/// `begin` (a whole line) and `end` equals `generated`; with `TSBRIDGE_UPDATE_DOCS=1` rewrites
/// it instead. `test` names the test to run for the rewrite.
pub(crate) fn assert_in_step(doc: &str, begin: &str, end: &str, generated: &str, test: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{doc}: {e}"));
    let start = text.find(begin).expect("the begin marker") + begin.len();
    let stop = text.find(end).expect("the end marker");
    if std::env::var("TSBRIDGE_UPDATE_DOCS").as_deref() == Ok("1") {
        let updated = format!("{}{generated}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("writing {doc}: {e}"));
        return;
    }
    assert!(
        text[start..stop] == *generated,
        "{doc} is out of date with the code; run TSBRIDGE_UPDATE_DOCS=1 cargo test --lib {test}"
    );
}
