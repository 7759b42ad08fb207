//! Compiles every `.proto` under the repository's `proto/` with protox (no
//! system `protoc`) and generates prost types and tonic services into OUT_DIR.

use std::path::{Path, PathBuf};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto").canonicalize()?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut files = Vec::new();
    collect_protos(&proto_root, &mut files)?;
    files.sort();
    // protox does not tell cargo what it read; without this a proto edit
    // would not rebuild the crate.
    println!("cargo:rerun-if-changed={}", proto_root.display());
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|f| f.strip_prefix(&proto_root).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    // Reflection needs every dependency (google/protobuf/*) and the comments,
    // so grpcurl can `describe` with documentation.
    let reflection_set = protox::Compiler::new([&proto_root])?
        .include_imports(true)
        .include_source_info(true)
        .open_files(&relative)?
        .file_descriptor_set();
    std::fs::write(
        out_dir.join("loopback_descriptor.bin"),
        reflection_set.encode_to_vec(),
    )?;

    // Well-known types map to prost-types; prost-build still needs them in
    // the set to resolve field types.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(reflection_set)?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
