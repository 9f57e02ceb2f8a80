//! AFL++ entry for `tsbridge::fuzzing::fqn` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::fqn(data));
}
