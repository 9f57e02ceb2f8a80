//! Compiles `proto/` with protox (pure Rust, no `protoc`) and tonic-prost-build, and writes the
//! descriptor set that gRPC server reflection serves.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate! embeds them: a new migration must rebuild the crate.
    println!("cargo:rerun-if-changed=src/store/migrations");
    // Every file of the package, sorted so the generated code is deterministic.
    let mut files: Vec<String> = std::fs::read_dir("proto/tsbridge/v1")?
        .map(|entry| entry.map(|e| e.path().display().to_string()))
        .collect::<Result<_, _>>()?;
    files.sort();
    let mut compiler = protox::Compiler::new(["proto"])?;
    compiler
        .include_imports(true)
        .include_source_info(true)
        .open_files(files)?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // compile_fds does not write the descriptor set; reflection needs it.
    std::fs::write(
        out.join("tsbridge_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
