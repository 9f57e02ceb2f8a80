//! AFL++ entry for `tsbridge::fuzzing::wire` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::wire(data));
}
