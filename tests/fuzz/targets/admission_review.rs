//! AFL++ entry for `tsbridge::fuzzing::admission_review` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::admission_review(data));
}
