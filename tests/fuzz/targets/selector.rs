//! AFL++ entry for `tsbridge::fuzzing::selector` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::selector(data));
}
