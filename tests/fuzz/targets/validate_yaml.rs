//! AFL++ entry for `tsbridge::fuzzing::validate_yaml` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::validate_yaml(data));
}
