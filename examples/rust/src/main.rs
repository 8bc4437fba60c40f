//! Routes the prompts of a JSONL file with librouter's Rust binding.
//!
//! Usage: route DATASET.jsonl PROMPTS.jsonl [CONFIG_JSON]
//!
//! Fits a router on DATASET (routing data: prompts with each model's scores
//! and costs), then prints, for each line {"prompt": "..."} of PROMPTS, the
//! prompt and the model chosen for it. Building needs librouter_c
//! (ROUTER_C_LIB_DIR=<lib dir>, or router_c.pc on PKG_CONFIG_PATH).

use std::process::ExitCode;
use std::{env, fs};

use router::Router;

/// The string value of `"key"` in a one-line JSON object. Enough JSON for
/// this example, which has no dependencies: a real program would use serde.
fn string_field(line: &str, key: &str) -> Option<String> {
    let quoted = format!("\"{key}\"");
    let rest = line[line.find(&quoted)? + quoted.len()..].trim_start();
    let mut chars = rest
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?
        .chars();
    let mut value = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'r' => value.push('\r'),
                'b' => value.push('\u{8}'),
                'f' => value.push('\u{c}'),
                'u' => {
                    let hex: String = chars.by_ref().take(4).collect();
                    let unit = u32::from_str_radix(&hex, 16).ok()?;
                    value.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                }
                escaped => value.push(escaped), // \" \\ \/
            },
            c => value.push(c),
        }
    }
}

fn run(dataset: &str, prompts: &str, config: Option<&str>) -> Result<(), String> {
    let router = Router::from_dataset(dataset, config).map_err(|e| e.to_string())?;
    let text = fs::read_to_string(prompts).map_err(|e| format!("{prompts}: {e}"))?;
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let prompt = string_field(line, "prompt")
            .ok_or_else(|| format!("{prompts}:{}: no \"prompt\" string", number + 1))?;
        let decision = router.route_text(&prompt).map_err(|e| e.to_string())?;
        println!(
            "{prompt}\n  -> {} (quality {:.3}, cost ${:.6})",
            decision.model(),
            decision.quality(),
            decision.cost_usd()
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().collect();
    if args.len() != 3 && args.len() != 4 {
        eprintln!("usage: route DATASET.jsonl PROMPTS.jsonl [CONFIG_JSON]");
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2], args.get(3).map(String::as_str)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
