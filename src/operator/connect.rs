//! What went wrong when the API server could not be reached: the URL and the cause a person acts on (`connection refused`).

use std::error::Error as _;

/// The cause of a failed request in plain words, when the failure is the connection itself
/// (refused, timed out, reset, name not resolved, TLS); `None` for an answer from the API server.
pub fn connection_cause(e: &kube::Error) -> Option<String> {
    if matches!(e, kube::Error::Api(_)) {
        return None;
    }
    let mut source = e.source();
    let mut deepest = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let plain = match io.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
                std::io::ErrorKind::TimedOut => "connection timed out".to_string(),
                std::io::ErrorKind::ConnectionReset => "connection reset".to_string(),
                std::io::ErrorKind::HostUnreachable | std::io::ErrorKind::NetworkUnreachable => "host unreachable".to_string(),
                _ => io.to_string(),
            };
            return Some(plain);
        }
        deepest = Some(s.to_string());
        source = s.source();
    }
    let text = e.to_string();
    let connecting =
        matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_)) || text.contains("Connect") || text.contains("dns error");
    connecting.then(|| deepest.unwrap_or(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_from_the_server_is_not_a_connection_failure() {
        let status = kube::core::Status::failure("forbidden", "Forbidden").with_code(403);
        assert_eq!(connection_cause(&kube::Error::Api(Box::new(status))), None);
    }
}
