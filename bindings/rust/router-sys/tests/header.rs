//! Checks src/lib.rs against router_c.h: the same functions, each with the
//! same parameter and return types (C types mapped to Rust's), and the same
//! status values. The header is capi/router_c.h of this source tree, or the
//! file named by ROUTER_C_HEADER (e.g. an installed one).

use std::collections::BTreeMap;
use std::fs;

const DECLARATIONS: &str = include_str!("../src/lib.rs");

fn header_text() -> String {
    let path = std::env::var("ROUTER_C_HEADER").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../capi/router_c.h").to_string()
    });
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// The header without comments and preprocessor lines.
fn header_code(text: &str) -> String {
    let mut code = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("unterminated comment") + start + 2;
        rest = &rest[end..];
    }
    code.push_str(rest);
    code.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A C type ("const char**", "size_t") as its Rust spelling ("*mut *const c_char", "usize").
fn rust_type(c_type: &str) -> String {
    let stars = c_type.matches('*').count();
    let words = c_type.replace('*', " ");
    let words: Vec<&str> = words.split_whitespace().collect();
    let is_const = words.contains(&"const");
    let base = words.iter().find(|w| **w != "const").expect("a type");
    let mut rust = match *base {
        "char" => "c_char",
        "int32_t" => "i32",
        "int64_t" => "i64",
        "uint32_t" => "u32",
        "uint64_t" => "u64",
        "size_t" => "usize",
        "float" => "f32",
        "double" => "f64",
        other => other,
    }
    .to_string();
    // The header only writes `const T*` and `const T**`: const binds to T.
    for level in 0..stars {
        let pointer = if level == 0 && is_const {
            "*const "
        } else {
            "*mut "
        };
        rust = format!("{pointer}{rust}");
    }
    rust
}

/// name -> (parameter types, return type), from "ROUTER_API ret name(params);".
fn c_functions(code: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let mut functions = BTreeMap::new();
    for declaration in code.split("ROUTER_API").skip(1) {
        let declaration = &declaration[..declaration.find(';').expect("';'")];
        let open = declaration.find('(').expect("'('");
        let close = declaration.rfind(')').expect("')'");
        let head = declaration[..open].trim();
        let split = head
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap()
            + 1;
        let name = head[split..].to_string();
        let returns = match head[..split].trim() {
            "void" => String::new(),
            other => rust_type(other),
        };
        let params = declaration[open + 1..close].trim();
        let mut types = Vec::new();
        if params != "void" && !params.is_empty() {
            for param in params.split(',') {
                let param = param.trim();
                let split = param
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap()
                    + 1;
                types.push(rust_type(&param[..split]));
            }
        }
        functions.insert(name, (types, returns));
    }
    functions
}

/// The same map from the `extern "C"` block of src/lib.rs.
fn rust_functions(source: &str) -> BTreeMap<String, (Vec<String>, String)> {
    let block = &source[source.find("extern \"C\" {").expect("extern block")..];
    let mut functions = BTreeMap::new();
    for item in block.split(';') {
        let item = match item.find("pub fn ") {
            Some(at) => &item[at + "pub fn ".len()..],
            None => continue,
        };
        let item: String = item.split_whitespace().collect::<Vec<_>>().join(" ");
        let open = item.find('(').unwrap();
        let close = item.rfind(')').unwrap();
        let name = item[..open].trim().to_string();
        let types = item[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p[p.find(':').unwrap() + 1..].trim().to_string())
            .collect();
        let returns = item[close + 1..]
            .trim()
            .trim_start_matches("->")
            .trim()
            .to_string();
        functions.insert(name, (types, returns));
    }
    functions
}

#[test]
fn every_function_matches_the_header() {
    let header = c_functions(&header_code(&header_text()));
    let declared = rust_functions(DECLARATIONS);
    assert!(
        header.len() > 20,
        "found only {} functions in the header",
        header.len()
    );
    for (name, signature) in &header {
        match declared.get(name) {
            None => panic!("{name} is in router_c.h but not declared in router-sys"),
            Some(rust) => assert_eq!(
                rust, signature,
                "{name}: router-sys differs from router_c.h"
            ),
        }
    }
    for name in declared.keys() {
        assert!(
            header.contains_key(name),
            "{name} is declared in router-sys, not in router_c.h"
        );
    }
}

#[test]
fn status_values_match_the_header() {
    let text = header_text();
    let mut count = 0;
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 || words[0] != "#define" || !words[1].starts_with("ROUTER_") {
            continue;
        }
        let value: i64 = match words[2].parse() {
            Ok(value) => value,
            Err(_) => continue, // not a number: a macro of another kind
        };
        let rust = if words[1] == "ROUTER_ABI_VERSION" {
            format!("pub const ROUTER_ABI_VERSION: u32 = {value};")
        } else if words[1].starts_with("ROUTER_C_VERSION_") {
            continue;
        } else {
            count += 1;
            format!("pub const {}: router_status_t = {value};", words[1])
        };
        assert!(DECLARATIONS.contains(&rust), "router-sys lacks `{rust}`");
    }
    assert_eq!(count, 17, "status codes found in the header");
}

#[test]
fn the_linked_library_has_this_abi() {
    assert_eq!(
        unsafe { router_sys::router_abi_version() },
        router_sys::ROUTER_ABI_VERSION
    );
}
