//! `echo-upstream --listen 127.0.0.1:8000`: runs the echo upstream until killed.

use std::process::ExitCode;

const USAGE: &str = "usage: echo-upstream [--listen ADDR]   (default 127.0.0.1:8000)";

fn main() -> ExitCode {
    let mut listen = String::from("127.0.0.1:8000");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" | "-l" => match args.next() {
                Some(addr) => listen = addr,
                None => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            },
            s if s.starts_with("--listen=") => listen = s["--listen=".len()..].to_owned(),
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    match echo_upstream::EchoUpstream::start_on(listen.as_str()) {
        Ok(server) => {
            println!("echo-upstream listening on {}", server.addr());
            server.join();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("echo-upstream: cannot listen on {listen}: {e}");
            ExitCode::FAILURE
        }
    }
}
