//! Building `GET /transactions/authrep.xml` and `authorize.xml` (APIcast §7.1), and the
//! backend request they and the report share.

use super::protocol::{Endpoint, OPTIONS, OPTIONS_HEADER};
use crate::config::service::BackendAuth;
use crate::config::Service;
use crate::credentials::Credentials;
use crate::encoding::encode_component;
use crate::mapping::Usage;

/// A backend request, ready for the adapter to dispatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendCall {
    pub endpoint: Endpoint,
    /// The endpoint's method.
    pub method: &'static str,
    /// The endpoint's path and the query.
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    /// Request body (empty for GET).
    pub body: String,
}

impl BackendCall {
    /// A call to `endpoint` with this (encoded) query, headers and body.
    pub fn new(
        endpoint: Endpoint,
        query: &str,
        headers: Vec<(&'static str, String)>,
        body: String,
    ) -> BackendCall {
        BackendCall {
            endpoint,
            method: endpoint.method(),
            path: format!("{}?{query}", endpoint.path()),
            headers,
            body,
        }
    }

    /// `referrer`: the request's `Referer`, for the `3scale_referrer` policy.
    pub fn authrep(
        service: &Service,
        credentials: &Credentials,
        usage: &Usage,
        referrer: Option<&str>,
    ) -> BackendCall {
        let endpoint = Endpoint::authrep(service.oidc);
        authorizing(endpoint, service, credentials, usage, referrer)
    }

    /// `authorize.xml` (batching): the same parameters; the usage is predicted, not stored.
    /// With `referrer` too, unlike APIcast's batcher: the application's referrer filters
    /// hold in batching mode as well.
    pub fn authorize(
        service: &Service,
        credentials: &Credentials,
        usage: &Usage,
        referrer: Option<&str>,
    ) -> BackendCall {
        let endpoint = Endpoint::authorize(service.oidc);
        authorizing(endpoint, service, credentials, usage, referrer)
    }
}

fn authorizing(
    endpoint: Endpoint,
    service: &Service,
    credentials: &Credentials,
    usage: &Usage,
    referrer: Option<&str>,
) -> BackendCall {
    let mut query = authorize_query(service, credentials, usage);
    if let Some(referrer) = referrer {
        let mut extra = QueryBuilder(query);
        extra.push("referrer", referrer);
        query = extra.0;
    }
    let headers = vec![(OPTIONS_HEADER, OPTIONS.to_string())];
    BackendCall::new(endpoint, &query, headers, String::new())
}

/// `/transactions/authrep.xml?service_id=..&service_token=..&user_key=..&usage%5Bhits%5D=1`:
/// every name and value percent-encoded, so no credential can inject a parameter.
pub fn authrep_path(service: &Service, credentials: &Credentials, usage: &Usage) -> String {
    BackendCall::authrep(service, credentials, usage, None).path
}

/// The query of an authrep or authorize: service, credentials, usage.
fn authorize_query(service: &Service, credentials: &Credentials, usage: &Usage) -> String {
    let mut query = service_query(service);
    for (name, value) in credentials.params() {
        query.push(name, value);
    }
    for (metric, delta) in usage.iter() {
        query.push(&format!("usage[{metric}]"), &delta.to_string());
    }
    query.0
}

/// `service_id` and the service token or provider key: the start of every backend call.
pub(crate) fn service_query(service: &Service) -> QueryBuilder {
    identity_query(&service.id, service.backend_auth.as_ref())
}

/// [`service_query`] from the id and credential alone (a report may outlive its service).
pub(crate) fn identity_query(id: &str, backend_auth: Option<&BackendAuth>) -> QueryBuilder {
    let mut query = QueryBuilder::default();
    // APIcast's `tostring(service.id or 'default')`: without one, the backend must not pick
    // the provider key's default service (it knows no service `default`: auth failed).
    query.push("service_id", if id.is_empty() { "default" } else { id });
    if let Some(auth) = backend_auth {
        query.push(auth.param, &auth.value);
    }
    query
}

/// `name=value&...` with every name and value percent-encoded.
#[derive(Default)]
pub(crate) struct QueryBuilder(pub(crate) String);

impl QueryBuilder {
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(&encode_component(name));
        self.0.push('=');
        self.0.push_str(&encode_component(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn encodes_every_name_and_value() {
        let text = br#"{"backend":{"cluster":"b"},"services":[{"id":42,"backend_version":1,
            "backend_authentication_type":"service_token","backend_authentication_value":"token-value"}]}"#;
        let config = Config::parse(text).unwrap().config;
        let mut usage = Usage::default();
        usage.add("hits", 2);
        let path = authrep_path(
            &config.services[0],
            &Credentials::UserKey("a&b=c%d".into()),
            &usage,
        );
        assert_eq!(
            path,
            "/transactions/authrep.xml?service_id=42&service_token=token-value&user_key=a%26b%3Dc%25d&usage%5Bhits%5D=2"
        );
    }
}
