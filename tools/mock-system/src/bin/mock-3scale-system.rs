//! `mock-3scale-system --listen 127.0.0.1:3001 --token TOKEN [--publish FILE] [--quiet]`

use mock_system::{MockSystem, Stored};

const USAGE: &str =
    "usage: mock-3scale-system [--listen ADDR] --token TOKEN [--publish FILE] [--quiet]\n\
  --listen ADDR     address to bind (default 127.0.0.1:3001)\n\
  --token TOKEN     the access token the API accepts (required)\n\
  --publish FILE    a JSON array of service contents, published to sandbox and production\n\
  --quiet           no line per request on stderr";

struct Args {
    listen: String,
    token: String,
    publish: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut listen = "127.0.0.1:3001".to_string();
    let (mut token, mut publish, mut quiet) = (None, None, false);
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--listen" => listen = value("--listen")?,
            "--token" => token = Some(value("--token")?),
            "--publish" => publish = Some(value("--publish")?),
            "--quiet" => quiet = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or("--token is required")?;
    Ok(Args {
        listen,
        token,
        publish,
        quiet,
    })
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let system = MockSystem::start_on(&args.listen, &args.token)
        .map_err(|e| format!("{}: {e}", args.listen))?;
    system.set_logging(!args.quiet);
    let mut services = 0;
    if let Some(path) = &args.publish {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let contents: Vec<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
        for content in contents {
            for env in [Stored::Sandbox, Stored::Production] {
                system
                    .publish(env, content.clone())
                    .map_err(|e| format!("{path}: {e}"))?;
            }
            services += 1;
        }
    }
    eprintln!(
        "mock-3scale-system listening on {} ({services} services published)",
        system.url()
    );
    loop {
        std::thread::park();
    }
}

fn main() {
    if let Err(e) = run() {
        if !e.is_empty() {
            eprintln!("mock-3scale-system: {e}");
        }
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
}
