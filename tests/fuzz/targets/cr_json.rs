//! AFL++ entry for `tsbridge::fuzzing::cr_json` (docs/fuzzing.md).
fn main() {
    afl::fuzz!(|data: &[u8]| tsbridge::fuzzing::cr_json(data));
}
