//! Links librouter_c (a shared library). ROUTER_C_LIB_DIR names the directory
//! that holds it; without it, pkg-config's router_c is asked, and failing that
//! the linker's default search path is used.
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ROUTER_C_LIB_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if let Some(dir) = env::var_os("ROUTER_C_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir.to_string_lossy());
    } else if let Ok(output) = Command::new("pkg-config")
        .args(["--libs-only-L", "router_c"])
        .output()
    {
        if output.status.success() {
            for flag in String::from_utf8_lossy(&output.stdout).split_whitespace() {
                if let Some(dir) = flag.strip_prefix("-L") {
                    println!("cargo:rustc-link-search=native={dir}");
                }
            }
        }
    }
    println!("cargo:rustc-link-lib=dylib=router_c");
}
