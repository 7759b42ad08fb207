//! The standalone integrations server (`loopbackd` runs it with the others).

fn main() -> std::process::ExitCode {
    loopback_runtime::service::main::<loopback_integrations::Integrations>()
}
