//! `mock-3scale --listen 127.0.0.1:3000 --state state.json [--latency-ms 2]`

use std::time::Duration;

use mock_backend::{MockBackend, State};

const USAGE: &str = "usage: mock-3scale [--listen ADDR] [--state FILE] [--latency-ms N]\n\
  --listen ADDR     address to bind (default 127.0.0.1:3000)\n\
  --state FILE      JSON state file (services, apps); default: empty state\n\
  --latency-ms N    delay added to every answer (default 0)";

struct Args {
    listen: String,
    state: Option<String>,
    latency_ms: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        listen: "127.0.0.1:3000".into(),
        state: None,
        latency_ms: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => args.listen = value("--listen")?,
            "--state" => args.state = Some(value("--state")?),
            "--latency-ms" => {
                args.latency_ms = value("--latency-ms")?
                    .parse()
                    .map_err(|e| format!("--latency-ms: {e}"))?
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let state = match &args.state {
        Some(path) => {
            let json = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            State::from_json(&json).map_err(|e| format!("{path}: {e}"))?
        }
        None => State::new(),
    };
    let (services, apps) = (state.services.len(), state.apps.len());
    let backend =
        MockBackend::start_on(&args.listen, state).map_err(|e| format!("{}: {e}", args.listen))?;
    backend.set_latency(Duration::from_millis(args.latency_ms));
    backend.set_logging(true);
    eprintln!(
        "mock-3scale listening on {} ({services} services, {apps} apps, latency {} ms)",
        backend.url(),
        args.latency_ms
    );
    loop {
        std::thread::park();
    }
}

fn main() {
    if let Err(e) = run() {
        if !e.is_empty() {
            eprintln!("mock-3scale: {e}");
        }
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
}
